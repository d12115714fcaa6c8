/**
 * src/kube/limited-rest.ts: the reconciler's calls through the adaptive limiter — what each answer
 * teaches it, Retry-After honoured before a 429 is sent again, and what is returned as it came.
 */
import t from 'tap'
import { AdaptiveLimiter } from '../../../src/kube/adaptive-limiter.ts'
import { DEFAULT_THROTTLE_PAUSE_MS, limitedRestClient, outcomeOf } from '../../../src/kube/limited-rest.ts'
import type { RestClient, RestResponse } from '../../../src/kube/rest.ts'
import { FakeClock, flush } from '../../helpers/fake-clock.ts'

/** A RestClient answering from a script, one answer (or error) per call, recording each call's time. */
function scripted(clock: FakeClock, answers: Array<RestResponse | Error>): RestClient & { calls: number[]; closed: boolean } {
  const calls: number[] = []
  const client = {
    calls,
    closed: false,
    async request(): Promise<RestResponse> {
      calls.push(clock.now())
      const next = answers.shift()
      if (next === undefined) throw new Error('no more answers scripted')
      if (next instanceof Error) throw next
      return next
    },
    close() {
      client.closed = true
    },
  }
  return client
}

t.test('outcomeOf: what each answer teaches the limiter', async (t) => {
  const now = 0
  t.same(outcomeOf({ status: 200, body: {} }, now), { type: 'success' })
  t.same(outcomeOf({ status: 404, body: {} }, now), { type: 'success' }, 'an answer in time: the server is fine')
  t.same(outcomeOf({ status: 409, body: {} }, now), { type: 'success' })
  t.same(outcomeOf({ status: 429, body: {}, retryAfter: '3' }, now), { type: 'overload', retryAfterMs: 3000 })
  t.same(outcomeOf({ status: 429, body: {} }, now), { type: 'overload', retryAfterMs: DEFAULT_THROTTLE_PAUSE_MS }, 'a 429 without Retry-After still pauses')
  t.same(outcomeOf({ status: 503, body: {}, retryAfter: '1' }, now), { type: 'overload', retryAfterMs: 1000 })
  t.same(outcomeOf({ status: 500, body: {} }, now), { type: 'overload' })
})

t.test('a 429 with Retry-After: the limit halves, nothing is sent before the pause ends, then the call is retried', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ initialLimit: 8, clock })
  const inner = scripted(clock, [{ status: 429, body: { kind: 'Status', reason: 'TooManyRequests' }, retryAfter: '2' }, { status: 200, body: { ok: true } }])
  const throttled: number[] = []
  const client = limitedRestClient(inner, limiter, { now: () => clock.now(), onThrottled: (status) => throttled.push(status) })
  const start = clock.now()
  let answer: RestResponse | undefined
  void client.request('PUT', '/x', {}).then((a) => (answer = a))
  await flush()
  t.equal(inner.calls.length, 1)
  t.equal(limiter.limit, 4, 'multiplicative decrease')
  await clock.advance(1999)
  t.equal(inner.calls.length, 1, 'not sent again before Retry-After')
  await clock.advance(1)
  t.same(answer, { status: 200, body: { ok: true } }, 'retried after the pause, and the caller sees only the final answer')
  t.same(
    inner.calls.map((at) => at - start),
    [0, 2000],
  )
  t.same(throttled, [429], 'the throttled answer counted')
})

t.test('retries stop after maxRetries: the last 429 is returned', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ clock })
  const inner = scripted(clock, Array.from({ length: 3 }, () => ({ status: 429, body: {}, retryAfter: '1' })))
  const client = limitedRestClient(inner, limiter, { maxRetries: 2, now: () => clock.now() })
  let answer: RestResponse | undefined
  void client.request('DELETE', '/x').then((a) => (answer = a))
  await clock.advance(5000)
  t.equal(inner.calls.length, 3, 'the first call and two retries')
  t.equal(answer?.status, 429)
})

t.test('a 500 without Retry-After is returned at once (the controller backs off), and lowers the limit', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ initialLimit: 8, clock })
  const inner = scripted(clock, [{ status: 500, body: 'etcd timeout' }])
  const answer = await limitedRestClient(inner, limiter, { now: () => clock.now() }).request('GET', '/x')
  t.equal(answer.status, 500)
  t.equal(inner.calls.length, 1, 'not retried here')
  t.equal(limiter.limit, 4)
  t.equal(limiter.snapshot().pausedForMs, 0, 'no pause without Retry-After')
})

t.test('no answer (a timeout, a reset): thrown as it came, and counted as overload', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ initialLimit: 8, clock })
  const inner = scripted(clock, [new Error('PUT /x: no response within 15000 ms')])
  await t.rejects(limitedRestClient(inner, limiter).request('PUT', '/x', {}), /no response within/)
  t.equal(limiter.limit, 4)
  t.equal(limiter.snapshot().inFlight, 0)
})

t.test('successes at the limit grow it; close() closes the inner client', async (t) => {
  const clock = new FakeClock()
  const limiter = new AdaptiveLimiter({ initialLimit: 2, clock })
  const inner = scripted(clock, Array.from({ length: 200 }, () => ({ status: 200, body: {} })))
  const client = limitedRestClient(inner, limiter)
  for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: limiter.limit }, () => client.request('GET', '/x')))
  t.ok(limiter.limit > 2, `the limit grew to ${limiter.limit}`)
  client.close()
  t.ok(inner.closed)
})
