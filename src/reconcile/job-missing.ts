/**
 * Job missing (SPEC §3, design note 002), as a pure planner.
 *
 * A run that is not terminal (and not being cancelled — cancel deletes the Jobs on purpose) whose
 * status recorded a Job with jobObservedAt, and whose Job is gone (absent from the cache and
 * confirmed by a GET answering 404) for at least config.jobMissingGraceSeconds, is reported once
 * per Job: a Warning Event and the condition JobMissing=True with reason JobMissing
 * (WorkflowJobMissing for a Job recorded by a workflow step), and runguard_job_missing_total.
 *
 * - No alarm before the Job was first observed: a record without jobObservedAt is ignored.
 * - A workflow step that already finished had its result collected; its Job may go.
 * - "Once per Job": the condition message names every Job reported so far, so a resync, a
 *   restart or a new leader sees it was reported. While the grace period runs, the plan asks
 *   to come back when it ends.
 */
import type { Condition, KubeObject } from '../kube/objects.ts'
import { formatRfc3339 } from '../status/rfc3339.ts'
import { conditionOf, isBeingDeleted, isCancelRequested, isTerminalRun, qualified, type RecordedJob } from './refs.ts'
import { earliest, emptyPlan, type Plan, type PlanConfig } from './plan-types.ts'

export const CONDITION_JOB_MISSING = 'JobMissing'
export const REASON_JOB_MISSING = 'JobMissing'
export const REASON_WORKFLOW_JOB_MISSING = 'WorkflowJobMissing'
export const ACTION_JOB_MISSING = 'JobMissingCheck'

export interface MissingJob {
  job: RecordedJob
  /** Since when the Job is known to be gone (its delete event, or the first 404). */
  missingSinceMs: number
}

/** The token a report names a Job by; also what isJobReported looks for. */
function jobToken(job: RecordedJob): string {
  return `"${qualified(job.namespace, job.name)}"`
}

export function isJobReported(run: KubeObject, job: RecordedJob): boolean {
  const condition: Condition | undefined = conditionOf(run, CONDITION_JOB_MISSING)
  return condition?.status === 'True' && typeof condition.message === 'string' && condition.message.includes(jobToken(job))
}

/** Whether a recorded Job is one the job-missing check cares about at all. */
export function isWatchedRecord(job: RecordedJob): boolean {
  return job.observedAtMs !== undefined && !job.stepFinished
}

function reasonFor(job: RecordedJob): typeof REASON_JOB_MISSING | typeof REASON_WORKFLOW_JOB_MISSING {
  return job.source === 'step' ? REASON_WORKFLOW_JOB_MISSING : REASON_JOB_MISSING
}

function describe(job: RecordedJob): string {
  const observed = job.observedAtMs === undefined ? '' : ` (observed at ${formatRfc3339(new Date(job.observedAtMs))})`
  const step = job.step ? ` of workflow step ${job.step}` : ''
  return `Job ${jobToken(job)}${step}${observed} is gone before the run finished`
}

export interface JobMissingInput {
  run: KubeObject
  nowMs: number
  config: Pick<PlanConfig, 'jobMissingGraceSeconds'>
  /** Recorded Jobs confirmed gone. */
  missing: readonly MissingJob[]
}

export function planJobMissing(input: JobMissingInput): Plan {
  const { run, nowMs } = input
  if (isTerminalRun(run) || isCancelRequested(run) || isBeingDeleted(run)) return emptyPlan()
  const graceMs = input.config.jobMissingGraceSeconds * 1000
  const plan = emptyPlan()
  const report: RecordedJob[] = []
  for (const { job, missingSinceMs } of input.missing) {
    if (!isWatchedRecord(job) || isJobReported(run, job)) continue
    if (report.some((r) => r.namespace === job.namespace && r.name === job.name)) continue
    const elapsed = nowMs - missingSinceMs
    if (elapsed >= graceMs) report.push(job)
    else plan.requeueAfterMs = earliest(plan.requeueAfterMs, graceMs - elapsed)
  }
  if (report.length === 0) return plan

  const existing = conditionOf(run, CONDITION_JOB_MISSING)
  const earlier = existing?.status === 'True' && existing.message ? [existing.message] : []
  const last = report[report.length - 1]!
  plan.status = {
    conditions: [{ type: CONDITION_JOB_MISSING, status: 'True', reason: reasonFor(last), message: [...earlier, ...report.map(describe)].join('; ') }],
  }
  for (const job of report) {
    const reason = reasonFor(job)
    plan.effects.push(
      { type: 'event', eventType: 'Warning', reason, message: `${describe(job)}; its result may be lost (deleted early, e.g. by a TTL or by hand)`, action: ACTION_JOB_MISSING },
      { type: 'jobMissing', reason },
    )
  }
  return plan
}
