/**
 * The executor: the only code that turns a Plan into API calls, a status write, Events and
 * metric updates, in three steps the reconciler runs in order (see plan-types.ts for why):
 *
 * - runCalls(): calls run one after another (the API client bounds and adapts how many calls
 *   of all reconciles are in flight: src/kube/limited-rest.ts). A call that fails is reported
 *   (Warning Event with a stable reason, errors.ts) and the remaining calls still run; the
 *   failures are returned, for the pass to fail with PlanCallsFailed (the controller retries
 *   with backoff). 404s are not failures: deleting or patching what is gone is done. The Jobs a
 *   call removed for good are returned too. A TTL hold healed on a Job is counted here, once
 *   the patch succeeded.
 * - writeStatus(): through the status helper (buildStatusUpdate: observedGeneration, updatedAt,
 *   immutable startedAt/finishedAt), a PUT of the status subresource carrying the resourceVersion
 *   the plan was made from. Unchanged status → no write. 409 → 'conflict', 404 → 'gone'.
 * - runEffects(): Events and metrics, only once the status is written (or needed no write).
 */
import type { EventRecorder } from '../events/recorder.ts'
import { referenceTo } from '../events/recorder.ts'
import { statusOf } from '../kube/errors.ts'
import type { JsonObject, KubeObject } from '../kube/objects.ts'
import type { ResourceClient } from '../kube/resource-client.ts'
import { JOB_RESOURCE, WORKFLOW_RESOURCE } from '../kube/resources.ts'
import { ANNOTATION_HELD_JOB_TTL, runKindByName, type RunKind } from '../kube/run-kinds.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { buildStatusUpdate, sameStatus, type StatusChange } from '../status/contract.ts'
import { classifyError, errorMessage } from './errors.ts'
import type { Call, Effect } from './plan-types.ts'
import { apiVersionOf } from './refs.ts'

export type EventSink = Pick<EventRecorder, 'warning' | 'normal'>

export interface ExecutorDeps {
  api: ResourceClient
  recorder: EventSink | undefined
  metrics: Pick<Metrics, 'cancelPropagation' | 'jobMissing' | 'jobTtlHoldsHealed'>
  logger: Logger
}

export interface ExecuteTarget {
  kind: RunKind
  run: KubeObject
  /** The plan's clock reading; status timestamps use it. */
  nowMs: number
}

export interface CallFailure {
  call: Call
  err: unknown
}

/** Some calls of a plan failed (the rest of the plan ran): the pass fails, and the controller retries it. */
export class PlanCallsFailed extends Error {
  override name = 'PlanCallsFailed'
  readonly failures: CallFailure[]
  constructor(failures: CallFailure[]) {
    super(`${failures.length} call(s) failed: ${failures.map((f) => errorMessage(f.err)).join('; ')}`)
    this.failures = failures
  }
}

function describeCall(call: Call): string {
  switch (call.type) {
    case 'deleteJob':
      return `delete Job ${call.namespace}/${call.name}`
    case 'terminateWorkflow':
      return `terminate Workflow ${call.namespace}/${call.name}`
    case 'cancelChild':
      return `cancel ${call.kind} ${call.namespace}/${call.name}`
    case 'setJobTtl':
      return `set ttlSecondsAfterFinished=${call.ttlSeconds} on Job ${call.namespace}/${call.name}`
    case 'holdJobTtl':
      return `hold ttlSecondsAfterFinished=${call.heldTtl} of Job ${call.namespace}/${call.name} in ${ANNOTATION_HELD_JOB_TTL}`
    case 'deleteRun':
      return `delete ${call.kind} ${call.namespace}/${call.name}`
  }
}

/** The Event action of a call's failure. */
function actionOf(call: Call): string {
  switch (call.type) {
    case 'setJobTtl':
      return 'JobTtlRelease'
    case 'holdJobTtl':
      return 'JobTtlHold'
    case 'deleteRun':
      return 'Retention'
    default:
      return 'CancelPropagation'
  }
}

/** `gone`: the call removed its object for good (a Job deleted at once, or already absent). */
export type CallResult = 'done' | 'gone'

