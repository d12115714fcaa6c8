/**
 * What a planner returns: the reconciler's whole intent for one pass over one object, as data.
 * Planners are pure (state in → Plan out); the executor (executor.ts) is the only code that
 * turns a Plan into API calls, Events and metric updates.
 *
 * Order of execution: `calls` (other objects) → `status` (the run's own status, through the
 * status helper, optimistic concurrency) → `effects` (Events, metrics). Effects belong to the
 * status change: if the write loses a conflict, the pass is planned again on the fresh object
 * and the effects come from that plan, so an Event or a counter is never emitted twice for one
 * transition.
 */
import type { Config } from '../config.ts'
import type { RunKindName } from '../kube/run-kinds.ts'
import type { StatusChange } from '../status/contract.ts'

/** The settings the planners read. */
export type PlanConfig = Pick<Config, 'cancelTimeoutMs' | 'jobTtlSeconds' | 'jobMissingGraceSeconds'>

export type Call =
  /** Delete a run's Job; its pods follow through the garbage collector (propagationPolicy Background). */
  | { type: 'deleteJob'; namespace: string; name: string; uid?: string }
  /** Merge-patch an Argo Workflow with spec.shutdown: Terminate. */
  | { type: 'terminateWorkflow'; namespace: string; name: string }
  /** Merge-patch a child run with spec.cancel: true (and desiredState: Cancelled when it has one). */
  | { type: 'cancelChild'; kind: RunKindName; namespace: string; name: string; desiredState: boolean }
  /** Merge-patch a Job's spec.ttlSecondsAfterFinished. */
  | { type: 'setJobTtl'; namespace: string; name: string; ttlSeconds: number }
  /**
   * Put the TTL hold on a run's Job created without it (the Job webhook was not called): the
   * merge patch the webhook would have made, conditional on the Job's resourceVersion.
   */
  | { type: 'holdJobTtl'; runKind: RunKindName; namespace: string; name: string; resourceVersion?: string; heldTtl: string }
  /** Delete a run (retention), only if it is still the same object (uid precondition). */
  | { type: 'deleteRun'; kind: RunKindName; namespace: string; name: string; uid?: string }

export type Effect =
  | { type: 'event'; eventType: 'Warning' | 'Normal'; reason: string; message: string; action: string; transient?: boolean }
  /** runguard_cancel_propagation_seconds{kind} */
  | { type: 'cancelPropagation'; seconds: number }
  /** runguard_job_missing_total{kind,reason} */
  | { type: 'jobMissing'; reason: 'JobMissing' | 'WorkflowJobMissing' }

export interface Plan {
  calls: Call[]
  status?: StatusChange
  effects: Effect[]
  /** Come back after this long (a deadline: cancel timeout, grace period, retention). */
  requeueAfterMs?: number
}

export function emptyPlan(): Plan {
  return { calls: [], effects: [] }
}

/** The earlier of two optional delays. */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.min(a, b)
}

/** Several plans for the same object as one: calls and effects in order, status changes combined. */
export function mergePlans(...plans: Plan[]): Plan {
  const merged = emptyPlan()
  for (const plan of plans) {
    merged.calls.push(...plan.calls)
    merged.effects.push(...plan.effects)
    merged.requeueAfterMs = earliest(merged.requeueAfterMs, plan.requeueAfterMs)
    if (plan.status) {
      const into: StatusChange = merged.status ?? {}
      if (plan.status.phase !== undefined) into.phase = plan.status.phase
      if (plan.status.conditions) into.conditions = [...(into.conditions ?? []), ...plan.status.conditions]
      if (plan.status.fields) into.fields = { ...(into.fields ?? {}), ...plan.status.fields }
      merged.status = into
    }
  }
  return merged
}
