/**
 * What the reconciler remembers between passes, in memory only. Nothing here is needed for
 * correctness after a restart — the durable records are in the runs' status — it only sharpens
 * timing:
 * - when this process first saw a run's cancel (millisecond precision; the condition has seconds);
 * - when a Job was seen deleted (its watch event), so the Job-missing grace period starts then
 *   rather than at the next reconcile.
 * Both maps are bounded.
 */

const MAX_ENTRIES = 50_000

function remember(map: Map<string, number>, key: string, value: number): void {
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

  /** When the cancel of run `uid` was first seen; records `nowMs` the first time. */
  cancelSeenAt(uid: string, nowMs: number): number {
    const seen = this.#cancelSeen.get(uid)
    if (seen !== undefined) return seen
    remember(this.#cancelSeen, uid, nowMs)
    return nowMs
  }

  forgetRun(uid: string): void {
    this.#cancelSeen.delete(uid)
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
