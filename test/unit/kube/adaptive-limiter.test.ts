/** src/kube/adaptive-limiter.ts: AIMD on the API server's answers, Retry-After pauses, FIFO waiters. */
import t from 'tap'
import { AdaptiveLimiter, retryAfterMs, type Permit } from '../../../src/kube/adaptive-limiter.ts'
import { FakeClock, flush } from '../../helpers/fake-clock.ts'

/** Takes `n` permits, all granted at once (the limit allows them). */
async function take(limiter: AdaptiveLimiter, n: number): Promise<Permit[]> {
  return Promise.all(Array.from({ length: n }, () => limiter.acquire()))
}

t.test('at most `limit` calls in flight; waiters are served first come, first served', async (t) => {
  const limiter = new AdaptiveLimiter({ initialLimit: 2 })
  const [a, b] = await take(limiter, 2)
  const order: string[] = []
  const c = limiter.acquire().then((p) => (order.push('c'), p))
  const d = limiter.acquire().then((p) => (order.push('d'), p))
  await flush()
  t.same(order, [], 'a third and fourth call wait')
  t.same(limiter.snapshot(), { limit: 2, inFlight: 2, waiting: 2, pausedForMs: 0 })
  a!.release({ type: 'neutral' })
  await flush()
  t.same(order, ['c'], 'one slot freed: the first waiter')
  b!.release({ type: 'neutral' })
  await flush()
  t.same(order, ['c', 'd'])
  ;(await c).release({ type: 'neutral' })
  ;(await d).release({ type: 'neutral' })
  t.equal(limiter.snapshot().inFlight, 0)
})

t.test('additive increase: one more per window of successes with the limit in use, up to the maximum', async (t) => {
  const limits: number[] = []
  const limiter = new AdaptiveLimiter({ initialLimit: 4, maxLimit: 6, onLimit: (limit) => limits.push(limit) })
  for (let round = 0; round < 2; round++) for (const permit of await take(limiter, 4)) permit.release({ type: 'success' })
  t.equal(limiter.limit, 5, 'two windows of four calls at limit 4 (six of them with at least half the limit in use): +1')
  for (let round = 0; round < 20; round++) for (const permit of await take(limiter, limiter.limit)) permit.release({ type: 'success' })
  t.equal(limiter.limit, 6, 'never above maxLimit')
  t.same(limits, [4, 5, 6], 'onLimit told of each change')
})

t.test('a mostly idle client does not grow its limit', async (t) => {
  const limiter = new AdaptiveLimiter({ initialLimit: 8 })
  for (let i = 0; i < 100; i++) (await limiter.acquire()).release({ type: 'success' })
  t.equal(limiter.limit, 8, 'one call at a time against a limit of 8 says nothing about capacity')
})

t.test('multiplicative decrease on overload, once per window: a burst of 429s halves the limit once', async (t) => {
  const limiter = new AdaptiveLimiter({ initialLimit: 16 })
  const burst = await take(limiter, 16)
  for (const permit of burst) permit.release({ type: 'overload' })
  t.equal(limiter.limit, 8, 'sixteen failures sent at the old limit: one decrease')
  const next = await take(limiter, 8)
  next[0]!.release({ type: 'overload' })
  t.equal(limiter.limit, 4, 'a failure of a call sent after the decrease: another one')
  for (const permit of next.slice(1)) permit.release({ type: 'success' })
  t.equal(limiter.limit, 4, 'successes of calls sent before the decrease do not grow the new limit')
})

t.test('never below the minimum; neutral answers change nothing; a permit released twice counts once', async (t) => {
  const limiter = new AdaptiveLimiter({ initialLimit: 2, minLimit: 1 })
  for (let i = 0; i < 5; i++) (await limiter.acquire()).release({ type: 'overload' })
  t.equal(limiter.limit, 1)
  const permit = await limiter.acquire()
  permit.release({ type: 'neutral' })
  permit.release({ type: 'neutral' })
  t.same(limiter.snapshot(), { limit: 1, inFlight: 0, waiting: 0, pausedForMs: 0 })
})

t.test('Retry-After: no call starts before the time the API server named', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ initialLimit: 4, clock })
  ;(await limiter.acquire()).release({ type: 'overload', retryAfterMs: 2000 })
  t.equal(limiter.limit, 2)
  let started = false
  const waiting = limiter.acquire().then((p) => {
    started = true
    return p
  })
  await clock.advance(1999)
  t.notOk(started, 'still paused 1 ms before the end')
  t.equal(limiter.snapshot().pausedForMs, 1)
  await clock.advance(1)
  t.ok(started, 'released when the pause ends')
  ;(await waiting).release({ type: 'success' })
})

t.test('a Retry-After beyond the cap is capped', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ clock, maxRetryAfterMs: 5000 })
  ;(await limiter.acquire()).release({ type: 'overload', retryAfterMs: 3_600_000 })
  t.equal(limiter.snapshot().pausedForMs, 5000)
})

t.test('run(): the outcome comes from the result or the error, and the error is rethrown', async (t) => {
  const limiter = new AdaptiveLimiter({ initialLimit: 2 })
  t.equal(await limiter.run(async () => 'ok', () => ({ type: 'success' })), 'ok')
  await t.rejects(
    limiter.run(
      async () => {
        throw new Error('timed out')
      },
      (result) => ('error' in result ? { type: 'overload' } : { type: 'success' }),
    ),
    /timed out/,
  )
  t.equal(limiter.limit, 1, 'the error was judged an overload')
  t.equal(limiter.snapshot().inFlight, 0, 'and its permit given back')
})

t.test('retryAfterMs: delay-seconds, an HTTP date, nothing usable', async (t) => {
  const now = Date.parse('2026-11-28T12:00:00Z')
  t.equal(retryAfterMs('3', now), 3000)
  t.equal(retryAfterMs(['1', '9'], now), 1000, 'the first of repeated headers')
  t.equal(retryAfterMs('Sat, 28 Nov 2026 12:00:05 GMT', now), 5000)
  t.equal(retryAfterMs('Sat, 28 Nov 2026 11:00:00 GMT', now), 0, 'a date in the past: at once')
  t.equal(retryAfterMs(undefined, now), undefined)
  t.equal(retryAfterMs('soon', now), undefined)
  t.equal(retryAfterMs('-1', now), undefined)
})
