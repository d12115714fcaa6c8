/**
 * The run reconciler (SPEC §3): `reconcile({kind, namespace, name})` reads the run and everything
 * around it from the informer caches, asks planRun() what to do, and has the executor carry it
 * out. Level-based: it never looks at what event brought it here. One pass:
 *
 *   gather → planRun → runCalls → (Jobs deleted at once: planRun again) → writeStatus → runEffects
 *
 * and the result tells the controller what next: done, requeueAfter (the plan's deadline),
 * conflict (the status write lost a race: the next pass reads the run from the API server), or
 * failed (some calls failed: backoff, but no later than the plan's deadline).
 *
 * The only API reads are the ones a cache cannot answer:
 * - a recorded Job absent from the cache is confirmed gone with a GET (404) before it can be
 *   reported missing — the cache holds only labelled Jobs, and may lag;
 * - a cancelling run's labelled Jobs, while the Job cache that selects its label is not current
 *   (one LIST: that cache's listing is authoritative for the Jobs carrying the label);
 * - an Argo Workflow named in status.runtimeRef but not labelled, while cancelling;
 * - the run itself, in the pass after its status write lost a conflict, while the cache still
 *   holds the version that lost.
 */
import type { Config } from '../config.ts'
import { conflict, done, failed, requeueAfter, TerminalError, type Reconciler, type ReconcileRequest } from '../controller/reconcile.ts'
import type { InformerHandlers } from '../controller/informer.ts'
import type { Lister } from '../controller/store.ts'
import type { KubeObject } from '../kube/objects.ts'
import { JOB_RESOURCE, WORKFLOW_RESOURCE } from '../kube/resources.ts'
import { LABEL_ORCHESTRATION_RUN, RUN_KINDS, runKindByName, type RunKind, type RunKindName } from '../kube/run-kinds.ts'
import type { ChildRun } from './cancel.ts'
import { PlanCallsFailed, runCalls, runEffects, writeStatus, type ExecutorDeps } from './executor.ts'
import { isJobReported, isWatchedRecord, type MissingJob } from './job-missing.ts'
import type { ReconcileMemory } from './memory.ts'
import { planRun, type RunState } from './plan.ts'
import type { PlanConfig } from './plan-types.ts'
import { isBeingDeleted, isCancelRequested, isTerminalRun, nameOf, namespaceOf, qualified, recordedJobs, recordedWorkflow } from './refs.ts'

/**
 * A run cache that can also tell of its watch events (the informers can; the unit tests' plain
 * listers need not).
 */
export type RunCache = Lister & { addHandlers?: (handlers: Pick<InformerHandlers, 'onAdd' | 'onUpdate'>) => unknown }

/**
 * A Job cache that can also tell whether it is current and list from the API server when it is
 * not (the informers can; the unit tests' plain listers are always current).
 */
export type JobCache = Lister & {
  /** The label selector the cache holds Jobs for: a run kind's child label selects that kind's own cache. */
  labelSelector?: string | undefined
  isCurrent?: () => boolean
  listLive?: (namespace: string, labelSelector: string) => Promise<KubeObject[]>
}

export interface RunCaches {
  runs: Record<RunKindName, RunCache>
  /** Every Job cache: the informers keep one per label of JOB_RUN_LABELS (a selector cannot OR two labels). */
  jobs: readonly JobCache[]
  /** Argo Workflow caches; undefined when that API is not served. */
  workflows?: readonly Lister[]
}

export type RunReconcilerConfig = PlanConfig & Pick<Config, 'namespaces'>

export interface RunReconcilerDeps extends ExecutorDeps {
  config: RunReconcilerConfig
  caches: RunCaches
  memory: ReconcileMemory
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number
}

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

/**
 * The Job caches to ask for a run's labelled Jobs: the one whose informer selects `kind`'s label
 * (by its own labelSelector, not by its place in the list). It holds every Job labelled for such a
 * run; another label's cache holds only the ones that carry both labels, so asking it too adds only
 * stale copies — or, listed live, one more LIST. Caches without such a selector (a test's single
 * cache) are all asked.
 */
function jobCachesFor(jobs: readonly JobCache[], kind: RunKind): readonly JobCache[] {
  const own = jobs.filter((cache) => cache.labelSelector === kind.childLabel)
  return own.length > 0 ? own : jobs
}

/**
 * The Jobs in `namespace` that `runSelector` selects, from `sources` — listed from the API server
 * instead of a cache that is not current when `live` (a cancel must not end on a cache that lost
 * events). What this returns is authoritative for every Job carrying the run's label.
 */
async function labelledJobs(sources: readonly JobCache[], namespace: string, runSelector: string, live: boolean): Promise<KubeObject[]> {
  const found: KubeObject[] = []
  for (const cache of sources) {
    if (live && cache.listLive && cache.isCurrent?.() === false) found.push(...(await cache.listLive(namespace, runSelector)))
    else found.push(...cache.list(namespace, runSelector))
  }
  return byKey(found)
}

