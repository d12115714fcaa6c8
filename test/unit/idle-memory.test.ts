import t from 'tap'
import { collectAllAvailableGarbage, decideIdleCollection, startIdleMemoryReducer, type IdleMemoryPolicy, type IdleMemoryState } from '../../src/idle-memory.ts'
import { silentLogger } from '../../src/log.ts'
import { createMetrics } from '../../src/metrics.ts'
import { FakeClock, metricValue } from '../helpers/fake-clock.ts'

const MiB = 2 ** 20
const policy: IdleMemoryPolicy = { idleMs: 10_000, idleUtilization: 0.05, minGrowthBytes: 4 * MiB, minGrowthRatio: 0.05 }

/** Feeds samples through the decision, returning when it asked to collect. */
function run(start: IdleMemoryState, samples: Array<[now: number, rssMiB: number, utilization: number]>): { collectedAt: number[]; state: IdleMemoryState } {
  let state = start
  const collectedAt: number[] = []
  for (const [now, rssMiB, utilization] of samples) {
    const decision = decideIdleCollection(state, { now, rssBytes: rssMiB * MiB, utilization }, policy)
    state = decision.state
    if (decision.collect) collectedAt.push(now)
  }
  return { collectedAt, state }
}

t.test('collects once the process has idled for idleMs after its RSS grew', async (t) => {
  const { collectedAt } = run({ baselineBytes: 100 * MiB }, [
    [0, 180, 0.9], // the burst
    [2_500, 200, 0.01], // idle from here
    [5_000, 200, 0.01],
    [10_000, 200, 0.01],
    [12_500, 200, 0.01],
  ])
  t.same(collectedAt, [12_500], '10 s after the first idle sample, not before')
})

t.test('does not collect while busy, however much memory grew', async (t) => {
  const samples: Array<[number, number, number]> = []
  for (let i = 0; i < 20; i++) samples.push([i * 2_500, 300, 0.5])
  t.same(run({ baselineBytes: 100 * MiB }, samples).collectedAt, [])
})

t.test('a busy sample restarts the idle stretch', async (t) => {
  const { collectedAt } = run({ baselineBytes: 100 * MiB }, [
    [0, 200, 0.01],
    [7_500, 200, 0.01],
    [9_000, 200, 0.2], // work came back just before the 10 s
    [10_000, 200, 0.01],
    [17_500, 200, 0.01],
    [20_000, 200, 0.01],
  ])
  t.same(collectedAt, [20_000])
})

t.test('growth below both thresholds is left alone', async (t) => {
  // +3 MiB: under 4 MiB. +6 MiB on 200: over 4 MiB but under 5 %.
  t.same(run({ baselineBytes: 100 * MiB }, [[0, 103, 0], [20_000, 103, 0]]).collectedAt, [])
  t.same(run({ baselineBytes: 200 * MiB }, [[0, 206, 0], [20_000, 206, 0]]).collectedAt, [])
  t.same(run({ baselineBytes: 200 * MiB }, [[0, 211, 0], [20_000, 211, 0]]).collectedAt, [20_000], '+11 MiB on 200: both met')
})

t.test('after a collection the mark follows what the process settles at until it is busy again', async (t) => {
  const { state, collectedAt } = run({ baselineBytes: 100 * MiB, settling: true }, [
    [0, 110, 0.01],
    [10_000, 125, 0.01],
    [20_000, 125, 0.01],
  ])
  t.same(collectedAt, [], 'no second collection for the heap V8 grows back to')
  t.equal(state.baselineBytes, 125 * MiB)
  const busy = run(state, [[30_000, 125, 0.5], [32_500, 140, 0.5], [35_000, 140, 0.01], [45_000, 140, 0.01]])
  t.same(busy.collectedAt, [45_000], 'growth after work counts again')
})

t.test('memory that fell by itself lowers the baseline', async (t) => {
  const { state, collectedAt } = run({ baselineBytes: 150 * MiB }, [[0, 120, 0.5], [2_500, 150, 0.5]])
  t.equal(state.baselineBytes, 120 * MiB)
  t.same(collectedAt, [])
})

/** A fake process for the reducer: RSS and utilisation set by the test, collections recorded. */
function fakeProcess(collect: () => Promise<void>) {
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const io = { rss: 100 * MiB, utilization: 0 }
  const clock = new FakeClock()
  return { metrics, io, clock, options: { idleSeconds: 10, metrics, log: silentLogger(), intervalMs: 2_500, clock, rss: () => io.rss, utilization: () => io.utilization, collect } }
}

t.test('the reducer: one collection per burst, counted, and the RSS after it is the new baseline', async (t) => {
  let collections = 0
  const { metrics, io, clock, options } = fakeProcess(async () => {
    collections++
    io.rss = 130 * MiB // what is left is in use
  })
  const stop = startIdleMemoryReducer(options)
  t.teardown(stop)
  io.rss = 200 * MiB
  io.utilization = 0.8
  await clock.advance(10_000)
  t.equal(collections, 0, 'not during the burst')
  io.utilization = 0.01
  await clock.advance(15_000)
  t.equal(collections, 1, 'once idle long enough')
  t.equal(await metricValue(metrics.registry, 'runguard_idle_memory_collections_total'), 1)
  t.equal(await metricValue(metrics.registry, 'runguard_idle_memory_released_bytes_total'), 70 * MiB)
  t.equal(await metricValue(metrics.registry, 'runguard_idle_memory_collection_seconds', {}, '_count'), 1)
  await clock.advance(60_000)
  t.equal(collections, 1, 'memory still in use after it causes no second collection')
  io.rss = 140 * MiB // V8 grows its heap back while idle: settled memory, not a burst
  await clock.advance(60_000)
  t.equal(collections, 1, 'regrowth while idle after a collection raises the mark instead')
  io.utilization = 0.8 // a second burst
  io.rss = 170 * MiB
  await clock.advance(5_000)
  io.utilization = 0.01
  await clock.advance(15_000)
  t.equal(collections, 2, 'the next burst gets its own')
  stop()
  io.rss = 400 * MiB
  await clock.advance(60_000)
  t.equal(collections, 2, 'nothing after stop')
  t.equal(clock.pendingTimers(), 0, 'and no timer left')
})

t.test('disabled with 0 seconds; a failing collection stops the reducer', async (t) => {
  let calls = 0
  const { io, clock, options } = fakeProcess(async () => {
    calls++
    throw new Error('no inspector')
  })
  startIdleMemoryReducer({ ...options, idleSeconds: 0 })
  t.equal(clock.pendingTimers(), 0, 'disabled: no timer')
  const stop = startIdleMemoryReducer(options)
  t.teardown(stop)
  io.rss = 300 * MiB
  await clock.advance(60_000)
  t.equal(calls, 1, 'tried once, then stopped')
  t.equal(clock.pendingTimers(), 0)
})

t.test('the real collection gives V8 memory back', async (t) => {
  // Grow the heap well past what is live, let it go, and compare the heap V8 keeps committed.
  let garbage: Array<Array<{ i: number; s: string }>> = []
  for (let round = 0; round < 10; round++) {
    const block: Array<{ i: number; s: string }> = []
    for (let i = 0; i < 100_000; i++) block.push({ i, s: `x${i}` })
    garbage.push(block)
  }
  const grown = process.memoryUsage().heapTotal
  garbage = []
  t.equal(garbage.length, 0)
  await collectAllAvailableGarbage()
  const after = process.memoryUsage().heapTotal
  t.ok(after < grown / 2, `heap committed ${Math.round(grown / MiB)} → ${Math.round(after / MiB)} MiB`)
})
