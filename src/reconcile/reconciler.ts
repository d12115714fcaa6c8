/**
 * The run reconciler (SPEC §3): `reconcile({kind, namespace, name})` reads the run and everything
 * around it from the informer caches, asks planRun() what to do, and hands the plan to the
 * executor. Level-based: it never looks at what event brought it here.
 *
 * The only API reads are the ones a cache cannot answer:
 * - a recorded Job absent from the cache is confirmed gone with a GET (404) before it can be
 *   reported missing — the cache holds only labelled Jobs, and may lag;
 * - an Argo Workflow named in status.runtimeRef but not labelled, while cancelling;
 * - after a status write loses a conflict, the run itself (then the pass is planned again).
 */
import type { Config } from '../config.ts'
import type { KubeObject } from '../kube/objects.ts'
import { RUN_KINDS, runKindByName, type RunKind, type RunKindName } from '../kube/run-kinds.ts'
import { TerminalError, type Reconciler, type ReconcileRequest } from '../reconciler/controller.ts'
import { JOB_RESOURCE, runResource, WORKFLOW_RESOURCE } from '../reconciler/informer.ts'
import type { ChildRun } from './cancel.ts'
import { executePlan, PlanCallsFailed, type ExecutorDeps } from './executor.ts'
import { isJobReported, isWatchedRecord, type MissingJob } from './job-missing.ts'
import type { ReconcileMemory } from './memory.ts'
import { planRun, type RunState } from './plan.ts'
import type { Plan, PlanConfig } from './plan-types.ts'
import { isBeingDeleted, isCancelRequested, isTerminalRun, nameOf, namespaceOf, qualified, recordedJobs, recordedWorkflow } from './refs.ts'
import { LABEL_ORCHESTRATION_RUN } from '../kube/run-kinds.ts'

/** What the reconciler needs from an informer (Informer satisfies it). */
export interface ObjectCache {
  get(namespace: string, name: string): KubeObject | undefined
  list(namespace?: string, labelSelector?: string): KubeObject[]
}

export interface RunCaches {
  runs: Record<RunKindName, ObjectCache>
  /** Job caches, one per label of JOB_RUN_LABELS. */
  jobs: readonly ObjectCache[]
  /** Argo Workflow caches; undefined when that API is not served. */
  workflows?: readonly ObjectCache[]
}

export type RunReconcilerConfig = PlanConfig & Pick<Config, 'namespaces'>

export interface RunReconcilerDeps extends ExecutorDeps {
  config: RunReconcilerConfig
  caches: RunCaches
  memory: ReconcileMemory
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number
  /**
   * Schedules a reconcile (Controller.enqueueAfter). Used when a pass fails but its plan has a
   * deadline: the error goes to the queue's backoff, and the deadline is kept as well.
   */
  requeue?: (request: ReconcileRequest, afterMs: number) => void
}

/** A status write that loses this many conflicts in a row is left to the queue's backoff. */
export const MAX_CONFLICT_RETRIES = 5

export function inScope(namespaces: readonly string[], namespace: string): boolean {
  return namespaces.length === 0 || namespaces.includes(namespace)
}

function selector(label: string, value: string): string {
  return `${label}=${value}`
}

function byKey(objects: Iterable<KubeObject>): KubeObject[] {
  const map = new Map<string, KubeObject>()
  for (const obj of objects) map.set(qualified(namespaceOf(obj), nameOf(obj)), obj)
  return [...map.values()]
}