/**
 * Jobs the run's status records that `labelled` cannot speak for: cached copies in another
 * namespace or without the run's label (recorded, but labelled otherwise). A recorded Job that does
 * carry the label and is not in `labelled` is gone, or no longer the run's, whatever a cache that
 * lags still remembers — taking that copy would resurrect it, or put a stale uid on its DELETE.
 */
function recordedOutside(run: KubeObject, kind: RunKind, labelled: readonly KubeObject[], caches: readonly JobCache[]): KubeObject[] {
  const listed = new Set(labelled.map((job) => qualified(namespaceOf(job), nameOf(job))))
  const coveredByList = (job: KubeObject): boolean => namespaceOf(job) === namespaceOf(run) && job.metadata?.labels?.[kind.childLabel] === nameOf(run)
  const found: KubeObject[] = []
  for (const record of recordedJobs(run)) {
    if (listed.has(qualified(record.namespace, record.name))) continue
    for (const cache of caches) {
      const job = cache.get(record.namespace, record.name)
      if (job && !coveredByList(job)) found.push(job)
    }
  }
  return byKey(found)
}

export function createRunReconciler(deps: RunReconcilerDeps): Reconciler {
  const clock = deps.clock ?? Date.now
  const { caches, config, memory, api } = deps
  for (const kind of ['AgentRun', 'ToolRun'] as const) deps.metrics.jobTtlHoldsHealed.inc({ kind }, 0)
  // Cancel propagation is timed from the watch event that carried the cancel, so the time a run
  // waits in the work queue counts (runguard_cancel_propagation_seconds). Noted from the first
  // list on, leader or not: a standby that takes over knows when the cancel was seen.
  for (const kind of RUN_KINDS) {
    caches.runs[kind.kind].addHandlers?.({
      onAdd: (run) => memory.noteRunEvent(run, clock()),
      onUpdate: (_old, run) => memory.noteRunEvent(run, clock()),
    })
  }

  /**
   * The run's Jobs, from the caches. While it is being cancelled and the Job cache that selects
   * its label is not current (a watch failed or expired and its relist has not come in), its
   * labelled Jobs come from the API server instead: the cancel is done when the run's Jobs are
   * gone, and a cache that lost events would call a Job created meanwhile gone and let the run
   * show Cancelled while it still runs. Each Job appears once, in the copy of the source that is
   * authoritative for it.
   */
  const jobsOf = async (kind: RunKind, run: KubeObject, cancelling: boolean): Promise<KubeObject[]> => {
    if (kind.kind === 'OrchestrationRun') return []
    const labelled = await labelledJobs(jobCachesFor(caches.jobs, kind), namespaceOf(run), selector(kind.childLabel, nameOf(run)), cancelling)
    return [...labelled, ...recordedOutside(run, kind, labelled, caches.jobs)]
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
    const uid = run.metadata?.uid ?? qualified(namespaceOf(run), nameOf(run))
    const cancelling = isCancelRequested(run) && !isTerminalRun(run)
    const jobs = await jobsOf(kind, run, cancelling)
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

  /** The run from the cache, or from the API server when the cache still holds a version that lost a conflict. */
  const current = async (kind: RunKind, request: ReconcileRequest): Promise<KubeObject | undefined> => {
    const cached = caches.runs[kind.kind].get(request.namespace, request.name)
    if (cached === undefined || !memory.takeStale(cached)) return cached
    deps.logger.debug({ kind: kind.kind, namespace: request.namespace, name: request.name }, 'the cache is behind a lost conflict; reading the run')
    return api.get(kind, request.namespace, request.name)
  }

  return async (request: ReconcileRequest) => {
    const kind = runKindByName(request.kind)
    if (!kind) throw new TerminalError(`no run kind ${request.kind}`)
    if (!inScope(config.namespaces, request.namespace)) return done()
    const run = await current(kind, request)
    if (run === undefined) return done()
    const nowMs = clock()
    const target = { kind, run, nowMs }
    const state = await gather(kind, run, nowMs)
    const planned = planRun(state)
    const calls = await runCalls(planned.calls, target, deps)
    // Jobs deleted at once (no finalizers) are gone now: plan the status with them gone, so a
    // cancel finishes in one pass and one status write instead of waiting for their watch events.
    // (The calls are not made again.)
    const plan = calls.goneJobs.size > 0 ? planRun({ ...state, jobs: state.jobs.filter((job) => !calls.goneJobs.has(qualified(namespaceOf(job), nameOf(job)))) }) : planned
    const written = await writeStatus(plan.status, target, deps)
    if (written === 'conflict') {
      memory.noteConflict(run)
      return conflict()
    }
    if (written === 'gone') return done()
    runEffects(deps, target, plan.effects)
    if (calls.failures.length > 0) return failed(new PlanCallsFailed(calls.failures), plan.requeueAfterMs)
    if (isTerminalRun(run) || plan.status?.phase === 'Cancelled') memory.forgetRun(run.metadata?.uid ?? '')
    return requeueAfter(plan.requeueAfterMs)
  }
}
