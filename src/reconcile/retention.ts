/**
 * Retention of terminal AgentRuns (SPEC §3), as a pure planner: upstream's semantics
 * (agents-controller getAgentRunRetentionDecision / resolveAgentRunRetentionSeconds).
 *
 * How long a terminal AgentRun is kept, in seconds:
 *   - spec.ttlSecondsAfterFinished > 0                → that value;
 *   - spec.ttlSecondsAfterFinished 0                  → config.retentionZeroTtlMaxSeconds
 *                                                       (…_RETENTION_ZERO_TTL_MAX_SECONDS, default 0);
 *   - absent, negative or not a number                → config.agentRunRetentionSeconds
 *                                                       (…_AGENTRUN_RETENTION_SECONDS, default 30 d);
 *     (like upstream: a finite number or numeric string is accepted and floored, so 0.5 counts as 0;
 *     a negative or unparsable value falls back to the default — runguard also reports it);
 *   - a resolved value ≤ 0 keeps the run: it is never deleted.
 * Age counts from status.finishedAt, else status.updatedAt, else metadata.creationTimestamp; a run
 * with none of them is kept.
 *
 * Never deleted: runs that are not terminal (Succeeded, Failed, Cancelled); templates (annotation
 * agents.proompteng.ai/template "true", trimmed, in any case, or status.phase Template); runs annotated
 * agents.proompteng.ai/retain with 1, true, yes, y, on, keep or forever (trimmed, any case); runs
 * already being deleted.
 *
 * Runs are deleted in passes, one pass per namespace: all runs past their deadline, oldest
 * deadline first, at most config.retentionMaxDeletesPerNamespace per pass; a cap ≤ 0 disables
 * deletes entirely (the pass plans nothing and asks for no next pass). A pass that had to leave
 * some behind asks for the next pass after RETENTION_BACKLOG_DELAY_MS; otherwise it asks to run
 * again at the next deadline — never polling.
 */
import type { Config } from '../config.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import { ANNOTATION_RETAIN } from '../kube/run-kinds.ts'
import { isBeingDeleted, isTerminalRun, nameOf, phaseOf, timeMs } from './refs.ts'

export type RetentionConfig = Pick<Config, 'agentRunRetentionSeconds' | 'retentionZeroTtlMaxSeconds' | 'retentionMaxDeletesPerNamespace'>

/** Upstream's template marker (agent-run-template.ts); templates also carry status.phase Template. */
export const ANNOTATION_TEMPLATE = 'agents.proompteng.ai/template'
export const TEMPLATE_PHASE = 'Template'

/** Values of the retain annotation that keep a run (compared trimmed, in lower case). */
export const RETAIN_VALUES: readonly string[] = ['1', 'true', 'yes', 'y', 'on', 'keep', 'forever']

/** Delay between passes while a namespace has more expired runs than one pass may delete. */
export const RETENTION_BACKLOG_DELAY_MS = 5_000

export type KeepReason = 'template' | 'notTerminal' | 'beingDeleted' | 'retained' | 'noFinishTime' | 'noRetention'
export type RetentionSource = 'spec' | 'zeroTtl' | 'config'
export type TimeSource = 'finishedAt' | 'updatedAt' | 'creationTimestamp'

export type RetentionVerdict =
  | { keep: KeepReason; problem?: string }
  | { deadlineMs: number; retentionSeconds: number; source: RetentionSource; from: TimeSource; problem?: string }

function annotation(run: KubeObject, key: string): string | undefined {
  const value: unknown = run.metadata?.annotations?.[key]
  return typeof value === 'string' ? value : undefined
}

/**
 * A template, as upstream's index.ts recognises one: the annotation's value, trimmed, is "true" in
 * any case, or status.phase is Template (agent-run-template.ts itself wants exactly "true"; the
 * wider reading only ever keeps more).
 */
export function isTemplateRun(run: KubeObject): boolean {
  return annotation(run, ANNOTATION_TEMPLATE)?.trim().toLowerCase() === 'true' || phaseOf(run) === TEMPLATE_PHASE
}

export function isRetained(run: KubeObject): boolean {
  const value = annotation(run, ANNOTATION_RETAIN)
  return value !== undefined && RETAIN_VALUES.includes(value.trim().toLowerCase())
}

/** The instant age counts from: finishedAt, else updatedAt, else creationTimestamp. */
export function terminalTime(run: KubeObject): { ms: number; from: TimeSource } | undefined {
  const status = isJsonObject(run.status) ? run.status : {}
  const finished = timeMs(status.finishedAt)
  if (finished !== undefined) return { ms: finished, from: 'finishedAt' }
  const updated = timeMs(status.updatedAt)
  if (updated !== undefined) return { ms: updated, from: 'updatedAt' }
  const created = timeMs(run.metadata?.creationTimestamp)
  if (created !== undefined) return { ms: created, from: 'creationTimestamp' }
  return undefined
}

