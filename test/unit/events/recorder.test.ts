import t, { type Test } from 'tap'
import { EventRecorder, microTime, referenceTo, rfc3339, type EventRecorderOptions, type ObjectReference } from '../../../src/events/recorder.ts'
import type { CoreV1Body, EventsV1Body, EventTransport } from '../../../src/events/transport.ts'
import { EventTransportError } from '../../../src/events/transport.ts'
import { createLogger } from '../../../src/log.ts'
import { createMetrics, type Metrics } from '../../../src/metrics.ts'
import { FakeTransport, namespaceNotFound } from './fake-transport.ts'

const T0 = Date.parse('2026-11-23T11:00:00Z')
const COMPONENT = 'runguard.proompteng.ai/webhook'

const run: ObjectReference = {
  apiVersion: 'agents.proompteng.ai/v1alpha1',
  kind: 'AgentRun',
  name: 'run-1',
  namespace: 'agents',
  uid: '6f1c1d7e-0000-4000-8000-000000000001',
  resourceVersion: '42',
}
const otherRun: ObjectReference = { ...run, name: 'run-2', uid: '6f1c1d7e-0000-4000-8000-000000000002' }

interface LogLine {
  level: string
  msg: string
  [key: string]: unknown
}

interface Harness {
  recorder: EventRecorder
  transport: FakeTransport
  metrics: Metrics
  logs: LogLine[]
  clock: { now: number }
  counted: (reason: string, result: string) => Promise<number>
}

function harness(overrides: Partial<EventRecorderOptions> & { enabled?: boolean; perMin?: number; transport?: EventTransport | undefined } = {}): Harness {
  const transport = new FakeTransport()
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const logs: LogLine[] = []
  const logger = createLogger('debug', 'test', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) })
  const clock = { now: T0 }
  const { enabled, perMin, ...rest } = overrides
  const recorder = new EventRecorder({
    transport,
    config: { eventsEnabled: enabled ?? true, eventsRateLimitPerMin: perMin ?? 6, podName: 'runguard-webhook-7d9f8-abcde' },
    metrics,
    logger,
    component: COMPONENT,
    clock: () => clock.now,
    ...rest,
  })
  const counted = async (reason: string, result: string): Promise<number> => {
    const { values } = await metrics.events.get()
    return values.filter((v) => v.labels.reason === reason && v.labels.result === result).reduce((sum, v) => sum + v.value, 0)
  }
  return { recorder, transport, metrics, logs, clock, counted }
}

function onlyEventsV1(t: Test, transport: FakeTransport): EventsV1Body {
  t.equal(transport.eventsV1.size, 1, 'exactly one events.k8s.io/v1 Event object')
  const [event] = transport.eventsV1.values()
  if (!event) throw new Error('no event')
  return event
}

t.test('writes an events.k8s.io/v1 Event with every field the API wants', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'spec.parameters.foo: Too long: must be at most 2048 bytes', { action: 'Admission' })
  await h.recorder.flush()
  const event = onlyEventsV1(t, h.transport)
  t.match(event.metadata.name, /^run-1\.[0-9a-f]+$/)
  t.equal(event.metadata.namespace, 'agents')
  t.same(
    { ...event, metadata: undefined },
    {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: undefined,
      eventTime: '2026-11-23T11:00:00.000000Z',
      reportingController: COMPONENT,
      reportingInstance: 'runguard-webhook-7d9f8-abcde',
      action: 'Admission',
      reason: 'InvalidSpec',
      note: 'spec.parameters.foo: Too long: must be at most 2048 bytes',
      type: 'Warning',
      regarding: run,
    },
  )
  t.notOk('series' in event, 'no series on a single occurrence')
  t.equal(h.recorder.api, 'eventsV1')
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
})

t.test('normal() writes type Normal; the default action comes from the recorder', async (t) => {
  const h = harness({ defaultAction: 'Reconcile' })
  h.recorder.normal(run, 'CancelRequested', 'cancel propagated to 2 Jobs')
  await h.recorder.flush()
  const event = onlyEventsV1(t, h.transport)
  t.equal(event.type, 'Normal')
  t.equal(event.action, 'Reconcile')
})

t.test('an object not yet persisted (CREATE admission: no uid) is named by kind/namespace/name', async (t) => {
  const h = harness()
  const pending = referenceTo({ apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name: 'new-run', namespace: 'agents' } })
  t.same(pending, { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'new-run', namespace: 'agents' })
  h.recorder.warning(pending, 'InvalidSpec', 'bad')
  await h.recorder.flush()
  const event = onlyEventsV1(t, h.transport)
  t.same(event.regarding, pending)
  t.match(event.metadata.name, /^new-run\./)
})

