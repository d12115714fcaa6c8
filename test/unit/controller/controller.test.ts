import t from 'tap'
import { createLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { Controller, DEFAULT_CONFLICT_RETRIES, RECONCILE_RESULTS } from '../../../src/controller/controller.ts'
import {
  conflict,
  done,
  failed,
  parseRequestKey,
  requeueAfter,
  requestKey,
  TerminalError,
  type ReconcileRequest,
  type ReconcileResult,
  type Reconciler,
} from '../../../src/controller/reconcile.ts'
import { FakeClock, flush, metricValue } from '../../helpers/fake-clock.ts'

interface LogLine {
  level: string
  msg: string
  err?: { message: string; type: string; stack: string }
  [key: string]: unknown
}

function setup(reconciler: Reconciler, concurrency = 2) {
  const clock = new FakeClock()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const lines: LogLine[] = []
  const logger = createLogger('debug', 'reconciler', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) })
  const controller = new Controller({ name: 'agentrun', reconciler, concurrency, metrics, logger, clock })
  const total = (result: string) => metricValue(metrics.registry, 'controller_runtime_reconcile_total', { controller: 'agentrun', result })
  const errors = () => metricValue(metrics.registry, 'controller_runtime_reconcile_errors_total', { controller: 'agentrun' })
  return { clock, metrics, controller, lines, total, errors }
}

const req: ReconcileRequest = { kind: 'AgentRun', namespace: 'ns', name: 'run-1' }

t.test('request keys', async (t) => {
  t.equal(requestKey(req), 'AgentRun/ns/run-1')
  t.same(parseRequestKey('AgentRun/ns/run-1'), req)
  t.same(parseRequestKey('Node//n1'), { kind: 'Node', namespace: '', name: 'n1' }, 'cluster-scoped')
  t.equal(parseRequestKey('AgentRun/run-1'), undefined)
  t.equal(parseRequestKey('a/b/c/d'), undefined)
  t.equal(parseRequestKey('/ns/x'), undefined)
})

t.test('result series start at zero, one per branch', async (t) => {
  const { total, errors, metrics } = setup(async () => done())
  t.same(RECONCILE_RESULTS, ['success', 'requeue_after', 'conflict', 'error', 'terminal_error'])
  for (const result of RECONCILE_RESULTS) t.equal(await total(result), 0, result)
  t.equal(await errors(), 0)
  t.equal(await metricValue(metrics.registry, 'controller_runtime_active_workers', { controller: 'agentrun' }), 0)
})

t.test('success → forget, counted once, nothing requeued', async (t) => {
  const calls: ReconcileRequest[] = []
  const { controller, clock, total, metrics } = setup(async (r) => {
    calls.push(r)
    return done()
  })
  controller.queue.addRateLimited(requestKey(req)) // some earlier failure
  t.equal(controller.queue.numRequeues(requestKey(req)), 1)
  controller.start()
  await clock.advance(5)
  t.same(calls, [req])
  t.equal(controller.queue.numRequeues(requestKey(req)), 0, 'backoff forgotten')
  t.equal(await total('success'), 1)
  await clock.advance(3_600_000)
  t.equal(calls.length, 1, 'never requeued')
  t.equal(await metricValue(metrics.registry, 'controller_runtime_reconcile_time_seconds', { controller: 'agentrun' }, '_count'), 1)
  await controller.stop()
})

t.test('requeueAfter → forget + addAfter; counted as requeue_after', async (t) => {
  let n = 0
  const { controller, clock, total } = setup(async (): Promise<ReconcileResult> => (++n === 1 ? requeueAfter(30_000) : done()))
  controller.start()
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(n, 1)
  t.equal(await total('requeue_after'), 1)
  t.equal(controller.queue.waitingCount(), 1)
  await clock.advance(29_999)
  t.equal(n, 1, 'not before the delay')
  await clock.advance(1)
  t.equal(n, 2, 'reconciled again after the delay')
  t.equal(await total('success'), 1)
  t.equal(await total('error'), 0)
  await controller.stop()
})

t.test('a delay <= 0 is plain success', async (t) => {
  t.same(requeueAfter(0), done(), 'the helper says so')
  t.same(requeueAfter(undefined), done())
  const { controller, clock, total } = setup(async () => ({ type: 'requeueAfter', afterMs: 0 }))
  controller.start()
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(await total('success'), 1)
  t.equal(controller.queue.waitingCount(), 0)
  await controller.stop()
})

t.test('a thrown error is retried with growing backoff until it succeeds, then forgotten', async (t) => {
  const times: number[] = []
  const { controller, clock, total, errors, lines } = setup(async () => {
    times.push(clock.now())
    if (times.length <= 3) throw new Error('apiserver said no', { cause: new Error('ECONNRESET') })
    return done()
  })
  const start = clock.now()
  controller.start()
  controller.enqueue(req)
  await clock.advance(1000)
  t.same(
    times.map((time) => time - start),
    [0, 5, 15, 35],
    'retries after 5, 10 and 20 ms',
  )
  t.equal(await total('error'), 3)
  t.equal(await errors(), 3)
  t.equal(await total('success'), 1)
  t.equal(controller.queue.numRequeues(requestKey(req)), 0)
  const errorLines = lines.filter((l) => l.level === 'error')
  t.equal(errorLines.length, 3, 'each failure logged once')
  const first = errorLines[0]!
  t.match(first.err?.message, /apiserver said no/)
  t.match(first.err?.message, /ECONNRESET/, 'the cause is in the log line')
  t.equal(first.key, 'AgentRun/ns/run-1')
  t.equal(first.controller, 'agentrun')
  t.equal(first.namespace, 'ns')
  await controller.stop()
})