/** Upstream's reading of the spec value: a finite number, or a numeric string; anything else is absent. */
function specNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number.parseFloat(value)
    return Number.isFinite(parsed) ? parsed : undefined
  }
  return undefined
}

/** The retention, in seconds, a run's spec asks for (≤ 0 = keep), where it came from, and any problem. */
export function resolveRetentionSeconds(
  run: KubeObject,
  config: Pick<RetentionConfig, 'agentRunRetentionSeconds' | 'retentionZeroTtlMaxSeconds'>,
): { seconds: number; source: RetentionSource; problem?: string } {
  const raw: unknown = isJsonObject(run.spec) ? run.spec.ttlSecondsAfterFinished : undefined
  if (raw === undefined || raw === null) return { seconds: config.agentRunRetentionSeconds, source: 'config' }
  const value = specNumber(raw)
  if (value === undefined || value < 0) {
    return {
      seconds: config.agentRunRetentionSeconds,
      source: 'config',
      problem: `spec.ttlSecondsAfterFinished ${JSON.stringify(raw)} is not a non-negative number; using the default retention of ${config.agentRunRetentionSeconds} s`,
    }
  }
  const seconds = Math.floor(value)
  if (seconds > 0) return { seconds, source: 'spec' }
  return { seconds: config.retentionZeroTtlMaxSeconds, source: 'zeroTtl' }
}

export function retentionDeadline(run: KubeObject, config: Pick<RetentionConfig, 'agentRunRetentionSeconds' | 'retentionZeroTtlMaxSeconds'>): RetentionVerdict {
  if (isTemplateRun(run)) return { keep: 'template' }
  if (!isTerminalRun(run)) return { keep: 'notTerminal' }
  if (isBeingDeleted(run)) return { keep: 'beingDeleted' }
  if (isRetained(run)) return { keep: 'retained' }
  const resolved = resolveRetentionSeconds(run, config)
  const problem = resolved.problem !== undefined ? { problem: resolved.problem } : {}
  if (!(resolved.seconds > 0)) return { keep: 'noRetention', ...problem }
  const since = terminalTime(run)
  if (since === undefined) return { keep: 'noFinishTime', ...problem }
  return { deadlineMs: since.ms + resolved.seconds * 1000, retentionSeconds: resolved.seconds, source: resolved.source, from: since.from, ...problem }
}

export interface RetentionDelete {
  name: string
  uid?: string
  deadlineMs: number
}

export interface RetentionPass {
  deletes: RetentionDelete[]
  /** Runs whose spec value could not be used, with the message to report. */
  problems: Array<{ run: KubeObject; message: string }>
  /** Expired runs left for a later pass by the per-namespace cap. */
  deferred: number
  /** The cap is ≤ 0: retention deletes are switched off. */
  disabled: boolean
  requeueAfterMs?: number
}

/** One pass over the AgentRuns of one namespace. */
export function planRetentionPass(runs: readonly KubeObject[], config: RetentionConfig, nowMs: number): RetentionPass {
  const cap = config.retentionMaxDeletesPerNamespace
  if (!(cap > 0)) return { deletes: [], problems: [], deferred: 0, disabled: true }
  const due: Array<RetentionDelete> = []
  const problems: RetentionPass['problems'] = []
  let next: number | undefined
  for (const run of runs) {
    const verdict = retentionDeadline(run, config)
    if (verdict.problem !== undefined) problems.push({ run, message: verdict.problem })
    if ('keep' in verdict) continue
    if (verdict.deadlineMs <= nowMs) {
      const uid = run.metadata?.uid
      due.push({ name: nameOf(run), ...(uid ? { uid } : {}), deadlineMs: verdict.deadlineMs })
    } else {
      next = next === undefined ? verdict.deadlineMs : Math.min(next, verdict.deadlineMs)
    }
  }
  due.sort((a, b) => a.deadlineMs - b.deadlineMs || a.name.localeCompare(b.name))
  const deletes = due.slice(0, cap)
  const deferred = due.length - deletes.length
  const pass: RetentionPass = { deletes, problems, deferred, disabled: false }
  if (deferred > 0) pass.requeueAfterMs = RETENTION_BACKLOG_DELAY_MS
  else if (next !== undefined) pass.requeueAfterMs = next - nowMs
  return pass
}
