/**
 * The retention pass as a reconciler: one queue key per namespace
 * (`AgentRunRetention/<namespace>/pass`), planned by planRetentionPass() from the AgentRun cache
 * (the rules — spec TTL, zero-TTL maximum, default, templates, the retain annotation — are in
 * retention.ts). AgentRun watch events schedule the namespace's pass at the run's deadline (the
 * queue keeps the earliest), and each pass asks to come back at the next deadline, so nothing polls.
 *
 * The per-namespace cap holds per pass window (RETENTION_BACKLOG_DELAY_MS): other AgentRun events
 * may bring a pass back sooner, but within one window a namespace never loses more than
 * config.retentionMaxDeletesPerNamespace runs; a backlog drains one window at a time. A cap ≤ 0
 * switches deletes off: passes do nothing and schedule nothing (like retentionEnabled: false).
 */
import type { Config } from '../config.ts'
import { done, requeueAfter, type Reconciler, type ReconcileRequest } from '../controller/reconcile.ts'
import type { Lister } from '../controller/store.ts'
import { referenceTo } from '../events/recorder.ts'
import type { KubeObject } from '../kube/objects.ts'
import type { ResourceClient } from '../kube/resource-client.ts'
import { runKindByName } from '../kube/run-kinds.ts'
import type { Logger } from '../log.ts'
import { performCall, reportFailure, type EventSink } from './executor.ts'
import { clampDelay } from './plan.ts'
import { inScope } from './run-reconciler.ts'
import { apiVersionOf, nameOf } from './refs.ts'
import { planRetentionPass, RETENTION_BACKLOG_DELAY_MS, retentionDeadline, type RetentionConfig } from './retention.ts'

const RETENTION_KIND = 'AgentRunRetention'
const PASS_NAME = 'pass'
const MAX_WARNED = 10_000

export function retentionRequest(namespace: string): ReconcileRequest {
  return { kind: RETENTION_KIND, namespace, name: PASS_NAME }
}

/** Delay until the run's retention deadline (clamped), or undefined when it is kept or deletes are off. */
export function retentionDelay(run: KubeObject, config: RetentionConfig, nowMs: number): number | undefined {
  if (!(config.retentionMaxDeletesPerNamespace > 0)) return undefined
  const verdict = retentionDeadline(run, config)
  return 'keep' in verdict ? undefined : clampDelay(verdict.deadlineMs - nowMs)
}

export interface RetentionReconcilerDeps {
  config: RetentionConfig & Pick<Config, 'retentionEnabled' | 'namespaces'>
  /** The AgentRun cache. */
  cache: Lister
  api: ResourceClient
  recorder: EventSink | undefined
  logger: Logger
  clock?: () => number
}

export function createRetentionReconciler(deps: RetentionReconcilerDeps): Reconciler {
  const clock = deps.clock ?? Date.now
  const agentRun = runKindByName('AgentRun')!
  const warned = new Set<string>()
  const windows = new Map<string, { startMs: number; deleted: number }>()

  return async (request) => {
    if (!deps.config.retentionEnabled || !inScope(deps.config.namespaces, request.namespace)) return done()
    // A cap ≤ 0 disables retention deletes: nothing to plan, nothing to schedule.
    if (!(deps.config.retentionMaxDeletesPerNamespace > 0)) return done()
    const nowMs = clock()
    let window = windows.get(request.namespace)
    if (!window || nowMs - window.startMs >= RETENTION_BACKLOG_DELAY_MS) window = { startMs: nowMs, deleted: 0 }
    windows.set(request.namespace, window)
    const budget = deps.config.retentionMaxDeletesPerNamespace - window.deleted
    const windowEndsInMs = window.startMs + RETENTION_BACKLOG_DELAY_MS - nowMs
    const runs = deps.cache.list(request.namespace)
    // With this window's budget used up, plan with a cap of 1 only to learn whether anything is due.
    const pass = planRetentionPass(runs, { ...deps.config, retentionMaxDeletesPerNamespace: Math.max(1, budget) }, nowMs)
    if (budget <= 0) {
      // This window's deletes are used up: come back when it ends (or at the next deadline, if sooner).
      return requeueAfter(pass.deletes.length > 0 ? clampDelay(windowEndsInMs) : nextPass(pass.requeueAfterMs))
    }

    for (const { run, message } of pass.problems) {
      const key = `${run.metadata?.uid ?? nameOf(run)}\u0000${message}`
      if (warned.has(key)) continue
      if (warned.size >= MAX_WARNED) warned.clear()
      warned.add(key)
      deps.recorder?.warning(referenceTo(run, { apiVersion: apiVersionOf(agentRun), kind: agentRun.kind }), 'InvalidSpec', message, { action: 'Retention' })
    }

    let failed: unknown
    for (const item of pass.deletes) {
      try {
        await performCall(deps.api, { type: 'deleteRun', kind: 'AgentRun', namespace: request.namespace, name: item.name, ...(item.uid ? { uid: item.uid } : {}) })
        window.deleted++
        deps.logger.info({ namespace: request.namespace, name: item.name, overdueMs: nowMs - item.deadlineMs }, 'deleted AgentRun past its retention')
      } catch (err) {
        failed ??= err
        const run = deps.cache.get(request.namespace, item.name) ?? { metadata: { namespace: request.namespace, name: item.name } }
        reportFailure(deps, run, agentRun, `delete AgentRun ${request.namespace}/${item.name} (retention)`, err, 'Retention')
      }
    }
    if (pass.deferred > 0) deps.logger.info({ namespace: request.namespace, deferred: pass.deferred }, 'retention cap reached; the rest waits for the next pass')
    if (failed !== undefined) throw failed
    return requeueAfter(pass.deferred > 0 ? clampDelay(windowEndsInMs) : nextPass(pass.requeueAfterMs))
  }
}

/** The next deadline, clamped; undefined when nothing is due later. */
function nextPass(requeueAfterMs: number | undefined): number | undefined {
  return requeueAfterMs === undefined ? undefined : clampDelay(requeueAfterMs)
}
