/**
 * A RestClient whose calls go through an AdaptiveLimiter (adaptive-limiter.ts): the reconciler's
 * calls run at the concurrency the API server sustains instead of a fixed number.
 *
 * What each answer teaches the limiter:
 *   2xx, and 4xx other than 429   success (the server answered in time: 404 and 409 are answers)
 *   429                           overload; its Retry-After (1 s when absent) pauses every call
 *   5xx                           overload; a Retry-After pauses every call
 *   no answer (timeout, reset)    overload
 *
 * Like client-go (rest/request.go `checkWait`), an answer carrying Retry-After — a 429 from
 * priority-and-fairness or a 503 — is retried by the client itself, after the pause, up to
 * `maxRetries` times: the API server has said it did nothing and when to come back. Every call
 * the reconciler makes may be sent twice (conditional PUTs, uid-preconditioned deletes, idempotent
 * merge patches). Anything else is returned (or thrown) to the caller as it came.
 */
import { retryAfterMs, type AdaptiveLimiter, type LimiterOutcome } from './adaptive-limiter.ts'
import type { RestClient, RestResponse } from './rest.ts'

/** Pause after a 429 that names no Retry-After. */
export const DEFAULT_THROTTLE_PAUSE_MS = 1000

export interface LimitedRestOptions {
  /** Retries of an answer carrying Retry-After; default 10 (client-go's). */
  maxRetries?: number
  now?: () => number
  /** Told about every throttled answer (a metric). */
  onThrottled?: (status: number) => void
}

export function outcomeOf(response: RestResponse, nowMs: number): LimiterOutcome {
  const pause = retryAfterMs(response.retryAfter, nowMs)
  if (response.status === 429) return { type: 'overload', retryAfterMs: pause ?? DEFAULT_THROTTLE_PAUSE_MS }
  if (response.status >= 500) return pause === undefined ? { type: 'overload' } : { type: 'overload', retryAfterMs: pause }
  return { type: 'success' }
}

function retryable(response: RestResponse): boolean {
  return response.status === 429 || (response.status >= 500 && response.retryAfter !== undefined)
}

export function limitedRestClient(inner: RestClient, limiter: AdaptiveLimiter, options: LimitedRestOptions = {}): RestClient {
  const maxRetries = options.maxRetries ?? 10
  const now = options.now ?? Date.now
  return {
    async request(method, path, body, contentType) {
      for (let attempt = 0; ; attempt++) {
        const response = await limiter.run(
          () => inner.request(method, path, body, contentType),
          (result) => ('value' in result ? outcomeOf(result.value, now()) : { type: 'overload' }),
        )
        if (response.status === 429 || response.status >= 500) options.onThrottled?.(response.status)
        // The pause is the limiter's: the next attempt waits for it in acquire().
        if (!retryable(response) || attempt >= maxRetries) return response
      }
    },
    close() {
      inner.close()
    },
  }
}
