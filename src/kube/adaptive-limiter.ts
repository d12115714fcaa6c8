/**
 * Adaptive concurrency for the reconciler's API calls: additive increase, multiplicative decrease
 * (AIMD, as TCP and Netflix's concurrency-limits do), driven by what the API server answers.
 *
 * - A call takes a permit (`acquire()`), waiting while `limit` calls are in flight, and gives it
 *   back with what the API server said (`release(outcome)`).
 * - `success`: the limit grows by 1/limit, i.e. by one per window of `limit` successes — but
 *   only when the call was made with at least half the limit in use (a mostly idle client learns
 *   nothing about the server's capacity, and must not grow a limit it never tried).
 * - `overload` (429, 5xx, a timeout or a dropped connection): the limit is multiplied by
 *   `decreaseFactor`, at most once per window: the calls already in flight when the first one
 *   failed were sent at the old limit, and their failures do not count again (otherwise one
 *   burst of 429s would collapse the limit to the minimum).
 * - `Retry-After` (priority-and-fairness answers 429 with one): no new call starts before that
 *   time, whatever the limit.
 * - `neutral` (any other answer, 404 and 409 included): changes nothing.
 *
 * Waiters are served first come, first served.
 */
import { realClock, type Clock, type TimerHandle } from '../controller/clock.ts'

export type LimiterOutcome =
  | { readonly type: 'success' }
  | { readonly type: 'neutral' }
  /** `retryAfterMs`: the server asked for no call before this long. */
  | { readonly type: 'overload'; readonly retryAfterMs?: number }

export interface AdaptiveLimiterOptions {
  /** Default 4 (what a fixed pool of 4 workers allowed). */
  initialLimit?: number
  /** Default 1. */
  minLimit?: number
  /** Default 64. */
  maxLimit?: number
  /** Default 0.5. */
  decreaseFactor?: number
  /** Longest Retry-After honoured (a larger one is capped); default 60 s. */
  maxRetryAfterMs?: number
  clock?: Clock
  /** Called whenever the limit changes (a gauge). */
  onLimit?: (limit: number) => void
}

export interface Permit {
  release(outcome: LimiterOutcome): void
}

export interface LimiterSnapshot {
  /** Calls allowed in flight now (whole). */
  limit: number
  inFlight: number
  waiting: number
  /** Milliseconds until calls may start again after a Retry-After; 0 when not paused. */
  pausedForMs: number
}

export class AdaptiveLimiter {
  readonly #min: number
  readonly #max: number
  readonly #factor: number
  readonly #maxRetryAfterMs: number
  readonly #clock: Clock
  readonly #onLimit: ((limit: number) => void) | undefined
  /** Fractional: additive increase adds 1/limit per success. */
  #limit: number
  #inFlight = 0
  /** Bumped at each decrease; a failure of a permit from an older window does not decrease again. */
  #window = 0
  #pausedUntil = 0
  #pauseTimer: TimerHandle | undefined
  readonly #waiters: Array<() => void> = []

  constructor(options: AdaptiveLimiterOptions = {}) {
    this.#min = Math.max(1, Math.floor(options.minLimit ?? 1))
    this.#max = Math.max(this.#min, Math.floor(options.maxLimit ?? 64))
    this.#factor = options.decreaseFactor ?? 0.5
    if (!(this.#factor > 0 && this.#factor < 1)) throw new RangeError(`decreaseFactor must be between 0 and 1, got ${this.#factor}`)
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000
    this.#clock = options.clock ?? realClock
    this.#onLimit = options.onLimit
    this.#limit = clamp(options.initialLimit ?? 4, this.#min, this.#max)
    this.#onLimit?.(this.limit)
  }

  /** Calls allowed in flight now. */
  get limit(): number {
    return Math.floor(this.#limit)
  }

  snapshot(): LimiterSnapshot {
    return { limit: this.limit, inFlight: this.#inFlight, waiting: this.#waiters.length, pausedForMs: Math.max(0, this.#pausedUntil - this.#clock.now()) }
  }

  /** Resolves with a permit once a call may start. */
  acquire(): Promise<Permit> {
    return new Promise((resolve) => {
      this.#waiters.push(() => resolve(this.#permit()))
      this.#dispatch()
    })
  }

  /** Runs `call` under a permit; `judge` turns its result (or error) into an outcome. */
  async run<T>(call: () => Promise<T>, judge: (result: { value: T } | { error: unknown }) => LimiterOutcome): Promise<T> {
    const permit = await this.acquire()
    let value: T
    try {
      value = await call()
    } catch (error) {
      permit.release(judge({ error }))
      throw error
    }
    permit.release(judge({ value }))
    return value
  }

  #permit(): Permit {
    this.#inFlight++
    const window = this.#window
    // Taken with at least half the limit in use (Netflix's rule): only such calls may grow it.
    const saturated = this.#inFlight * 2 >= this.limit
    let released = false
    return {
      release: (outcome) => {
        if (released) return
        released = true
        this.#inFlight--
        this.#learn(outcome, window, saturated)
        this.#dispatch()
      },
    }
  }

  #learn(outcome: LimiterOutcome, window: number, saturated: boolean): void {
    const before = this.limit
    if (outcome.type === 'success') {
      // A call sent before the last decrease says nothing about the new limit.
      if (saturated && window === this.#window) this.#limit = Math.min(this.#max, this.#limit + 1 / this.#limit)
    } else if (outcome.type === 'overload') {
      if (window === this.#window) {
        this.#window++
        this.#limit = Math.max(this.#min, this.#limit * this.#factor)
      }
      if (outcome.retryAfterMs !== undefined && outcome.retryAfterMs > 0) {
        this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + Math.min(outcome.retryAfterMs, this.#maxRetryAfterMs))
      }
    }
    if (this.limit !== before) this.#onLimit?.(this.limit)
  }

  #dispatch(): void {
    const now = this.#clock.now()
    if (now < this.#pausedUntil) {
      if (this.#pauseTimer === undefined && this.#waiters.length > 0) {
        this.#pauseTimer = this.#clock.setTimeout(() => {
          this.#pauseTimer = undefined
          this.#dispatch()
        }, this.#pausedUntil - now)
      }
      return
    }
    while (this.#waiters.length > 0 && this.#inFlight < this.limit) this.#waiters.shift()!()
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}

/**
 * `Retry-After` as milliseconds: delay-seconds, or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable.
 */
export function retryAfterMs(header: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (typeof value !== 'string' || value.trim() === '') return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP date names its weekday and month ("Sat, 28 Nov 2026 12:00:05 GMT"); Date.parse would
  // also take "-1" as a year.
  if (!/[a-z]/i.test(text)) return undefined
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}
