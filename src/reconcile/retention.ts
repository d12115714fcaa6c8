/**
 * Retention of terminal AgentRuns (SPEC §3), as a pure planner.
 *
 * A terminal AgentRun is deleted spec.ttlSecondsAfterFinished seconds after status.finishedAt,
 * else config.agentRunRetentionSeconds after it (JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS).
 * The annotation agents.proompteng.ai/retain: "true" keeps a run. A terminal run without
 * finishedAt (written before runguard was installed) counts from status.updatedAt, its last
 * status write, which is never earlier than when it finished.
 *
 * Runs are deleted in passes, one pass per namespace: all runs past their deadline, oldest
 * deadline first, at most config.retentionMaxDeletesPerNamespace per pass. A pass that had to
 * leave some behind asks for the next pass after RETENTION_BACKLOG_DELAY_MS; otherwise it asks to
 * run again at the next deadline — never polling.
 */
import type { Config } from '../config.ts'
import type { KubeObject } from '../kube/objects.ts'
import { ANNOTATION_RETAIN } from '../kube/run-kinds.ts'
import { isBeingDeleted, isTerminalRun, nameOf, timeMs } from './refs.ts'

export type RetentionConfig = Pick<Config, 'agentRunRetentionSeconds' | 'retentionMaxDeletesPerNamespace'>

/** Delay between passes while a namespace has more expired runs than one pass may delete. */
export const RETENTION_BACKLOG_DELAY_MS = 5_000

export type RetentionVerdict =
  | { keep: 'notTerminal' | 'retained' | 'beingDeleted' | 'noFinishTime' }
  | { deadlineMs: number; source: 'spec' | 'config'; problem?: string }

export function retentionDeadline(run: KubeObject, config: Pick<RetentionConfig, 'agentRunRetentionSeconds'>): RetentionVerdict {
  if (!isTerminalRun(run)) return { keep: 'notTerminal' }
  if (isBeingDeleted(run)) return { keep: 'beingDeleted' }
  if (run.metadata?.annotations?.[ANNOTATION_RETAIN] === 'true') return { keep: 'retained' }
  const finishedMs = timeMs(run.status?.finishedAt) ?? timeMs(run.status?.updatedAt)
  if (finishedMs === undefined) return { keep: 'noFinishTime' }
  const ttl = run.spec?.ttlSecondsAfterFinished
  if (ttl !== undefined && ttl !== null) {
    if (typeof ttl === 'number' && Number.isSafeInteger(ttl) && ttl >= 0) return { deadlineMs: finishedMs + ttl * 1000, source: 'spec' }
    return {
      deadlineMs: finishedMs + config.agentRunRetentionSeconds * 1000,
      source: 'config',
      problem: `spec.ttlSecondsAfterFinished ${JSON.stringify(ttl)} is not a non-negative integer; using the default retention of ${config.agentRunRetentionSeconds} s`,
    }
  }
  return { deadlineMs: finishedMs + config.agentRunRetentionSeconds * 1000, source: 'config' }
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
  requeueAfterMs?: number
}

/** One pass over the AgentRuns of one namespace. */
export function planRetentionPass(runs: readonly KubeObject[], config: RetentionConfig, nowMs: number): RetentionPass {
  const due: Array<RetentionDelete> = []
  const problems: RetentionPass['problems'] = []
  let next: number | undefined
  for (const run of runs) {
    const verdict = retentionDeadline(run, config)
    if ('keep' in verdict) continue
    if (verdict.problem) problems.push({ run, message: verdict.problem })
    if (verdict.deadlineMs <= nowMs) {
      const uid = run.metadata?.uid
      due.push({ name: nameOf(run), ...(uid ? { uid } : {}), deadlineMs: verdict.deadlineMs })
    } else {
      next = next === undefined ? verdict.deadlineMs : Math.min(next, verdict.deadlineMs)
    }
  }
  due.sort((a, b) => a.deadlineMs - b.deadlineMs || a.name.localeCompare(b.name))
  const cap = Math.max(1, config.retentionMaxDeletesPerNamespace)
  const deletes = due.slice(0, cap)
  const deferred = due.length - deletes.length
  const pass: RetentionPass = { deletes, problems, deferred }
  if (deferred > 0) pass.requeueAfterMs = RETENTION_BACKLOG_DELAY_MS
  else if (next !== undefined) pass.requeueAfterMs = next - nowMs
  return pass
}
