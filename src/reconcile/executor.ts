/**
 * The executor: the only code that turns a Plan into API calls, a status write, Events and
 * metric updates (see plan-types.ts for the order and why).
 *
 * - Calls run one after another. A call that fails is reported (Warning Event with a stable
 *   reason, errors.ts) and the remaining calls still run; the pass then throws PlanCallsFailed so
 *   the controller retries with backoff — carrying the plan's own deadline, so a growing backoff
 *   never delays a CancelTimedOut. 404s are not failures: deleting or patching what is gone is done.
 * - The status write goes through the status helper (buildStatusUpdate: observedGeneration,
 *   updatedAt, immutable startedAt/finishedAt) and is a PUT of the status subresource carrying
 *   the resourceVersion the plan was made from. Unchanged status → no write. 409 → 'conflict':
 *   the caller re-reads the object and plans again (client-go's RetryOnConflict).
 * - Effects run only once the status is written (or when there was nothing to write).
 */
import type { EventRecorder } from '../events/recorder.ts'
import { referenceTo } from '../events/recorder.ts'
import type { JsonObject, KubeObject } from '../kube/objects.ts'
import { runKindByName, type RunKind } from '../kube/run-kinds.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { JOB_RESOURCE, runResource, WORKFLOW_RESOURCE } from '../reconciler/informer.ts'
import { buildStatusUpdate, sameStatus } from '../status/contract.ts'
import { statusCodeOf, type RunguardApi } from './api.ts'
import { classifyError, errorMessage } from './errors.ts'
import type { Call, Effect, Plan } from './plan-types.ts'
import { apiVersionOf } from './refs.ts'

export type EventSink = Pick<EventRecorder, 'warning' | 'normal'>

export interface ExecutorDeps {
  api: RunguardApi
  recorder: EventSink | undefined
  metrics: Pick<Metrics, 'cancelPropagation' | 'jobMissing'>
  logger: Logger
}

export interface ExecuteTarget {
  kind: RunKind
  run: KubeObject
  /** The plan's clock reading; status timestamps use it. */
  nowMs: number
}

export type ExecuteOutcome = 'done' | 'conflict' | 'gone'

/** Thrown when some calls of a plan failed (after the rest of the plan ran); the controller retries. */
export class PlanCallsFailed extends Error {
  override name = 'PlanCallsFailed'
  readonly failures: Array<{ call: Call; err: unknown }>
  /** The plan's own deadline (cancel timeout, grace period), which the retry backoff must not push back. */
  readonly requeueAfterMs: number | undefined
  constructor(failures: Array<{ call: Call; err: unknown }>, requeueAfterMs?: number) {
    super(`${failures.length} call(s) failed: ${failures.map((f) => errorMessage(f.err)).join('; ')}`)
    this.failures = failures
    this.requeueAfterMs = requeueAfterMs
  }
}

export function describeCall(call: Call): string {
  switch (call.type) {
    case 'deleteJob':
      return `delete Job ${call.namespace}/${call.name}`
    case 'terminateWorkflow':
      return `terminate Workflow ${call.namespace}/${call.name}`
    case 'cancelChild':
      return `cancel ${call.kind} ${call.namespace}/${call.name}`
    case 'setJobTtl':
      return `set ttlSecondsAfterFinished=${call.ttlSeconds} on Job ${call.namespace}/${call.name}`
    case 'deleteRun':
      return `delete ${call.kind} ${call.namespace}/${call.name}`
  }
}

/** `gone`: the call removed its object for good (a Job deleted at once, or already absent). */
export type CallResult = 'done' | 'gone'

export async function performCall(api: RunguardApi, call: Call): Promise<CallResult> {
  switch (call.type) {
    case 'deleteJob': {
      const result = await api.delete(JOB_RESOURCE, call.namespace, call.name, { propagationPolicy: 'Background', ...(call.uid ? { uid: call.uid } : {}) })
      return result === 'pending' ? 'done' : 'gone'
    }
    case 'terminateWorkflow':
      await api.mergePatch(WORKFLOW_RESOURCE, call.namespace, call.name, { spec: { shutdown: 'Terminate' } })
      return 'done'
    case 'cancelChild': {
      const kind = runKindByName(call.kind)
      if (!kind) throw new Error(`unknown run kind ${call.kind}`)
      // desiredState too when the child has one: CEL (and the webhook) reject cancel: true beside desiredState: Running.
      const spec: JsonObject = call.desiredState ? { cancel: true, desiredState: 'Cancelled' } : { cancel: true }
      await api.mergePatch(runResource(kind), call.namespace, call.name, { spec })
      return 'done'
    }
    case 'setJobTtl':
      await api.mergePatch(JOB_RESOURCE, call.namespace, call.name, { spec: { ttlSecondsAfterFinished: call.ttlSeconds } })
      return 'done'
    case 'deleteRun': {
      const kind = runKindByName(call.kind)
      if (!kind) throw new Error(`unknown run kind ${call.kind}`)
      const result = await api.delete(runResource(kind), call.namespace, call.name, { propagationPolicy: 'Background', ...(call.uid ? { uid: call.uid } : {}) })
      return result === 'pending' ? 'done' : 'gone'
    }
  }
}