export function createRunReconciler(deps: RunReconcilerDeps): Reconciler {
  const clock = deps.clock ?? Date.now
  const { caches, config, memory, api } = deps

  const jobsOf = (kind: RunKind, run: KubeObject): KubeObject[] => {
    if (kind.kind === 'OrchestrationRun') return []
    const found: KubeObject[] = []
    for (const cache of caches.jobs) found.push(...cache.list(namespaceOf(run), selector(kind.childLabel, nameOf(run))))
    for (const record of recordedJobs(run)) {
      for (const cache of caches.jobs) {
        const job = cache.get(record.namespace, record.name)
        if (job) found.push(job)
      }
    }
    return byKey(found)
  }

  const workflowsOf = async (kind: RunKind, run: KubeObject): Promise<KubeObject[]> => {
    if (kind.kind === 'OrchestrationRun' || !caches.workflows) return []
    const found: KubeObject[] = []
    for (const cache of caches.workflows) found.push(...cache.list(namespaceOf(run), selector(kind.childLabel, nameOf(run))))
    const recorded = recordedWorkflow(run)
    if (recorded) {
      const cached = caches.workflows.map((c) => c.get(recorded.namespace, recorded.name)).find((w) => w !== undefined)
      if (cached) found.push(cached)
      else if (isCancelRequested(run) && !isTerminalRun(run)) {
        // Not labelled for the run, so not in our caches: ask once per pass while cancelling.
        const live = await api.get(WORKFLOW_RESOURCE, recorded.namespace, recorded.name)
        if (live) found.push(live)
      }
    }
    return byKey(found)
  }

  const childrenOf = (kind: RunKind, run: KubeObject): ChildRun[] => {
    if (kind.kind !== 'OrchestrationRun') return []
    const children: ChildRun[] = []
    for (const childKind of RUN_KINDS) {
      for (const obj of caches.runs[childKind.kind].list(namespaceOf(run), selector(LABEL_ORCHESTRATION_RUN, nameOf(run)))) {
        if (childKind.kind === kind.kind && nameOf(obj) === nameOf(run)) continue
        children.push({ kind: childKind.kind, obj })
      }
    }
    return children
  }

  const missingJobsOf = async (run: KubeObject, jobs: readonly KubeObject[], nowMs: number): Promise<MissingJob[]> => {
    if (isTerminalRun(run) || isCancelRequested(run) || isBeingDeleted(run)) return []
    const graceMs = config.jobMissingGraceSeconds * 1000
    const missing: MissingJob[] = []
    for (const record of recordedJobs(run)) {
      if (!isWatchedRecord(record) || isJobReported(run, record)) continue
      const key = qualified(record.namespace, record.name)
      const matches = (job: KubeObject | undefined): boolean =>
        job !== undefined && namespaceOf(job) === record.namespace && nameOf(job) === record.name && (record.uid === undefined || job.metadata?.uid === record.uid)
      if (jobs.some(matches)) {
        memory.noteJobPresent(key)
        continue
      }
      let since = memory.jobGoneSince(key)
      if (since === undefined || nowMs - since >= graceMs) {
        // Confirm with the API server before starting (or ending) the grace period.
        const live = await api.get(JOB_RESOURCE, record.namespace, record.name)
        if (matches(live)) {
          memory.noteJobPresent(key)
          continue
        }
        memory.noteJobGone(key, nowMs)
        since = memory.jobGoneSince(key) ?? nowMs
      }
      missing.push({ job: record, missingSinceMs: since })
    }
    return missing
  }

  const gather = async (kind: RunKind, run: KubeObject, nowMs: number): Promise<RunState> => {
    const jobs = jobsOf(kind, run)
    const uid = run.metadata?.uid ?? qualified(namespaceOf(run), nameOf(run))
    const cancelling = isCancelRequested(run) && !isTerminalRun(run)
    if (!cancelling) memory.forgetRun(uid)
    return {
      kind,
      run,
      nowMs,
      config,
      jobs,
      workflows: await workflowsOf(kind, run),
      children: childrenOf(kind, run),
      missingJobs: await missingJobsOf(run, jobs, nowMs),
      ...(cancelling ? { cancelSeenAtMs: memory.cancelSeenAt(uid, nowMs) } : {}),
    }
  }

  return async (request: ReconcileRequest) => {
    const kind = runKindByName(request.kind)
    if (!kind) throw new TerminalError(`no run kind ${request.kind}`)
    if (!inScope(config.namespaces, request.namespace)) return {}
    let run = caches.runs[kind.kind].get(request.namespace, request.name)
    for (let attempt = 0; run !== undefined; attempt++) {
      const nowMs = clock()
      const state = await gather(kind, run, nowMs)
      let plan = planRun(state)
      // Jobs deleted at once (no finalizers) are gone now: plan the status with them gone, so a
      // cancel finishes in one pass and one status write instead of waiting for their watch events.
      const replan = (goneJobs: ReadonlySet<string>): Plan => {
        plan = planRun({ ...state, jobs: state.jobs.filter((job) => !goneJobs.has(qualified(namespaceOf(job), nameOf(job)))) })
        return plan
      }
      let outcome
      try {
        outcome = await executePlan(plan, { kind, run, nowMs }, deps, replan)
      } catch (err) {
        if (err instanceof PlanCallsFailed && err.requeueAfterMs !== undefined) deps.requeue?.(request, err.requeueAfterMs)
        throw err
      }
      if (outcome === 'gone') return {}
      if (outcome === 'done') {
        if (isTerminalRun(run) || plan.status?.phase === 'Cancelled') memory.forgetRun(run.metadata?.uid ?? '')
        return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs }
      }
      if (attempt + 1 >= MAX_CONFLICT_RETRIES) {
        throw new Error(`status of ${kind.kind} ${request.namespace}/${request.name}: ${MAX_CONFLICT_RETRIES} conflicts in a row; retrying with backoff`)
      }
      // Lost a conflict: plan again on the object as it is now.
      deps.logger.debug({ kind: kind.kind, namespace: request.namespace, name: request.name, attempt }, 'status conflict; re-reading')
      run = await api.get(runResource(kind), request.namespace, request.name)
    }
    return {}
  }
}
