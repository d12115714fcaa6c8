/**
 * What the reconciler remembers between passes, in memory only. Nothing here is needed for
 * correctness after a restart — the durable records are in the runs' status — it only sharpens
 * timing:
 * - when this process first saw a run's cancel (millisecond precision; the condition has seconds):
 *   the watch event that carried it (noteRunEvent), so runguard_cancel_propagation_seconds counts
 *   the run's wait in the work queue, not only the reconcile that finished it;
 * - when a Job was seen deleted (its watch event), so the Job-missing grace period starts then
 *   rather than at the next reconcile;
 * - which version of a run lost a status-write conflict, so the pass that follows reads the run
 *   from the API server instead of a cache that has not caught up yet.
 * Every map is bounded.
 */

import type { KubeObject } from '../kube/objects.ts'
import { cancelRequested, isTerminalPhase } from '../kube/run-kinds.ts'

const MAX_ENTRIES = 50_000

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next().value
    if (oldest !== undefined) map.delete(oldest)
  }
}

export class ReconcileMemory {
  readonly #cancelSeen = new Map<string, number>()
  readonly #jobGone = new Map<string, number>()
  /** uid → the resourceVersion whose status write lost a conflict. */
  readonly #stale = new Map<string, string>()

  /** When the cancel of run `uid` was first seen; records `nowMs` the first time. */
  cancelSeenAt(uid: string, nowMs: number): number {
    const seen = this.#cancelSeen.get(uid)
    if (seen !== undefined) return seen
    remember(this.#cancelSeen, uid, nowMs)
    return nowMs
  }

  /**
   * A watch event (or the first list) delivered `run` at `nowMs`: a cancel on a run that is not
   * terminal is noted as seen then, unless it was seen before.
   */
  noteRunEvent(run: KubeObject, nowMs: number): void {
    if (!cancelRequested(run.spec) || isTerminalPhase(run.status?.phase)) return
    const uid = run.metadata?.uid
    if (uid !== undefined && !this.#cancelSeen.has(uid)) remember(this.#cancelSeen, uid, nowMs)
  }

  forgetRun(uid: string): void {
    this.#cancelSeen.delete(uid)
    this.#stale.delete(uid)
  }

  /** A status write made from this version of the run lost a conflict: a newer version exists. */
  noteConflict(run: { metadata?: { uid?: string; resourceVersion?: string } }): void {
    const { uid, resourceVersion } = run.metadata ?? {}
    if (uid !== undefined && resourceVersion !== undefined) remember(this.#stale, uid, resourceVersion)
  }

  /** Whether this is the version that lost a conflict (the cache has not caught up); forgets it either way. */
  takeStale(run: { metadata?: { uid?: string; resourceVersion?: string } }): boolean {
    const { uid, resourceVersion } = run.metadata ?? {}
    if (uid === undefined) return false
    const stale = this.#stale.get(uid)
    this.#stale.delete(uid)
    return stale !== undefined && stale === resourceVersion
  }

  /** A Job `namespace/name` was deleted (watch event) or answered 404 at `atMs`; the earliest sighting wins. */
  noteJobGone(key: string, atMs: number): void {
    const known = this.#jobGone.get(key)
    if (known === undefined || atMs < known) remember(this.#jobGone, key, atMs)
  }

  /** The Job exists (again). */
  noteJobPresent(key: string): void {
    this.#jobGone.delete(key)
  }

  jobGoneSince(key: string): number | undefined {
    return this.#jobGone.get(key)
  }

  get size(): { cancels: number; jobs: number } {
    return { cancels: this.#cancelSeen.size, jobs: this.#jobGone.size }
  }
}
