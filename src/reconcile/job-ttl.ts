/**
 * Job TTL release (SPEC §3 "Job TTL held until the result is collected", design note 002), as a
 * pure planner.
 *
 * The mutating webhook parks a Job's ttlSecondsAfterFinished in the annotation
 * runguard.proompteng.ai/ttl-seconds-after-finished, so the TTL-after-finished controller cannot
 * delete the Job before the run's controller has read its result. Once the owning run is terminal
 * and its status records the Job (status.runtimeRef or status.workflow.steps[].jobRef), the TTL is
 * put on the Job, first source that is set:
 *   1. the annotation,
 *   2. the run's spec.runtime.config.ttlSecondsAfterFinished,
 *   3. config.jobTtlSeconds (AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS, already clamped).
 * Values are clamped to 30 s … 7 d; ≤ 0 means no TTL (the Job is left alone). A source that is set
 * but not an integer is reported (InvalidSpec) and skipped.
 *
 * A Job that already carries a TTL and no held annotation was created without the webhook
 * (failurePolicy Ignore: it was down, or not registered yet). While its run is not terminal (and
 * not being cancelled: its Jobs are going away) the hold is healed — the TTL moved into the
 * annotation exactly as the webhook would have (planJobTtlHold, src/kube/job-ttl-hold.ts), counted
 * in runguard_job_ttl_holds_healed_total. Once the run is terminal such a Job is left as it is.
 */
import { clampJobTtl } from '../config.ts'
import { holdJobTtlInPlace } from '../kube/job-ttl-hold.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import { ANNOTATION_HELD_JOB_TTL, type RunKindName } from '../kube/run-kinds.ts'
import { isBeingDeleted, isCancelRequested, isTerminalRun, nameOf, namespaceOf, qualified, recordedJobs } from './refs.ts'
import { emptyPlan, type Plan, type PlanConfig } from './plan-types.ts'

export const ACTION_JOB_TTL = 'JobTtlRelease'

export interface TtlDecision {
  /** null = no TTL. */
  ttlSeconds: number | null
  source: 'annotation' | 'runtimeConfig' | 'config'
  /** Sources that were set but unusable, as messages. */
  problems: string[]
}

/** An integer from a number or a decimal string ("600", "-1"); undefined for anything else. */
function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) {
    const n = Number(value)
    return Number.isSafeInteger(n) ? n : undefined
  }
  return undefined
}

export function desiredJobTtl(job: KubeObject, run: KubeObject, config: Pick<PlanConfig, 'jobTtlSeconds'>): TtlDecision {
  const problems: string[] = []
  const annotation = job.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL]
  if (annotation !== undefined) {
    const n = integer(annotation)
    if (n !== undefined) return { ttlSeconds: clampJobTtl(n), source: 'annotation', problems }
    problems.push(`Job ${qualified(namespaceOf(job), nameOf(job))}: annotation ${ANNOTATION_HELD_JOB_TTL} "${annotation}" is not an integer; ignored`)
  }
  const runtime = isJsonObject(run.spec) ? run.spec.runtime : undefined
  const runtimeConfig = isJsonObject(runtime) ? runtime.config : undefined
  const fromSpec = isJsonObject(runtimeConfig) ? runtimeConfig.ttlSecondsAfterFinished : undefined
  if (fromSpec !== undefined && fromSpec !== null) {
    const n = integer(fromSpec)
    if (n !== undefined) return { ttlSeconds: clampJobTtl(n), source: 'runtimeConfig', problems }
    problems.push(`spec.runtime.config.ttlSecondsAfterFinished ${JSON.stringify(fromSpec)} is not an integer; ignored`)
  }
  return { ttlSeconds: config.jobTtlSeconds, source: 'config', problems }
}

export interface JobTtlInput {
  run: KubeObject
  /** Jobs of the run from the cache (labelled for it, or named in its status). */
  jobs: readonly KubeObject[]
  config: Pick<PlanConfig, 'jobTtlSeconds'>
}

export function planJobTtl(input: JobTtlInput): Plan {
  const { run } = input
  if (!isTerminalRun(run) || isBeingDeleted(run)) return emptyPlan()
  const recorded = recordedJobs(run)
  const plan = emptyPlan()
  for (const job of input.jobs) {
    const namespace = namespaceOf(job)
    const name = nameOf(job)
    const record = recorded.find((r) => r.namespace === namespace && r.name === name && (r.uid === undefined || r.uid === job.metadata?.uid))
    if (!record || isBeingDeleted(job)) continue
    const decision = desiredJobTtl(job, run, input.config)
    if (decision.ttlSeconds === null) continue
    const current = isJsonObject(job.spec) ? job.spec.ttlSecondsAfterFinished : undefined
    if (current === decision.ttlSeconds) continue
    const held = job.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL] !== undefined
    if (typeof current === 'number' && !held) continue
    plan.calls.push({ type: 'setJobTtl', namespace, name, ttlSeconds: decision.ttlSeconds })
    for (const message of decision.problems) {
      plan.effects.push({ type: 'event', eventType: 'Warning', reason: 'InvalidSpec', message, action: ACTION_JOB_TTL })
    }
  }
  return plan
}

export interface JobTtlHoldInput {
  runKind: RunKindName
  run: KubeObject
  /** Jobs of the run from the cache (labelled for it, or named in its status). */
  jobs: readonly KubeObject[]
}

/** Heal the hold on the run's Jobs created without it, while the run is not terminal. */
export function planJobTtlHold(input: JobTtlHoldInput): Plan {
  const { run } = input
  const plan = emptyPlan()
  if (isTerminalRun(run) || isCancelRequested(run) || isBeingDeleted(run)) return plan
  for (const job of input.jobs) {
    // Cheap checks first: only a Job with a TTL and no hold is copied.
    if (isBeingDeleted(job) || !isJsonObject(job.spec) || job.spec.ttlSecondsAfterFinished === undefined) continue
    if (job.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL] !== undefined) continue
    const held = structuredClone(job)
    if (!holdJobTtlInPlace(held)) continue
    const heldTtl = held.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL]
    if (heldTtl === undefined) continue
    const resourceVersion = job.metadata?.resourceVersion
    plan.calls.push({ type: 'holdJobTtl', runKind: input.runKind, namespace: namespaceOf(job), name: nameOf(job), heldTtl, ...(resourceVersion ? { resourceVersion } : {}) })
  }
  return plan
}
