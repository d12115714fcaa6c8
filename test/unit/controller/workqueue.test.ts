import t from 'tap'
import { createMetrics } from '../../../src/metrics.ts'
import { BucketRateLimiter, DEFAULT_MAX_DELAY_MS, defaultControllerRateLimiter, ExponentialBackoffRateLimiter } from '../../../src/controller/rate-limiter.ts'
import { WorkQueue } from '../../../src/controller/workqueue.ts'
import { FakeClock, flush, metricValue } from '../../helpers/fake-clock.ts'

function setup(options: { baseDelayMs?: number; maxDelayMs?: number } = {}) {
  const clock = new FakeClock()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const queue = new WorkQueue({ name: 'runs', clock, metrics, ...options })
  return { clock, metrics, queue }
}

/** Resolves-or-not probe for a pending get(). */
function probe(promise: Promise<string | undefined>): { settled: () => boolean; value: () => string | undefined } {
  let settled = false
  let value: string | undefined
  void promise.then((v) => {
    settled = true
    value = v
  })
  return { settled: () => settled, value: () => value }
}

t.test('de-duplicates: a key queued twice is handed out once', async (t) => {
  const { queue, metrics } = setup()
  queue.add('AgentRun/ns/a')
  queue.add('AgentRun/ns/a')
  queue.add('AgentRun/ns/b')
  t.equal(queue.len(), 2)
  t.equal(await queue.get(), 'AgentRun/ns/a')
  t.equal(await queue.get(), 'AgentRun/ns/b')
  t.equal(queue.len(), 0)
  const next = probe(queue.get())
  await flush()
  t.notOk(next.settled(), 'nothing left to hand out')
  t.equal(await metricValue(metrics.registry, 'workqueue_adds_total', { name: 'runs' }), 2, 'the duplicate is not counted as an add')
  queue.shutDown()
})

t.test('FIFO order, and waiting getters are served in order', async (t) => {
  const { queue } = setup()
  const first = queue.get()
  const second = queue.get()
  queue.add('k/ns/1')
  queue.add('k/ns/2')
  t.equal(await first, 'k/ns/1')
  t.equal(await second, 'k/ns/2')
})

t.test('a key re-added while processing is marked dirty and handed out only after done()', async (t) => {
  const { queue, metrics } = setup()
  queue.add('k/ns/a')
  const key = await queue.get()
  t.equal(key, 'k/ns/a')
  queue.add('k/ns/a')
  queue.add('k/ns/a')
  t.equal(queue.len(), 1, 'dirty once')
  t.equal(await metricValue(metrics.registry, 'workqueue_depth', { name: 'runs' }), 1)
  const other = probe(queue.get())
  await flush()
  t.notOk(other.settled(), 'a second worker does not get the key while the first holds it')
  queue.done('k/ns/a')
  await flush()
  t.ok(other.settled())
  t.equal(other.value(), 'k/ns/a', 'handed out again after done()')
  queue.done('k/ns/a')
  t.equal(queue.len(), 0)
  t.equal(queue.processingCount(), 0)
})

t.test('done() without a re-add does not requeue', async (t) => {
  const { queue } = setup()
  queue.add('k/ns/a')
  await queue.get()
  queue.done('k/ns/a')
  t.equal(queue.len(), 0)
  queue.done('k/ns/a') // unknown: ignored
  t.equal(queue.processingCount(), 0)
})

t.test('exponential backoff: 5 ms doubling, capped at 1000 s by default', async (t) => {
  const limiter = new ExponentialBackoffRateLimiter()
  const delays = Array.from({ length: 5 }, () => limiter.when('k'))
  t.same(delays, [5, 10, 20, 40, 80])
  for (let i = 0; i < 100; i++) limiter.when('k')
  t.equal(limiter.when('k'), DEFAULT_MAX_DELAY_MS, 'capped at 1000 s')
  t.equal(DEFAULT_MAX_DELAY_MS, 1_000_000)
  t.equal(limiter.when('other'), 5, 'per key')
  t.equal(limiter.numRequeues('k'), 106)
  limiter.forget('k')
  t.equal(limiter.numRequeues('k'), 0)
  t.equal(limiter.when('k'), 5, 'forget resets the backoff')
  const custom = new ExponentialBackoffRateLimiter(100, 300)
  t.same([custom.when('x'), custom.when('x'), custom.when('x'), custom.when('x')], [100, 200, 300, 300])
  t.throws(() => new ExponentialBackoffRateLimiter(0, 10), RangeError)
  t.throws(() => new ExponentialBackoffRateLimiter(10, 5), RangeError)
})

