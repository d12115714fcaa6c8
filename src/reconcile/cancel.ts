/**
 * Cancel propagation (SPEC §3, design note 004), as a pure planner.
 *
 * Cancel requested (spec.cancel true or spec.desiredState Cancelled) on a run that is not terminal:
 * - AgentRun / ToolRun: delete every Job of the run (propagationPolicy Background, so the garbage
 *   collector removes the pods) and merge-patch every unfinished Argo Workflow of the run with
 *   spec.shutdown: Terminate;
 * - OrchestrationRun: set spec.cancel: true on every direct child run. One level per reconcile:
 *   each child's own reconcile takes its cancel further down.
 * The first pass records when the cancel was first seen, durably, as the condition
 * Cancelled=Unknown (reason CancelRequested) whose lastTransitionTime survives a restart or a
 * change of leader. Once every child is finished or gone the run becomes phase Cancelled with
 * Cancelled=True reason CancelRequested; if that takes longer than cancelTimeoutMs, it becomes
 * Cancelled anyway with reason CancelTimedOut, a message listing what was still running and a
 * Warning Event. finishedAt comes from the status helper.
 *
 * Cancel on a run that already finished (Succeeded or Failed): condition Cancelled=False reason
 * AlreadyTerminal and nothing else — the phase is never touched (design note 004: a no-op).
 */
import type { KubeObject } from '../kube/objects.ts'
import type { RunKind, RunKindName } from '../kube/run-kinds.ts'
import {
  conditionOf,
  isBeingDeleted,
  isCancelRequested,
  isJobFinished,
  isTerminalRun,
  isWorkflowFinished,
  isWorkflowTerminating,
  nameOf,
  namespaceOf,
  phaseOf,
  qualified,
  timeMs,
} from './refs.ts'
import { emptyPlan, type Call, type Plan, type PlanConfig } from './plan-types.ts'

export const CONDITION_CANCELLED = 'Cancelled'
export const REASON_CANCEL_REQUESTED = 'CancelRequested'
export const REASON_CANCEL_TIMED_OUT = 'CancelTimedOut'
export const REASON_ALREADY_TERMINAL = 'AlreadyTerminal'
export const ACTION_CANCEL = 'CancelPropagation'

/** At most this many leftovers are named in a CancelTimedOut message; the rest are counted. */
const MAX_LISTED = 20

export interface ChildRun {
  kind: RunKindName
  obj: KubeObject
}

export interface CancelInput {
  kind: RunKind
  run: KubeObject
  nowMs: number
  config: Pick<PlanConfig, 'cancelTimeoutMs'>
  /** AgentRun / ToolRun: the run's Jobs (from the cache). */
  jobs: readonly KubeObject[]
  /** AgentRun / ToolRun: the run's Argo Workflows; empty when that API is not served. */
  workflows: readonly KubeObject[]
  /** OrchestrationRun: its direct child runs. */
  children: readonly ChildRun[]
  /**
   * When this process first saw the cancel (precise to the millisecond). The durable record is
   * the Cancelled=Unknown condition, whose lastTransitionTime has whole seconds only.
   */
  cancelSeenAtMs?: number
}

/**
 * When the cancel was first seen: this process's own reading (normally the watch event that
 * carried the cancel, so a run's wait in the work queue counts) when it is no later than the
 * condition's second — it saw the cancel before, or as, the condition was written; otherwise
 * (a restart, a new leader) the durable condition's time.
 */
export function cancelFirstSeenMs(run: KubeObject, nowMs: number, seenAtMs?: number): number {
  const condition = conditionOf(run, CONDITION_CANCELLED)
  const recorded = condition && condition.status === 'Unknown' && condition.reason === REASON_CANCEL_REQUESTED ? timeMs(condition.lastTransitionTime) : undefined
  if (recorded === undefined) return seenAtMs ?? nowMs
  if (seenAtMs !== undefined && seenAtMs < recorded + 1000) return seenAtMs
  return recorded
}

function listed(items: readonly string[]): string {
  if (items.length <= MAX_LISTED) return items.join(', ')
  return `${items.slice(0, MAX_LISTED).join(', ')} and ${items.length - MAX_LISTED} more`
}

function waitingMessage(kind: RunKind): string {
  return kind.kind === 'OrchestrationRun'
    ? 'cancel requested; cancelling child runs and waiting for them to stop'
    : 'cancel requested; deleting Jobs, terminating Workflows and waiting for them to stop'
}

/**
 * The calls that stop what still runs for the run, and what still runs: Jobs deleted
 * (`finishedJobs`: finished ones too, so nothing of the run is left behind), unfinished Workflows
 * terminated, child runs not yet cancelled cancelled.
 */