/** A Warning Event about a failed API call, with the stable reason of errors.ts. */
export function reportFailure(deps: Pick<ExecutorDeps, 'recorder' | 'logger'>, regarding: KubeObject, kind: RunKind, what: string, err: unknown, action: string): void {
  const { reason, transient, statusCode } = classifyError(err)
  // The controller logs the failed reconcile (with every message) once; this line is detail.
  deps.logger.debug({ statusCode, reason, object: `${regarding.metadata?.namespace}/${regarding.metadata?.name}`, message: errorMessage(err) }, `${what} failed`)
  deps.recorder?.warning(referenceTo(regarding, { apiVersion: apiVersionOf(kind), kind: kind.kind }), reason, `${what} failed: ${errorMessage(err)}`, { action, transient })
}

export function runEffects(deps: ExecutorDeps, target: Pick<ExecuteTarget, 'kind' | 'run'>, effects: readonly Effect[]): void {
  const regarding = referenceTo(target.run, { apiVersion: apiVersionOf(target.kind), kind: target.kind.kind })
  for (const effect of effects) {
    switch (effect.type) {
      case 'event':
        if (effect.eventType === 'Warning') deps.recorder?.warning(regarding, effect.reason, effect.message, { action: effect.action, ...(effect.transient ? { transient: true } : {}) })
        else deps.recorder?.normal(regarding, effect.reason, effect.message, { action: effect.action })
        break
      case 'cancelPropagation':
        deps.metrics.cancelPropagation.observe({ kind: target.kind.kind }, effect.seconds)
        break
      case 'jobMissing':
        deps.metrics.jobMissing.inc({ kind: target.kind.kind, reason: effect.reason })
        break
    }
  }
}

/**
 * Called once the calls have run, with the Jobs they removed for good (`namespace/name`). It may
 * return the plan as it stands now — typically: the Jobs just deleted are gone, so the run can be
 * Cancelled in this very pass instead of after their watch events — whose status, effects and
 * requeue then replace the original plan's (its calls are not made again).
 */
export type Replan = (goneJobs: ReadonlySet<string>) => Plan | undefined

export async function executePlan(original: Plan, target: ExecuteTarget, deps: ExecutorDeps, replan?: Replan): Promise<ExecuteOutcome> {
  const failures: Array<{ call: Call; err: unknown }> = []
  const goneJobs = new Set<string>()
  for (const call of original.calls) {
    try {
      const result = await performCall(deps.api, call)
      if (result === 'gone' && call.type === 'deleteJob') goneJobs.add(`${call.namespace}/${call.name}`)
      deps.logger.debug({ call: describeCall(call), result }, 'done')
    } catch (err) {
      failures.push({ call, err })
      reportFailure(deps, target.run, target.kind, describeCall(call), err, call.type === 'setJobTtl' ? 'JobTtlRelease' : call.type === 'deleteRun' ? 'Retention' : 'CancelPropagation')
    }
  }

  const plan: Plan = (goneJobs.size > 0 ? replan?.(goneJobs) : undefined) ?? original
  if (plan.status) {
    const next = buildStatusUpdate(target.run, plan.status, new Date(target.nowMs))
    if (!sameStatus(target.run.status, next)) {
      try {
        await deps.api.replaceStatus(runResource(target.kind), { ...target.run, status: next })
      } catch (err) {
        const code = statusCodeOf(err)
        if (code === 409) return 'conflict'
        if (code === 404) return 'gone'
        reportFailure(deps, target.run, target.kind, `update status of ${target.kind.kind} ${target.run.metadata?.namespace}/${target.run.metadata?.name}`, err, 'StatusUpdate')
        throw err
      }
    }
  }

  runEffects(deps, target, plan.effects)
  if (failures.length > 0) throw new PlanCallsFailed(failures, plan.requeueAfterMs)
  return 'done'
}