t.test('a cluster-scoped object gets its Event in namespace default', async (t) => {
  const h = harness()
  h.recorder.warning({ apiVersion: 'v1', kind: 'Namespace', name: 'agents' }, 'Forbidden', 'no')
  await h.recorder.flush()
  t.equal(onlyEventsV1(t, h.transport).metadata.namespace, 'default')
})

t.test('event names stay valid for very long and odd object names', async (t) => {
  const h = harness()
  h.recorder.warning({ ...run, name: 'a'.repeat(253) }, 'InvalidSpec', 'x')
  h.recorder.warning({ ...run, name: '' , kind: 'ToolRun' }, 'InvalidSpec', 'y')
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 2, 'both accepted by the (validating) fake')
  const names = [...h.transport.eventsV1.values()].map((e) => e.metadata.name)
  t.ok(names.every((n) => n.length <= 253))
  t.ok(names.some((n) => n.startsWith('toolrun.')), 'no name: the kind stands in')
})

t.test('dedupe: distinct occurrences each get an Event, an identical repeat folds into series.count', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'first problem')
  await h.recorder.flush()
  h.recorder.warning(run, 'InvalidSpec', 'second problem')
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 2, 'two distinct messages, two Events')

  h.clock.now += 1_500
  h.recorder.warning(run, 'InvalidSpec', 'first problem')
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 2, 'the repeat made no new object')
  t.same(h.transport.ops(), ['createEventsV1', 'createEventsV1', 'patchEventsV1'])
  const first = [...h.transport.eventsV1.values()].find((e) => e.note === 'first problem')
  t.same(first?.series, { count: 2, lastObservedTime: microTime(T0 + 1_500) })
  t.equal(first?.eventTime, microTime(T0), 'eventTime stays the first observation')

  h.recorder.warning(run, 'InvalidSpec', 'first problem')
  await h.recorder.flush()
  t.equal(first && h.transport.eventsV1.get(`agents/${first.metadata.name}`)?.series?.count, 3)
  t.equal(await h.counted('InvalidSpec', 'sent'), 4)
})

t.test('the same message about different objects, or with another reason, is another series', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'same')
  h.recorder.warning(otherRun, 'InvalidSpec', 'same')
  h.recorder.warning(run, 'LabelBlocked', 'same')
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 3)
})

t.test('secrets never reach the API, the note stays within 1 KiB', async (t) => {
  const h = harness()
  const token = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'
  h.recorder.warning(run, 'MissingSecret', `clone failed with ${token}; GITHUB_TOKEN=abc123\n${'é'.repeat(3000)}`)
  await h.recorder.flush()
  const event = onlyEventsV1(t, h.transport)
  t.notMatch(event.note, token)
  t.notMatch(event.note, 'abc123')
  t.notMatch(event.note, '\n')
  t.ok(Buffer.byteLength(event.note) <= 1024, `${Buffer.byteLength(event.note)} bytes`)
  t.ok(event.note.endsWith('…'))
})

t.test('50 rapid identical calls: one create, one patch, count 50', async (t) => {
  const h = harness({ perMin: 6 })
  for (let i = 0; i < 50; i++) h.recorder.warning(run, 'InvalidSpec', 'same problem')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['createEventsV1', 'patchEventsV1'])
  t.equal(onlyEventsV1(t, h.transport).series?.count, 50)
  t.equal(await h.counted('InvalidSpec', 'sent'), 2)
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 48)
})

t.test('50 repeats one after another are bounded by the rate limit and folded later', async (t) => {
  const h = harness({ perMin: 6 })
  for (let i = 0; i < 50; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'same problem')
    await h.recorder.flush()
  }
  t.equal(h.transport.calls.length, 6, 'create + 5 patches: 6 writes for the object this minute')
  t.equal(onlyEventsV1(t, h.transport).series?.count, 6)
  t.equal(await h.counted('InvalidSpec', 'sent'), 6)
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 44)

  h.clock.now += 10_000 // one token back
  h.recorder.warning(run, 'InvalidSpec', 'same problem')
  await h.recorder.flush()
  t.equal(onlyEventsV1(t, h.transport).series?.count, 51, 'the 44 suppressed repeats are folded into the next allowed write')
  t.equal(h.transport.calls.length, 7)
})