t.test('a failing key is never dropped', async (t) => {
  let n = 0
  const { controller, clock } = setup(async () => {
    n++
    throw new Error('still broken')
  })
  controller.start()
  controller.enqueue(req)
  // 5 ms · 2^k, capped at 1000 s: each step advances exactly to the next retry.
  for (let i = 0; i < 25; i++) await clock.advance(Math.min(5 * 2 ** i, 1_000_000))
  t.equal(n, 26)
  t.equal(controller.queue.waitingCount(), 1, 'still scheduled')
  await controller.stop()
})

t.test('failed() is an error like a throw: backoff, counted, logged', async (t) => {
  let n = 0
  const { controller, clock, total, errors, lines } = setup(async () => (++n <= 2 ? failed(new Error('two calls failed')) : done()))
  controller.start()
  controller.enqueue(req)
  await clock.advance(4)
  t.equal(n, 1, 'not before the backoff')
  await clock.advance(1)
  t.equal(n, 2, 'after 5 ms')
  await clock.advance(10)
  t.equal(n, 3, 'after 10 more')
  t.equal(await total('error'), 2)
  t.equal(await errors(), 2)
  t.match(lines.find((l) => l.level === 'error')?.err?.message, /two calls failed/)
  await controller.stop()
})

t.test('failed() with a deadline: the growing backoff never pushes the deadline back', async (t) => {
  const times: number[] = []
  const { controller, clock } = setup(async () => {
    times.push(clock.now())
    return failed(new Error('forbidden'), 1_000)
  })
  const start = clock.now()
  controller.start()
  controller.enqueue(req)
  await clock.advance(3_000)
  const offsets = times.map((time) => time - start)
  t.same(offsets.slice(0, 8), [0, 5, 15, 35, 75, 155, 315, 635], 'backoff while it is shorter than the deadline')
  t.equal(offsets[8], 1_275, 'then the backoff (640 ms) is still shorter')
  t.equal(offsets[9], 2_275, 'then the deadline (1 s) wins over a 1.28 s backoff')
  await controller.stop()
})

t.test('conflict → reconciled again at once, counted, not an error', async (t) => {
  let n = 0
  const { controller, clock, total, errors } = setup(async () => (++n <= 2 ? conflict() : done()))
  controller.start()
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(n, 3, 'two conflicts, then success, without time passing')
  t.equal(await total('conflict'), 2)
  t.equal(await total('success'), 1)
  t.equal(await errors(), 0)
  t.equal(controller.queue.waitingCount(), 0)
  await controller.stop()
})

t.test('conflicts that keep coming fall back to the backoff; a success resets the count', async (t) => {
  let n = 0
  let conflicting = true
  const { controller, clock, total, lines } = setup(async () => {
    n++
    return conflicting ? conflict() : done()
  })
  controller.start()
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(n, DEFAULT_CONFLICT_RETRIES + 1, 'immediate retries, then one more conflict')
  t.equal(controller.queue.waitingCount(), 1, 'that one waits for the backoff')
  t.ok(lines.some((l) => l.level === 'warn' && /conflicts keep coming/.test(l.msg)))
  await clock.advance(5)
  t.equal(n, DEFAULT_CONFLICT_RETRIES * 2 + 2, 'after the backoff: immediate retries again')
  conflicting = false
  await clock.advance(10)
  t.equal(await total('success'), 1)
  t.equal(controller.queue.numRequeues(requestKey(req)), 0, 'backoff forgotten')
  await controller.stop()
})

t.test('TerminalError → logged and counted, not retried', async (t) => {
  let n = 0
  const { controller, clock, total, errors, lines } = setup(async () => {
    n++
    throw new TerminalError('spec can never work', { cause: new Error('bad image') })
  })
  controller.start()
  controller.enqueue(req)
  await clock.advance(3_600_000)
  t.equal(n, 1, 'not retried')
  t.equal(await total('terminal_error'), 1)
  t.equal(await total('error'), 0)
  t.equal(await errors(), 1)
  t.equal(controller.queue.waitingCount(), 0)
  t.equal(controller.queue.numRequeues(requestKey(req)), 0)
  const line = lines.find((l) => l.level === 'error')
  t.match(line?.err?.message, /spec can never work/)
  t.match(line?.err?.message, /bad image/)
  t.equal(line?.err?.type, 'TerminalError')
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(n, 2, 'a new event reconciles it again')
  await controller.stop()
})

t.test('a malformed key is a terminal error, not a crash', async (t) => {
  const { controller, clock, total } = setup(async () => done())
  controller.start()
  controller.queue.add('not-a-key')
  await clock.advance(0)
  t.equal(await total('terminal_error'), 1)
  await controller.stop()
})