function stopCalls(input: CancelInput, options: { finishedJobs: boolean }): { calls: Call[]; running: string[] } {
  const calls: Call[] = []
  const running: string[] = []
  for (const job of input.jobs) {
    const name = nameOf(job)
    const namespace = namespaceOf(job)
    const finished = isJobFinished(job)
    if (!isBeingDeleted(job) && (options.finishedJobs || !finished)) calls.push({ type: 'deleteJob', namespace, name, ...(job.metadata?.uid ? { uid: job.metadata.uid } : {}) })
    if (!finished) running.push(`Job ${qualified(namespace, name)}`)
  }
  for (const workflow of input.workflows) {
    if (isWorkflowFinished(workflow)) continue
    const name = nameOf(workflow)
    const namespace = namespaceOf(workflow)
    if (!isWorkflowTerminating(workflow) && !isBeingDeleted(workflow)) calls.push({ type: 'terminateWorkflow', namespace, name })
    running.push(`Workflow ${qualified(namespace, name)}`)
  }
  for (const child of input.children) {
    if (isTerminalRun(child.obj)) continue
    const name = nameOf(child.obj)
    const namespace = namespaceOf(child.obj)
    if (!isCancelRequested(child.obj) && !isBeingDeleted(child.obj)) {
      const spec = child.obj.spec
      calls.push({ type: 'cancelChild', kind: child.kind, namespace, name, desiredState: spec !== undefined && spec.desiredState !== undefined })
    }
    running.push(`${child.kind} ${qualified(namespace, name)}`)
  }
  return { calls, running }
}

export function planCancel(input: CancelInput): Plan {
  const { run, kind, nowMs } = input
  if (!isCancelRequested(run) || isBeingDeleted(run)) return emptyPlan()
  const condition = conditionOf(run, CONDITION_CANCELLED)

  if (isTerminalRun(run)) {
    const phase = phaseOf(run)
    if (phase === 'Cancelled') {
      // Cancel stays level-triggered after the phase is written: a child still running now (one
      // the cache had not shown yet when the run was judged done — say its informer was still
      // relisting — one left by CancelTimedOut, or one created since) is still stopped. Finished
      // Jobs are left for their TTL: nothing runs in them.
      const { calls } = stopCalls(input, { finishedJobs: false })
      // Cancelled by us (condition already True) or by another controller: only make the condition say so.
      if (condition?.status === 'True') return { ...emptyPlan(), calls }
      return {
        ...emptyPlan(),
        calls,
        status: { conditions: [{ type: CONDITION_CANCELLED, status: 'True', reason: REASON_CANCEL_REQUESTED, message: 'the run is Cancelled' }] },
      }
    }
    if (condition?.status === 'False' && condition.reason === REASON_ALREADY_TERMINAL) return emptyPlan()
    return {
      ...emptyPlan(),
      status: {
        conditions: [
          {
            type: CONDITION_CANCELLED,
            status: 'False',
            reason: REASON_ALREADY_TERMINAL,
            message: `cancel requested after the run reached ${phase}; nothing to cancel`,
          },
        ],
      },
    }
  }

  const { calls, running } = stopCalls(input, { finishedJobs: true })

  const firstSeenMs = cancelFirstSeenMs(run, nowMs, input.cancelSeenAtMs)
  const elapsedMs = Math.max(0, nowMs - firstSeenMs)
  const plan: Plan = { calls, effects: [] }

  if (running.length === 0) {
    plan.status = {
      phase: 'Cancelled',
      conditions: [{ type: CONDITION_CANCELLED, status: 'True', reason: REASON_CANCEL_REQUESTED, message: 'cancelled: every Job, Workflow and child run has stopped' }],
    }
    plan.effects.push({ type: 'cancelPropagation', seconds: elapsedMs / 1000 })
    return plan
  }

  if (elapsedMs >= input.config.cancelTimeoutMs) {
    const message = `cancel timed out after ${input.config.cancelTimeoutMs} ms; still running: ${listed(running)}`
    plan.status = { phase: 'Cancelled', conditions: [{ type: CONDITION_CANCELLED, status: 'True', reason: REASON_CANCEL_TIMED_OUT, message }] }
    plan.effects.push(
      { type: 'event', eventType: 'Warning', reason: REASON_CANCEL_TIMED_OUT, message, action: ACTION_CANCEL },
      { type: 'cancelPropagation', seconds: elapsedMs / 1000 },
    )
    return plan
  }

  const recorded = condition?.status === 'Unknown' && condition.reason === REASON_CANCEL_REQUESTED
  if (!recorded) {
    plan.status = { conditions: [{ type: CONDITION_CANCELLED, status: 'Unknown', reason: REASON_CANCEL_REQUESTED, message: waitingMessage(kind) }] }
  }
  // Child events bring us back sooner; this is the deadline.
  plan.requeueAfterMs = input.config.cancelTimeoutMs - elapsedMs
  return plan
}