t.test('transient errors: first sent, then at most the limit per object (not per reason)', async (t) => {
  const h = harness({ perMin: 3 })
  for (let i = 0; i < 10; i++) {
    h.recorder.warning(run, 'Forbidden', `jobs.batch is forbidden (attempt ${i})`, { transient: true })
    h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
    await h.recorder.flush()
  }
  t.equal(h.transport.calls.length, 3, 'three writes for the object in total')
  t.equal(await h.counted('Forbidden', 'sent'), 2)
  t.equal(await h.counted('ApiUnavailable', 'sent'), 1)
  t.equal((await h.counted('Forbidden', 'suppressed')) + (await h.counted('ApiUnavailable', 'suppressed')), 17)

  h.recorder.warning(otherRun, 'Forbidden', 'jobs.batch is forbidden (attempt 0)', { transient: true })
  await h.recorder.flush()
  t.equal(h.transport.calls.length, 4, 'another object has its own budget')

  h.clock.now += 20_000 // two tokens back for run
  h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
  await h.recorder.flush()
  const unavailable = [...h.transport.eventsV1.values()].find((e) => e.reason === 'ApiUnavailable')
  t.equal(unavailable?.series?.count, 11, 'suppressed repeats folded into the series on the next allowed send')
})

t.test('a distinct non-retryable occurrence is sent even when the object is over its transient budget', async (t) => {
  const h = harness({ perMin: 1 })
  h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
  h.recorder.warning(run, 'ApiUnavailable', 'timeout', { transient: true })
  h.recorder.warning(run, 'InvalidSpec', 'spec.cancel: Invalid value: "yes": must be a boolean')
  await h.recorder.flush()
  t.same(
    [...h.transport.eventsV1.values()].map((e) => e.note),
    ['connection refused', 'spec.cancel: Invalid value: "yes": must be a boolean'],
  )
  t.equal(await h.counted('ApiUnavailable', 'suppressed'), 1)
})

t.test('a transient occurrence that was suppressed first is created later carrying its count', async (t) => {
  const h = harness({ perMin: 1 })
  h.recorder.warning(run, 'InvalidSpec', 'takes the only token')
  h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
  h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 1)
  h.clock.now += 60_000
  h.recorder.warning(run, 'ApiUnavailable', 'connection refused', { transient: true })
  await h.recorder.flush()
  const event = [...h.transport.eventsV1.values()].find((e) => e.reason === 'ApiUnavailable')
  t.same(event?.series, { count: 3, lastObservedTime: microTime(T0 + 60_000) })
})

t.test('disabled: nothing is sent, occurrences count as suppressed, one log line says so', async (t) => {
  const h = harness({ enabled: false })
  t.equal(h.logs.length, 1)
  t.match(h.logs[0]?.msg, /Events are off/)
  t.equal(h.recorder.enabled, false)
  for (let i = 0; i < 5; i++) h.recorder.warning(run, 'InvalidSpec', `problem ${i}`)
  await h.recorder.flush()
  t.equal(h.transport.calls.length, 0)
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 5)
  t.equal(h.logs.length, 1, 'no log line per occurrence')
})

t.test('no transport (no credentials): same as disabled', async (t) => {
  const h = harness({ transport: undefined })
  t.equal(h.logs.length, 1)
  t.match(h.logs[0]?.msg, /no Kubernetes API credentials/)
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 1)
})

t.test('enabled with a transport: no start-up log line', async (t) => {
  const h = harness()
  t.equal(h.logs.length, 0)
})

t.test('dryRun occurrences are dropped and not counted', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'x', { dryRun: true })
  await h.recorder.flush()
  t.equal(h.transport.calls.length, 0)
  const { values } = await h.metrics.events.get()
  t.equal(values.length, 0)
})

t.test('transport failures are counted, logged once per run of failures, never thrown', async (t) => {
  const h = harness()
  h.transport.failWith = () => new EventTransportError('HTTP 500 InternalError: etcd is down', { statusCode: 500 })
  t.doesNotThrow(() => {
    h.recorder.warning(run, 'InvalidSpec', 'a')
    h.recorder.warning(otherRun, 'InvalidSpec', 'b')
    h.recorder.warning(run, 'JobMissing', 'c')
  })
  await h.recorder.flush()
  t.equal(await h.counted('InvalidSpec', 'failed'), 2)
  t.equal(await h.counted('JobMissing', 'failed'), 1)
  const warnings = h.logs.filter((l) => l.level === 'warn')
  t.equal(warnings.length, 1, 'logged once')
  t.match(warnings[0], { statusCode: 500, err: { message: /etcd is down/ } })

  h.transport.failWith = undefined
  h.recorder.warning(run, 'InvalidSpec', 'd')
  await h.recorder.flush()
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
  t.ok(h.logs.some((l) => l.level === 'info' && /works again/.test(l.msg)))

  h.transport.failWith = () => new Error('socket hang up')
  h.recorder.warning(run, 'InvalidSpec', 'e')
  await h.recorder.flush()
  t.equal(h.logs.filter((l) => l.level === 'warn').length, 2, 'a new run of failures is logged again')
})

