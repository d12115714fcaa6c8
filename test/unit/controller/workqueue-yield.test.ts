/**
 * Issue 13: a backlog of keys whose reconciles never wait on I/O must not hold the event loop,
 * and the queue reports client-go's in-flight metrics.
 */
import t from 'tap'
import { Controller } from '../../../src/controller/controller.ts'
import { done } from '../../../src/controller/reconcile.ts'
import { forEachInSlices, TimeSlice } from '../../../src/controller/time-slice.ts'
import { WorkQueue } from '../../../src/controller/workqueue.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { FakeClock, flush, metricValue } from '../../helpers/fake-clock.ts'

/** A clock the test moves by hand, for TimeSlice. */
function manualNow(): { now: () => number; advance: (ms: number) => void } {
  let time = 0
  return { now: () => time, advance: (ms) => (time += ms) }
}

t.test('TimeSlice: expires after its budget, and a turn of the event loop starts a new slice', async (t) => {
  const clock = manualNow()
  const slice = new TimeSlice(5, clock.now)
  t.notOk(slice.expired(), 'a new slice')
  clock.advance(4)
  t.notOk(slice.expired())
  clock.advance(1)
  t.ok(slice.expired(), 'budget used up')
  let resolved = false
  void slice.yield().then(() => (resolved = true))
  await Promise.resolve()
  t.notOk(resolved, 'yield waits for the next turn of the loop, not a microtask')
  await new Promise<void>((resolve) => setImmediate(resolve))
  await Promise.resolve()
  t.ok(resolved)
  t.notOk(slice.expired(), 'a new slice after the loop turned')
  t.throws(() => new TimeSlice(-1), RangeError)
})

t.test('forEachInSlices: a short list runs synchronously; a long one yields between batches', async (t) => {
  const short: number[] = []
  void forEachInSlices([1, 2, 3], new TimeSlice(0), (n) => short.push(n))
  t.same(short, [1, 2, 3], 'handled before the call returned')
  const long: number[] = []
  const finished = forEachInSlices(
    Array.from({ length: 350 }, (_, i) => i),
    new TimeSlice(0),
    (n) => long.push(n),
  )
  t.equal(long.length, 100, 'one batch, then a turn of the loop')
  await finished
  t.equal(long.length, 350)
  const stopped: number[] = []
  let stop = false
  const run = forEachInSlices(Array.from({ length: 300 }, (_, i) => i), new TimeSlice(0), (n) => stopped.push(n), () => stop)
  stop = true
  await run
  t.equal(stopped.length, 100, 'stops at the next batch once told to')
})

t.test('workers yield to the event loop while draining a backlog that never waits on I/O', async (t) => {
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  let reconciled = 0
  const controller = new Controller({
    name: 'runs',
    concurrency: 4,
    metrics,
    // Every reconcile resolves at once, like one served from the cache.
    reconciler: async () => {
      reconciled++
      return done()
    },
  })
  const backlog = 20_000
  for (let i = 0; i < backlog; i++) controller.enqueue({ kind: 'AgentRun', namespace: 'ns', name: `run-${i}` })
  const ticks: number[] = []
  const timer = setInterval(() => ticks.push(reconciled), 1)
  let reconciledAtImmediate: number | undefined
  setImmediate(() => (reconciledAtImmediate = reconciled))
  controller.start()
  while (controller.queue.len() > 0 || controller.queue.processingCount() > 0) await new Promise<void>((resolve) => setImmediate(resolve))
  clearInterval(timer)
  t.equal(reconciled, backlog, 'every key reconciled')
  t.ok(reconciledAtImmediate !== undefined && reconciledAtImmediate < backlog, `an immediate queued before the backlog ran in the middle of it (after ${reconciledAtImmediate} reconciles)`)
  t.equal(await metricValue(metrics.registry, 'workqueue_work_duration_seconds', { name: 'runs' }, '_count'), backlog, 'work duration observed per key')
  await controller.stop()
})

t.test('a queue with a zero budget yields before every key; without the yield the loop would only turn after the backlog', async (t) => {
  const queue = new WorkQueue({ name: 'q', timeSlice: new TimeSlice(0) })
  for (let i = 0; i < 10; i++) queue.add(`k/ns/${i}`)
  const order: string[] = []
  const worker = (async () => {
    for (;;) {
      const key = await queue.get()
      if (key === undefined) return
      order.push(key)
      queue.done(key)
      if (order.length === 10) queue.shutDown()
    }
  })()
  setImmediate(() => order.push('loop turned'))
  await worker
  t.ok(order.indexOf('loop turned') > 0 && order.indexOf('loop turned') < 10, `the loop turned between keys: ${order.join(', ')}`)
})

t.test('workqueue_unfinished_work_seconds and _longest_running_processor_seconds are read at scrape time; work duration on done()', async (t) => {
  const clock = new FakeClock()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const queue = new WorkQueue({ name: 'runs', clock, metrics })
  const gauge = (name: string) => metricValue(metrics.registry, name, { name: 'runs' })
  t.equal(await gauge('workqueue_unfinished_work_seconds'), 0, 'zero while idle')
  t.equal(await gauge('workqueue_longest_running_processor_seconds'), 0)
  queue.add('k/ns/a')
  queue.add('k/ns/b')
  const a = await queue.get()
  await clock.advance(2000)
  const b = await queue.get()
  await clock.advance(1000)
  t.equal(await gauge('workqueue_unfinished_work_seconds'), 4, '3 s + 1 s in flight')
  t.equal(await gauge('workqueue_longest_running_processor_seconds'), 3)
  queue.done(a!)
  t.equal(await gauge('workqueue_unfinished_work_seconds'), 1)
  t.equal(await gauge('workqueue_longest_running_processor_seconds'), 1)
  t.equal(await metricValue(metrics.registry, 'workqueue_work_duration_seconds', { name: 'runs' }, '_sum'), 3, 'a took 3 s from get to done')
  queue.done(b!)
  t.equal(await gauge('workqueue_unfinished_work_seconds'), 0)
  t.equal(await metricValue(metrics.registry, 'workqueue_work_duration_seconds', { name: 'runs' }, '_count'), 2)
  await flush()
  queue.shutDown()
})
