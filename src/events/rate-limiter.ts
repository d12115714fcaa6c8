/**
 * Bounded, clock-injectable state for the Event recorder (SPEC §4): an LRU map whose entries also
 * expire after a time without use, and a per-object token bucket built on it. Pure — no timers,
 * no I/O — so the tests drive time by hand.
 */

export type Clock = () => number

export const DEFAULT_MAX_KEYS = 10_000
/** Events live one hour in etcd by default (kube-apiserver `--event-ttl`); our memory of them no longer. */
export const DEFAULT_IDLE_TTL_MS = 60 * 60 * 1000

export interface LruTtlOptions {
  /** The most entries kept; the least recently used one is dropped to make room. */
  maxKeys?: number
  /** An entry not read or written for this long is gone. */
  idleTtlMs?: number
  clock?: Clock
}

interface Slot<V> {
  value: V
  lastUsed: number
}

/**
 * A Map in least-recently-used order (a JS Map iterates in insertion order; every use re-inserts).
 * Because the oldest entry is always first, expired entries are swept from the front in O(expired).
 */
export class LruTtlMap<V> {
  readonly maxKeys: number
  readonly idleTtlMs: number
  #clock: Clock
  #slots = new Map<string, Slot<V>>()

  constructor(options: LruTtlOptions = {}) {
    this.maxKeys = Math.max(1, Math.floor(options.maxKeys ?? DEFAULT_MAX_KEYS))
    this.idleTtlMs = Math.max(0, options.idleTtlMs ?? DEFAULT_IDLE_TTL_MS)
    this.#clock = options.clock ?? Date.now
  }

  get size(): number {
    return this.#slots.size
  }

  /** The value, refreshed as most recently used; undefined when absent or expired. */
  get(key: string): V | undefined {
    const now = this.#clock()
    const slot = this.#slots.get(key)
    if (!slot) return undefined
    this.#slots.delete(key)
    if (now - slot.lastUsed >= this.idleTtlMs) return undefined
    slot.lastUsed = now
    this.#slots.set(key, slot)
    return slot.value
  }

  has(key: string): boolean {
    const slot = this.#slots.get(key)
    return slot !== undefined && this.#clock() - slot.lastUsed < this.idleTtlMs
  }

  set(key: string, value: V): void {
    const now = this.#clock()
    this.#slots.delete(key)
    this.#slots.set(key, { value, lastUsed: now })
    this.sweep(now)
    while (this.#slots.size > this.maxKeys) {
      const oldest = this.#slots.keys().next()
      if (oldest.done) break
      this.#slots.delete(oldest.value)
    }
  }

  delete(key: string): boolean {
    return this.#slots.delete(key)
  }

  clear(): void {
    this.#slots.clear()
  }

  /** Drops expired entries (called by set; callable by owners that want memory back early). */
  sweep(now: number = this.#clock()): void {
    for (const [key, slot] of this.#slots) {
      if (now - slot.lastUsed < this.idleTtlMs) break
      this.#slots.delete(key)
    }
  }
}

export interface RateLimiterOptions extends LruTtlOptions {
  /** Sustained rate per key, and the burst a fresh key may use at once. At least 1. */
  perMinute: number
}

interface Bucket {
  tokens: number
  updatedAt: number
}

/**
 * One token bucket per key (per object, for Events): a fresh key holds `perMinute` tokens, each
 * send takes one, and tokens come back at `perMinute` per minute. So the first occurrence always
 * passes, a burst is cut off after `perMinute`, and the sustained rate is `perMinute`/min. (Like
 * client-go's EventCorrelator, which uses a token bucket per object too; any 60-second window holds
 * at most 2 × perMinute − 1 sends, the burst plus one minute of refill.)
 *
 * A bucket idle for a minute is full again, so forgetting it (LRU cap, idle TTL) loses nothing
 * except when more than `maxKeys` objects are limited at once, where the least recent one restarts full.
 */
export class PerKeyRateLimiter {
  readonly perMinute: number
  #clock: Clock
  #buckets: LruTtlMap<Bucket>

  constructor(options: RateLimiterOptions) {
    if (!Number.isFinite(options.perMinute) || options.perMinute < 1) {
      throw new RangeError(`perMinute must be ≥ 1 (got ${options.perMinute})`)
    }
    this.perMinute = options.perMinute
    this.#clock = options.clock ?? Date.now
    this.#buckets = new LruTtlMap<Bucket>({ ...options, clock: this.#clock })
  }

  get size(): number {
    return this.#buckets.size
  }

  /** Takes a token for `key` if one is there; false means over the limit (nothing is taken). */
  tryTake(key: string): boolean {
    const now = this.#clock()
    const bucket = this.#buckets.get(key) ?? { tokens: this.perMinute, updatedAt: now }
    const elapsed = Math.max(0, now - bucket.updatedAt)
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (elapsed * this.perMinute) / 60_000)
    bucket.updatedAt = now
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens -= 1
    this.#buckets.set(key, bucket)
    return allowed
  }

  clear(): void {
    this.#buckets.clear()
  }
}