t.test('addRateLimited waits the backoff delay, grows per failure, and forget() resets it', async (t) => {
  const { queue, clock, metrics } = setup()
  const key = 'k/ns/a'
  const waitsFor = async (expected: number): Promise<void> => {
    queue.addRateLimited(key)
    await clock.advance(expected - 1)
    t.equal(queue.len(), 0, `not yet after ${expected - 1} ms`)
    await clock.advance(1)
    t.equal(queue.len(), 1, `queued after ${expected} ms`)
    t.equal(await queue.get(), key)
    queue.done(key)
  }
  await waitsFor(5)
  await waitsFor(10)
  await waitsFor(20)
  t.equal(queue.numRequeues(key), 3)
  t.equal(await metricValue(metrics.registry, 'workqueue_retries_total', { name: 'runs' }), 3)
  queue.forget(key)
  t.equal(queue.numRequeues(key), 0)
  await waitsFor(5)
})

t.test('configurable backoff base and cap', async (t) => {
  const { queue, clock } = setup({ baseDelayMs: 1000, maxDelayMs: 1500 })
  queue.addRateLimited('k/ns/a')
  await clock.advance(999)
  t.equal(queue.len(), 0)
  await clock.advance(1)
  t.equal(await queue.get(), 'k/ns/a')
  queue.done('k/ns/a')
  queue.addRateLimited('k/ns/a')
  await clock.advance(1499)
  t.equal(queue.len(), 0)
  await clock.advance(1)
  t.equal(queue.len(), 1, 'capped at 1500 rather than 2000')
})

t.test('addAfter: delayed add, the earlier time wins, ms <= 0 adds at once', async (t) => {
  const { queue, clock } = setup()
  queue.addAfter('k/ns/a', 1000)
  queue.addAfter('k/ns/a', 5000) // later: ignored
  t.equal(queue.waitingCount(), 1)
  await clock.advance(999)
  t.equal(queue.len(), 0)
  await clock.advance(1)
  t.equal(queue.len(), 1)
  t.equal(queue.waitingCount(), 0)
  await clock.advance(10_000)
  t.equal(queue.len(), 1, 'the later request was folded into the earlier one')

  queue.addAfter('k/ns/b', 5000)
  queue.addAfter('k/ns/b', 100) // earlier: replaces
  await clock.advance(100)
  t.equal(queue.len(), 2)
  await clock.advance(10_000)
  t.equal(queue.len(), 2, 'no second add when the replaced timer would have fired')

  queue.addAfter('k/ns/c', 0)
  queue.addAfter('k/ns/d', -5)
  t.equal(queue.len(), 4)
})

t.test('addAfter on a key already queued does not hand it out twice', async (t) => {
  const { queue, clock } = setup()
  queue.add('k/ns/a')
  queue.addAfter('k/ns/a', 10)
  await clock.advance(10)
  t.equal(queue.len(), 1)
})

t.test('shutDown: queued and delayed keys are dropped, getters get undefined, adds are ignored', async (t) => {
  const { queue, clock, metrics } = setup()
  const waiting = queue.get()
  queue.add('k/ns/a')
  t.equal(await waiting, 'k/ns/a')
  queue.add('k/ns/b')
  queue.add('k/ns/c')
  queue.addAfter('k/ns/d', 100)
  t.equal(await queue.get(), 'k/ns/b')
  const idle = probe(queue.get())
  const alsoIdle = probe(queue.get())
  await flush()
  t.equal(idle.value(), 'k/ns/c')
  t.notOk(alsoIdle.settled())
  queue.add('k/ns/e')
  queue.add('k/ns/f')
  await flush()
  t.equal(alsoIdle.value(), 'k/ns/e')
  queue.shutDown()
  t.equal(await queue.get(), undefined, 'f was dropped')
  t.equal(queue.len(), 0)
  t.equal(queue.waitingCount(), 0)
  t.equal(clock.pendingTimers(), 0, 'delay timers cancelled')
  queue.add('k/ns/g')
  queue.addRateLimited('k/ns/g')
  queue.addAfter('k/ns/g', 1)
  t.equal(queue.len(), 0)
  t.equal(clock.pendingTimers(), 0)
  t.ok(queue.isShuttingDown())
  t.equal(await metricValue(metrics.registry, 'workqueue_depth', { name: 'runs' }), 0)
  queue.add('k/ns/a') // re-add of a held key after shut-down: ignored, so done() does not requeue
  for (const key of ['k/ns/a', 'k/ns/b', 'k/ns/c', 'k/ns/e']) queue.done(key)
  t.equal(queue.processingCount(), 0)
  t.equal(await queue.get(), undefined)
})