t.test('a failed first create does not make later repeats free: they need tokens', async (t) => {
  const h = harness({ perMin: 2 })
  h.transport.failWith = () => new EventTransportError('down', { statusCode: 503 })
  for (let i = 0; i < 20; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'same')
    await h.recorder.flush()
  }
  t.equal(h.transport.calls.length, 2, 'bounded retries while the API is down')
  t.equal(await h.counted('InvalidSpec', 'failed'), 2)
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 18)
})

t.test('a transport that throws synchronously or rejects with junk does not reach the caller', async (t) => {
  const h = harness({
    transport: {
      createEventsV1: () => {
        throw new TypeError('boom')
      },
      patchEventsV1: () => Promise.reject(new Error('x')),
      createCoreV1: () => Promise.reject('a string'),
      patchCoreV1: () => Promise.reject(undefined),
    },
  })
  t.doesNotThrow(() => h.recorder.warning(run, 'InvalidSpec', 'x'))
  await h.recorder.flush()
  t.equal(await h.counted('InvalidSpec', 'failed'), 1)
})

t.test('never blocks: warning() returns before the transport answers; flush() waits for it', async (t) => {
  const h = harness()
  h.transport.hold()
  const started = performance.now()
  h.recorder.warning(run, 'InvalidSpec', 'x')
  // Generous for a loaded machine: a warning() that waited on the held transport would never return.
  t.ok(performance.now() - started < 1_000, 'returned at once')
  t.equal(h.transport.calls.length, 0, 'the transport is not even called inside the caller’s stack')

  let flushed = false
  const flushing = h.recorder.flush().then(() => (flushed = true))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(h.transport.calls.length, 1, 'the write started')
  t.equal(h.transport.heldCalls, 1, 'and is waiting on the API')
  t.equal(flushed, false, 'flush waits for it')
  t.equal(await h.counted('InvalidSpec', 'sent'), 0)

  h.transport.release()
  await flushing
  t.equal(flushed, true)
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
})

t.test('flush(timeout) gives up on a hung API; a hung call times out as failed', async (t) => {
  const h = harness({ sendTimeoutMs: 100 })
  h.transport.hold()
  h.recorder.warning(run, 'InvalidSpec', 'x')
  t.equal(await h.recorder.flush(10), false, 'not finished within 10 ms')
  t.equal(await h.recorder.flush(2_000), true, 'finished once the send timed out')
  t.equal(await h.counted('InvalidSpec', 'failed'), 1)
  t.match(h.logs.find((l) => l.level === 'warn'), { err: { message: /no answer within 100 ms/ } })
  h.transport.release()
})

t.test('falls back to core v1 Events for good when events.k8s.io/v1 answers 404', async (t) => {
  const h = harness()
  h.transport.eventsV1Served = false
  h.recorder.warning(run, 'InvalidSpec', 'bad spec')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['createEventsV1', 'createCoreV1'])
  t.equal(h.recorder.api, 'coreV1')
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
  t.equal(h.logs.filter((l) => /not served/.test(l.msg)).length, 1, 'the switch is logged once')

  t.equal(h.transport.coreV1.size, 1)
  const [event] = h.transport.coreV1.values() as IterableIterator<CoreV1Body>
  t.match(event?.metadata.name, /^run-1\.[0-9a-f]+$/)
  t.same({ ...event, metadata: undefined }, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: undefined,
    involvedObject: run,
    reason: 'InvalidSpec',
    message: 'bad spec',
    type: 'Warning',
    action: 'Reconcile',
    source: { component: COMPONENT },
    firstTimestamp: '2026-11-23T11:00:00Z',
    lastTimestamp: '2026-11-23T11:00:00Z',
    count: 1,
    reportingComponent: COMPONENT,
    reportingInstance: 'runguard-webhook-7d9f8-abcde',
  })

  h.clock.now += 5_000
  h.recorder.warning(run, 'InvalidSpec', 'bad spec')
  h.recorder.warning(otherRun, 'InvalidSpec', 'bad spec')
  await h.recorder.flush()
  t.same(h.transport.ops().slice(2), ['patchCoreV1', 'createCoreV1'], 'no more events.k8s.io/v1 attempts')
  const patched = h.transport.coreV1.get(`agents/${event?.metadata.name}`)
  t.equal(patched?.count, 2)
  t.equal(patched?.lastTimestamp, rfc3339(T0 + 5_000))
  t.equal(h.transport.coreV1.size, 2)
})

