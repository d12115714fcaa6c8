/**
 * Time, injectable. The work queue, the informers and the leader elector take a Clock so unit
 * tests can drive delays, backoff, resync and lease expiry with a fake one instead of sleeping.
 */

/** Opaque handle returned by Clock.setTimeout. */
export interface TimerHandle {
  readonly timer: unknown
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** Node's timers hold 32-bit delays; a longer one (retention defaults to 30 days) fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const handle: { timer: unknown } = { timer: undefined }
    // Longer delays are chained through timers of at most MAX_TIMER_MS.
    const arm = (remaining: number): void => {
      handle.timer = remaining > MAX_TIMER_MS ? setTimeout(() => arm(remaining - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(callback, Math.max(0, remaining))
    }
    arm(ms)
    return handle
  },
  clearTimeout: (handle) => clearTimeout(handle.timer as NodeJS.Timeout),
}

/**
 * A sleep that can be cut short: resolves after `ms`, or at once when `signal` aborts (it never
 * rejects, so loops just re-check their own stop flag afterwards).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const onAbort = (): void => {
      clock.clearTimeout(handle)
      resolve()
    }
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Rejects with `new TimeoutError(message)` when `promise` has not settled within `ms`. */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const handle = clock.setTimeout(() => reject(new TimeoutError(message)), ms)
    promise.then(
      (value) => {
        clock.clearTimeout(handle)
        resolve(value)
      },
      (err: unknown) => {
        clock.clearTimeout(handle)
        reject(err)
      },
    )
  })
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}