t.test('a pending get() is released by shutDown', async (t) => {
  const { queue } = setup()
  const pending = probe(queue.get())
  await flush()
  t.notOk(pending.settled())
  queue.shutDown()
  await flush()
  t.ok(pending.settled())
  t.equal(pending.value(), undefined)
})

t.test('shutDownWithDrain: queued keys are still handed out; resolves when everything is done', async (t) => {
  const { queue } = setup()
  queue.add('k/ns/a')
  queue.add('k/ns/b')
  const first = await queue.get()
  t.equal(first, 'k/ns/a')
  let drained = false
  const drain = queue.shutDownWithDrain().then(() => {
    drained = true
  })
  queue.add('k/ns/new')
  t.equal(queue.len(), 1, 'adds ignored while draining')
  t.equal(await queue.get(), 'k/ns/b', 'queued key still handed out')
  t.equal(await queue.get(), undefined, 'then getters are released')
  await flush()
  t.notOk(drained, 'a and b are still being processed')
  queue.done('k/ns/a')
  await flush()
  t.notOk(drained)
  queue.done('k/ns/b')
  await drain
  t.ok(drained)
})

t.test('shutDownWithDrain on an idle queue resolves at once and releases getters', async (t) => {
  const { queue } = setup()
  const pending = queue.get()
  await queue.shutDownWithDrain()
  t.equal(await pending, undefined)
})

t.test('metrics: depth, adds, retries and queue duration per queue name', async (t) => {
  const { queue, clock, metrics } = setup()
  const r = metrics.registry
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 0, 'series exist from the start')
  t.equal(await metricValue(r, 'workqueue_adds_total', { name: 'runs' }), 0)
  t.equal(await metricValue(r, 'workqueue_retries_total', { name: 'runs' }), 0)
  queue.add('k/ns/a')
  queue.add('k/ns/b')
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 2)
  await clock.advance(250)
  await queue.get()
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 1)
  await clock.advance(750)
  await queue.get()
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 0)
  t.equal(await metricValue(r, 'workqueue_queue_duration_seconds', { name: 'runs' }, '_count'), 2)
  t.equal(await metricValue(r, 'workqueue_queue_duration_seconds', { name: 'runs' }, '_sum'), 0.25 + 1.0)
  t.equal(await metricValue(r, 'workqueue_queue_duration_seconds', { name: 'runs', le: '0.25' }, '_bucket'), 1)
  queue.addRateLimited('k/ns/c')
  t.equal(await metricValue(r, 'workqueue_retries_total', { name: 'runs' }), 1)
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 0, 'a delayed key is not in the depth until it is due')
  await clock.advance(5)
  t.equal(await metricValue(r, 'workqueue_depth', { name: 'runs' }), 1)
  t.equal(await metricValue(r, 'workqueue_adds_total', { name: 'runs' }), 3)
})

t.test('retry budget: past the burst, retries of all keys together are spread at qps', async (t) => {
  let now = 0
  const clock = { now: () => now }
  const bucket = new BucketRateLimiter(10, 3, clock)
  t.same([bucket.when(), bucket.when(), bucket.when()], [0, 0, 0], 'the burst is free')
  t.equal(bucket.when(), 100, 'the 4th waits one token (100 ms at 10/s)')
  t.equal(bucket.when(), 200, 'the 5th waits behind it')
  now += 1_000 // 10 tokens come back, minus the two booked ahead; the bucket holds at most 3
  t.same([bucket.when(), bucket.when(), bucket.when(), bucket.when()], [0, 0, 0, 100], 'refilled up to the burst')

  const limiter = defaultControllerRateLimiter(clock)
  t.equal(limiter.when('a'), 5, 'per key: 5 ms first')
  t.equal(limiter.when('a'), 10, 'then doubling')
  for (let i = 0; i < 98; i++) limiter.when(`k${i}`)
  t.equal(limiter.when('b'), 100, "the 101st retry within the same instant waits for the shared budget, not b's own 5 ms")
  limiter.forget('a')
  t.equal(limiter.numRequeues('a'), 0, 'forget resets the key')
  t.throws(() => new BucketRateLimiter(0, 1, clock), RangeError)
})