/** A reconciler whose calls stay in flight until released. */
function gated() {
  const inFlight = new Map<string, number>()
  const pending: Array<() => void> = []
  let maxConcurrent = 0
  let maxPerKey = 0
  let current = 0
  const calls: string[] = []
  const reconciler: Reconciler = async (r) => {
    const key = requestKey(r)
    calls.push(key)
    current++
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
    maxConcurrent = Math.max(maxConcurrent, current)
    maxPerKey = Math.max(maxPerKey, inFlight.get(key)!)
    await new Promise<void>((resolve) => pending.push(resolve))
    current--
    inFlight.set(key, inFlight.get(key)! - 1)
    return done()
  }
  return {
    reconciler,
    calls,
    stats: () => ({ maxConcurrent, maxPerKey, current }),
    releaseAll: async () => {
      while (pending.length > 0) {
        for (const resolve of pending.splice(0)) resolve()
        await flush()
      }
    },
    releaseOne: async () => {
      pending.shift()?.()
      await flush()
    },
  }
}

t.test('concurrency bound is never exceeded', async (t) => {
  const gate = gated()
  const { controller, clock, metrics } = setup(gate.reconciler, 3)
  controller.start()
  for (let i = 0; i < 20; i++) controller.enqueue({ kind: 'AgentRun', namespace: 'ns', name: `run-${i}` })
  await clock.advance(0)
  t.equal(gate.stats().current, 3, 'three in flight')
  t.equal(controller.activeCount(), 3)
  t.equal(await metricValue(metrics.registry, 'controller_runtime_active_workers', { controller: 'agentrun' }), 3)
  t.equal(controller.queue.len(), 17)
  for (let i = 0; i < 5; i++) await gate.releaseOne()
  t.equal(gate.stats().current, 3)
  await gate.releaseAll()
  t.equal(gate.calls.length, 20)
  t.equal(gate.stats().maxConcurrent, 3, 'never more than concurrency')
  t.equal(await metricValue(metrics.registry, 'controller_runtime_active_workers', { controller: 'agentrun' }), 0)
  await controller.stop()
})

t.test('never two workers on one key; re-adds while processing collapse into one more run', async (t) => {
  const gate = gated()
  const { controller, clock } = setup(gate.reconciler, 4)
  controller.start()
  controller.enqueue(req)
  await clock.advance(0)
  t.equal(gate.calls.length, 1)
  for (let i = 0; i < 10; i++) controller.enqueue(req)
  controller.enqueue({ ...req, name: 'other' })
  await clock.advance(0)
  t.same(gate.calls, ['AgentRun/ns/run-1', 'AgentRun/ns/other'], 'idle workers do not take the held key')
  await gate.releaseAll()
  t.same(gate.calls, ['AgentRun/ns/run-1', 'AgentRun/ns/other', 'AgentRun/ns/run-1'], 'exactly one more run for ten re-adds')
  t.equal(gate.stats().maxPerKey, 1)
  await controller.stop()
})

t.test('an erroring key retried while a re-add is pending still runs on one worker at a time', async (t) => {
  let running = 0
  let maxRunning = 0
  let n = 0
  const { controller, clock } = setup(async () => {
    running++
    maxRunning = Math.max(maxRunning, running)
    n++
    await clock.advance(0)
    running--
    if (n < 4) throw new Error('flaky')
    return done()
  }, 8)
  controller.start()
  for (let i = 0; i < 5; i++) {
    controller.enqueue(req)
    await clock.advance(3)
  }
  await clock.advance(1000)
  t.equal(maxRunning, 1)
  t.ok(n >= 4)
  await controller.stop()
})

t.test('stop() waits for in-flight reconciles and drops queued keys; drain processes them', async (t) => {
  const gate = gated()
  const { controller, clock } = setup(gate.reconciler, 1)
  controller.start()
  controller.enqueue({ ...req, name: 'a' })
  controller.enqueue({ ...req, name: 'b' })
  await clock.advance(0)
  let stopped = false
  const stopping = controller.stop().then(() => {
    stopped = true
  })
  await flush()
  t.notOk(stopped, 'waits for the in-flight reconcile')
  await gate.releaseAll()
  await stopping
  t.same(gate.calls, ['AgentRun/ns/a'], 'b was dropped')

  const gate2 = gated()
  const second = setup(gate2.reconciler, 1)
  second.controller.start()
  second.controller.enqueue({ ...req, name: 'a' })
  second.controller.enqueue({ ...req, name: 'b' })
  await second.clock.advance(0)
  const draining = second.controller.stop({ drain: true })
  await gate2.releaseAll()
  await draining
  t.same(gate2.calls, ['AgentRun/ns/a', 'AgentRun/ns/b'], 'drain processed b')
})

t.test('concurrency must be a positive integer', async (t) => {
  t.throws(() => new Controller({ name: 'x', reconciler: async () => done(), concurrency: 0 }), RangeError)
  t.throws(() => new Controller({ name: 'x', reconciler: async () => done(), concurrency: 1.5 }), RangeError)
})
