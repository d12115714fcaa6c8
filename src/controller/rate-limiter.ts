/**
 * Per-key retry delays for the work queue (client-go's workqueue rate limiters): each failure of
 * a key makes its next retry wait longer, until forget(key).
 */

export interface RateLimiter {
  /** Delay before the next retry of `key`; each call counts one more failure. */
  when(key: string): number
  /** The key succeeded: reset its failures. */
  forget(key: string): void
  /** Failures counted for `key` since the last forget. */
  numRequeues(key: string): number
}

const DEFAULT_BASE_DELAY_MS = 5
export const DEFAULT_MAX_DELAY_MS = 1000 * 1000

/** base · 2^failures, capped at max (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialBackoffRateLimiter implements RateLimiter {
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  private readonly failures = new Map<string, number>()

  constructor(baseDelayMs: number = DEFAULT_BASE_DELAY_MS, maxDelayMs: number = DEFAULT_MAX_DELAY_MS) {
    if (!(baseDelayMs > 0) || !(maxDelayMs >= baseDelayMs)) {
      throw new RangeError(`backoff needs 0 < base (${baseDelayMs}) <= max (${maxDelayMs})`)
    }
    this.baseDelayMs = baseDelayMs
    this.maxDelayMs = maxDelayMs
  }

  when(key: string): number {
    const failures = this.failures.get(key) ?? 0
    this.failures.set(key, failures + 1)
    // 2^failures overflows to Infinity long after the cap; min() takes care of it.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** failures)
  }

  forget(key: string): void {
    this.failures.delete(key)
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0
  }
}
