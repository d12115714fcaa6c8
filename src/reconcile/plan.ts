/**
 * One reconcile pass over one run, planned: cancel propagation, Job-missing checks and Job TTL
 * release, merged into a single Plan (SPEC §3). Retention has its own per-namespace pass
 * (retention.ts). Pure: everything the planners need is in RunState.
 */
import type { KubeObject } from '../kube/objects.ts'
import type { RunKind } from '../kube/run-kinds.ts'
import { planCancel, type ChildRun } from './cancel.ts'
import { planJobMissing, type MissingJob } from './job-missing.ts'
import { planJobTtl, planJobTtlHold } from './job-ttl.ts'
import { emptyPlan, mergePlans, type Plan, type PlanConfig } from './plan-types.ts'
import { isBeingDeleted } from './refs.ts'

/**
 * Longest delay a plan asks for: a far deadline (retention defaults to 30 days) is planned again
 * every 6 h from fresh state rather than left to one timer for weeks.
 */
export const MAX_REQUEUE_MS = 6 * 3600 * 1000

export interface RunState {
  kind: RunKind
  run: KubeObject
  nowMs: number
  config: PlanConfig
  /** The run's Jobs from the cache (labelled for it, or named in its status). */
  jobs: readonly KubeObject[]
  /** The run's Argo Workflows (empty when the API is not served). */
  workflows: readonly KubeObject[]
  /** OrchestrationRun: direct child runs. */
  children: readonly ChildRun[]
  /** Recorded Jobs confirmed gone. */
  missingJobs: readonly MissingJob[]
  /** When this process first saw the cancel. */
  cancelSeenAtMs?: number
}

export function planRun(state: RunState): Plan {
  if (isBeingDeleted(state.run)) return emptyPlan()
  const plan = mergePlans(
    planCancel({
      kind: state.kind,
      run: state.run,
      nowMs: state.nowMs,
      config: state.config,
      jobs: state.jobs,
      workflows: state.workflows,
      children: state.children,
      ...(state.cancelSeenAtMs === undefined ? {} : { cancelSeenAtMs: state.cancelSeenAtMs }),
    }),
    planJobMissing({ run: state.run, nowMs: state.nowMs, config: state.config, missing: state.missingJobs }),
    planJobTtl({ run: state.run, jobs: state.jobs, config: state.config }),
    planJobTtlHold({ runKind: state.kind.kind, run: state.run, jobs: state.jobs }),
  )
  if (plan.requeueAfterMs !== undefined) plan.requeueAfterMs = clampDelay(plan.requeueAfterMs)
  return plan
}

/** A requeue delay within 1 ms … MAX_REQUEUE_MS (a deadline already passed means "soon"). */
export function clampDelay(ms: number): number {
  return Math.min(MAX_REQUEUE_MS, Math.max(1, Math.ceil(ms)))
}