t.test('concurrent first creates all fall back', async (t) => {
  const h = harness()
  h.transport.eventsV1Served = false
  h.recorder.warning(run, 'InvalidSpec', 'a')
  h.recorder.warning(otherRun, 'InvalidSpec', 'b')
  await h.recorder.flush()
  t.equal(h.transport.coreV1.size, 2)
  t.equal(await h.counted('InvalidSpec', 'sent'), 2)
})

t.test('a 404 for a missing namespace is a failure, not a reason to fall back', async (t) => {
  const h = harness()
  h.transport.failWith = (call) => (call.op === 'createEventsV1' ? namespaceNotFound(call.namespace) : undefined)
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['createEventsV1'])
  t.equal(h.recorder.api, 'probing')
  t.equal(await h.counted('InvalidSpec', 'failed'), 1)
})

t.test('once events.k8s.io/v1 worked, a later 404 does not switch APIs', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  h.transport.eventsV1Served = false
  h.recorder.warning(otherRun, 'InvalidSpec', 'y')
  await h.recorder.flush()
  t.equal(h.recorder.api, 'eventsV1')
  t.equal(await h.counted('InvalidSpec', 'failed'), 1)
  t.notOk(h.transport.ops().includes('createCoreV1'))
})

t.test('an Event that expired (patch 404) is created again carrying the series', async (t) => {
  const h = harness()
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  h.transport.eventsV1.clear() // the API server's event TTL ran out
  h.clock.now += 1_000
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['createEventsV1', 'patchEventsV1', 'createEventsV1'])
  t.same(onlyEventsV1(t, h.transport).series, { count: 2, lastObservedTime: microTime(T0 + 1_000) })
  t.equal(await h.counted('InvalidSpec', 'sent'), 2)
})

t.test('a name clash (409) is retried once with a fresh name', async (t) => {
  const h = harness()
  let clashes = 1
  h.transport.failWith = (call) =>
    call.op === 'createEventsV1' && clashes-- > 0 ? new EventTransportError('exists', { statusCode: 409, statusReason: 'AlreadyExists' }) : undefined
  h.recorder.warning(run, 'InvalidSpec', 'x')
  await h.recorder.flush()
  t.equal(h.transport.calls.length, 2)
  t.not(h.transport.calls[0]?.name, h.transport.calls[1]?.name)
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
})

t.test('memory is bounded: the series map keeps at most maxKeys; idle series expire', async (t) => {
  const h = harness({ maxKeys: 100, idleTtlMs: 60 * 60 * 1000 })
  for (let i = 0; i < 1_000; i++) h.recorder.warning({ ...run, name: `run-${i}`, uid: `uid-${i}` }, 'InvalidSpec', `problem ${i}`)
  await h.recorder.flush()
  t.equal(h.transport.eventsV1.size, 1_000, 'every distinct occurrence was sent')
  t.equal(h.recorder.trackedSeries, 100)

  h.transport.calls = []
  h.recorder.warning({ ...run, name: 'run-999', uid: 'uid-999' }, 'InvalidSpec', 'problem 999')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['patchEventsV1'], 'a recent series is still known')

  h.clock.now += 60 * 60 * 1000
  h.recorder.warning({ ...run, name: 'run-999', uid: 'uid-999' }, 'InvalidSpec', 'problem 999')
  await h.recorder.flush()
  t.same(h.transport.ops(), ['patchEventsV1', 'createEventsV1'], 'after an idle hour it starts a new Event')
})

t.test('close(): waits for writes in flight, later calls count as suppressed', async (t) => {
  const h = harness()
  h.transport.hold()
  h.recorder.warning(run, 'InvalidSpec', 'x')
  setTimeout(() => h.transport.release(), 10)
  await h.recorder.close()
  t.equal(await h.counted('InvalidSpec', 'sent'), 1)
  h.recorder.warning(run, 'InvalidSpec', 'y')
  await h.recorder.flush()
  t.equal(await h.counted('InvalidSpec', 'suppressed'), 1)
  t.equal(h.transport.calls.length, 1)
  t.equal(h.recorder.trackedSeries, 0)
})

t.test('time formats', async (t) => {
  t.equal(microTime(Date.parse('2026-11-23T11:00:00.123Z')), '2026-11-23T11:00:00.123000Z')
  t.equal(rfc3339(Date.parse('2026-11-23T11:00:00.123Z')), '2026-11-23T11:00:00Z')
})