export async function performCall(api: ResourceClient, call: Call): Promise<CallResult> {
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
      await api.mergePatch(kind, call.namespace, call.name, { spec })
      return 'done'
    }
    case 'setJobTtl':
      await api.mergePatch(JOB_RESOURCE, call.namespace, call.name, { spec: { ttlSecondsAfterFinished: call.ttlSeconds } })
      return 'done'
    case 'holdJobTtl': {
      // The resourceVersion makes it conditional: a Job changed since the cache saw it answers 409.
      const metadata: JsonObject = { annotations: { [ANNOTATION_HELD_JOB_TTL]: call.heldTtl }, ...(call.resourceVersion ? { resourceVersion: call.resourceVersion } : {}) }
      const patched = await api.mergePatch(JOB_RESOURCE, call.namespace, call.name, { metadata, spec: { ttlSecondsAfterFinished: null } })
      return patched === undefined ? 'gone' : 'done'
    }
    case 'deleteRun': {
      const kind = runKindByName(call.kind)
      if (!kind) throw new Error(`unknown run kind ${call.kind}`)
      const result = await api.delete(kind, call.namespace, call.name, { propagationPolicy: 'Background', ...(call.uid ? { uid: call.uid } : {}) })
      return result === 'pending' ? 'done' : 'gone'
    }
  }
}

export interface CallsOutcome {
  failures: CallFailure[]
  /** Jobs the calls removed for good (deleted at once, or already absent), as `namespace/name`. */
  goneJobs: Set<string>
}

export async function runCalls(calls: readonly Call[], target: Pick<ExecuteTarget, 'kind' | 'run'>, deps: ExecutorDeps): Promise<CallsOutcome> {
  const outcome: CallsOutcome = { failures: [], goneJobs: new Set() }
  for (const call of calls) {
    try {
      const result = await performCall(deps.api, call)
      if (result === 'gone' && call.type === 'deleteJob') outcome.goneJobs.add(`${call.namespace}/${call.name}`)
      if (result === 'done' && call.type === 'holdJobTtl') {
        deps.metrics.jobTtlHoldsHealed.inc({ kind: call.runKind })
        deps.logger.info({ job: `${call.namespace}/${call.name}`, ttlSecondsAfterFinished: call.heldTtl }, 'Job created without the TTL hold (its webhook was not called): hold applied')
      }
      deps.logger.debug({ call: describeCall(call), result }, 'done')
    } catch (err) {
      outcome.failures.push({ call, err })
      reportFailure(deps, target.run, target.kind, describeCall(call), err, actionOf(call))
    }
  }
  return outcome
}

/**
 * `written` (or `unchanged`: nothing to write), `conflict` (409: the object changed since the plan
 * was made from it) or `gone` (404). Any other failure is reported and thrown.
 */
export type StatusWriteResult = 'written' | 'unchanged' | 'conflict' | 'gone'

export async function writeStatus(change: StatusChange | undefined, target: ExecuteTarget, deps: ExecutorDeps): Promise<StatusWriteResult> {
  if (!change) return 'unchanged'
  const next = buildStatusUpdate(target.run, change, new Date(target.nowMs))
  if (sameStatus(target.run.status, next)) return 'unchanged'
  try {
    await deps.api.replaceStatus(target.kind, { ...target.run, status: next })
    return 'written'
  } catch (err) {
    const code = statusOf(err)
    if (code === 409) return 'conflict'
    if (code === 404) return 'gone'
    reportFailure(deps, target.run, target.kind, `update status of ${target.kind.kind} ${target.run.metadata?.namespace}/${target.run.metadata?.name}`, err, 'StatusUpdate')
    throw err
  }
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

/** A Warning Event about a failed API call, with the stable reason of errors.ts. */
export function reportFailure(deps: Pick<ExecutorDeps, 'recorder' | 'logger'>, regarding: KubeObject, kind: RunKind, what: string, err: unknown, action: string): void {
  const { reason, transient, statusCode } = classifyError(err)
  // The controller logs the failed reconcile (with every message) once; this line is detail.
  deps.logger.debug({ statusCode, reason, object: `${regarding.metadata?.namespace}/${regarding.metadata?.name}`, message: errorMessage(err) }, `${what} failed`)
  deps.recorder?.warning(referenceTo(regarding, { apiVersion: apiVersionOf(kind), kind: kind.kind }), reason, `${what} failed: ${errorMessage(err)}`, { action, transient })
}
