/**
 * Issue 14, "Events bounded": a storm of invalid objects through the one EventRecorder (SPEC §4)
 * against the fake API transport, and series counts that tell the truth when the storm stops.
 *
 * SPEC §4 limits checked: every distinct non-retryable occurrence is one Event (deduplicated);
 * repeats fold into `series.count` of that one Event, never a second object; writes per object stay
 * within the token bucket (`eventsRateLimitPerMin` burst, then that many per minute) plus the
 * series flush (one patch per series per flush period); `runguard_events_total` accounts for every
 * occurrence exactly once, and the API's counts add up to the occurrences recorded.
 */
import t from 'tap'
import type { ObjectReference } from '../../src/events/recorder.ts'
import type { EventsV1Body } from '../../src/events/transport.ts'
import { CONFIGS } from './arbitraries.ts'
import { eventHarness, T0, type EventHarness } from './event-harness.ts'
import { groupOf, NOW } from './oracle.ts'
import { reviewAdmission } from '../../src/admission/review.ts'
import type { AdmissionRequest } from '../../src/admission/types.ts'

const FLUSH_MS = 30_000

const ref = (name: string): ObjectReference => ({ apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name, namespace: 'agents' })

/** The InvalidSpec message the validating webhook gives an AgentRun whose spec.cancel is `value`. */
function invalidSpecMessage(name: string, value: string): string {
  const object = {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name, namespace: 'agents' },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' }, cancel: value },
  }
  const request: AdmissionRequest = {
    uid: `storm-${name}`,
    kind: { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' },
    resource: { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' },
    name,
    namespace: 'agents',
    operation: 'CREATE',
    userInfo: { username: 'alice@example.com' },
    object,
  }
  const { decision } = reviewAdmission(groupOf('validating').routes, 'validating', request, CONFIGS.default!, NOW)
  if (decision.allowed || decision.invalidSpec.length === 0) throw new Error(`expected an InvalidSpec denial, got ${decision.reason}`)
  return decision.message as string
}

function eventsFor(h: EventHarness, name: string): EventsV1Body[] {
  return [...h.transport.eventsV1.values()].filter((e) => e.regarding.name === name)
}

/** Lets the recorder's writes (started outside the caller's stack) run and finish. */
async function settle(h: EventHarness): Promise<void> {
  await h.recorder.flush()
}

t.test('a storm of 1,000 distinct invalid objects and 1,000 repeats of one stays within SPEC §4 and is counted exactly', async (t) => {
  const perMin = 6
  const h = eventHarness({ perMin })
  const repeated = ref('storm-repeated')
  const repeatedMessage = invalidSpecMessage('storm-repeated', 'yes')
  const writeTimes: number[] = []
  const originalCreate = h.transport.createEventsV1.bind(h.transport)
  const originalPatch = h.transport.patchEventsV1.bind(h.transport)
  h.transport.createEventsV1 = async (namespace, body) => {
    if (body.regarding.name === repeated.name) writeTimes.push(h.clock.now)
    return originalCreate(namespace, body)
  }
  h.transport.patchEventsV1 = async (namespace, name, patch) => {
    if (name.startsWith(`${repeated.name}.`)) writeTimes.push(h.clock.now)
    return originalPatch(namespace, name, patch)
  }

  // 100 simulated seconds: every 100 ms one distinct invalid object and one repeat.
  for (let i = 0; i < 1_000; i++) {
    const name = `storm-${i}`
    h.recorder.warning(ref(name), 'InvalidSpec', invalidSpecMessage(name, `yes-${i}`), { action: 'Admission' })
    h.recorder.warning(repeated, 'InvalidSpec', repeatedMessage, { action: 'Admission' })
    await settle(h)
    h.timers.advance(100)
  }
  // The storm is over: within one flush period the series must show every repeat.
  h.timers.advance(FLUSH_MS)
  await settle(h)

  // Distinct objects: exactly one Event each, created once, never patched.
  let distinctOk = 0
  for (let i = 0; i < 1_000; i++) if (eventsFor(h, `storm-${i}`).length === 1 && eventsFor(h, `storm-${i}`)[0]?.series === undefined) distinctOk++
  t.equal(distinctOk, 1_000, 'each distinct invalid object: one Event, count 1')

  // The repeated object: one Event whose series counts all 1,000 occurrences.
  const series = eventsFor(h, repeated.name)
  t.equal(series.length, 1, 'repeats fold into one Event object')
  t.equal(series[0]?.series?.count, 1_000, 'series.count shows every repeat once the storm is over')
  t.equal(h.transport.eventsV1.size, 1_001, 'Event objects in total: one per distinct occurrence')

  // Writes for the repeated object: the token bucket (burst perMin, then perMin per minute) plus
  // at most one flush patch per flush period.
  const windowMax = Math.max(...writeTimes.map((start) => writeTimes.filter((at) => at >= start && at < start + 60_000).length))
  t.ok(windowMax <= 2 * perMin - 1 + Math.ceil(60_000 / FLUSH_MS), `at most ${2 * perMin - 1} + flushes writes in any minute (saw ${windowMax})`)
  const durationMin = (h.clock.now - writeTimes[0]!) / 60_000
  t.ok(writeTimes.length <= perMin + Math.ceil(durationMin * perMin) + Math.ceil(durationMin * 2) + 1, `writes for the repeated object bounded: ${writeTimes.length} over ${durationMin.toFixed(1)} min`)

  // The metric accounts for every occurrence exactly once and agrees with the API.
  const sent = await h.counted('InvalidSpec', 'sent')
  const suppressed = await h.counted('InvalidSpec', 'suppressed')
  const failed = await h.counted('InvalidSpec', 'failed')
  t.equal(sent + suppressed + failed, 2_000, 'sent + suppressed + failed = occurrences')
  t.equal(failed, 0)
  const calls = h.transport.calls.length
  t.ok(sent <= calls && calls - sent <= Math.ceil((h.clock.now - T0) / FLUSH_MS) + 1, `every counted send is an API write; the rest are flush patches (${calls} calls, ${sent} sent)`)
  const apiTotal = [...h.transport.eventsV1.values()].reduce((sum, e) => sum + (e.series?.count ?? 1), 0)
  t.equal(apiTotal, 2_000, "the API's Event counts add up to the occurrences recorded")
  t.equal(suppressed, 2_000 - sent, 'suppressed = occurrences that had no write of their own')
})

t.test('series flush: 300 repeats no longer leave series.count at 6 (timer ≤ 30 s)', async (t) => {
  const h = eventHarness({ perMin: 6 })
  const run = ref('run-300')
  for (let i = 0; i < 300; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'spec.cancel: Invalid value: "yes": must be a boolean (true or false)')
    await settle(h)
  }
  const [event] = eventsFor(h, 'run-300')
  t.equal(event?.series?.count, 6, 'before the flush: the rate limit stopped the writes at 6')
  h.timers.advance(FLUSH_MS - 1)
  await settle(h)
  t.equal(eventsFor(h, 'run-300')[0]?.series?.count, 6, 'nothing before the flush period')
  h.timers.advance(1)
  await settle(h)
  t.equal(eventsFor(h, 'run-300')[0]?.series?.count, 300, 'the flush writes the pending count')
  t.equal(await h.counted('InvalidSpec', 'sent') + (await h.counted('InvalidSpec', 'suppressed')), 300, 'the flush write is not an occurrence of its own')
  t.equal(h.timers.pending, 0, 'no timer left once nothing is pending')

  h.timers.advance(10 * FLUSH_MS)
  await settle(h)
  t.equal(h.transport.calls.length, 7, 'a quiet series is not written again')
})

t.test('series flush at shutdown: close() writes pending counts', async (t) => {
  const h = eventHarness({ perMin: 6 })
  const run = ref('run-close')
  for (let i = 0; i < 300; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'same problem')
    await settle(h)
  }
  t.equal(eventsFor(h, 'run-close')[0]?.series?.count, 6)
  await h.recorder.close()
  t.equal(eventsFor(h, 'run-close')[0]?.series?.count, 300, 'close() folds the pending repeats in')
  t.equal(h.timers.pending, 0, 'close() leaves no timer behind')
})

t.test('series flush while a write is in flight, and for repeats that arrive during it', async (t) => {
  const h = eventHarness({ perMin: 2 })
  const run = ref('run-held')
  h.transport.hold()
  for (let i = 0; i < 50; i++) h.recorder.warning(run, 'InvalidSpec', 'same problem')
  h.transport.release()
  await settle(h)
  for (let i = 0; i < 50; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'same problem')
    await settle(h)
  }
  h.timers.advance(FLUSH_MS)
  await settle(h)
  t.equal(eventsFor(h, 'run-held')[0]?.series?.count, 100)
  t.equal(eventsFor(h, 'run-held').length, 1)
})

t.test('a flush does not create an Event beyond the rate limit: it waits for a token', async (t) => {
  const h = eventHarness({ perMin: 1 })
  const run = ref('run-transient')
  // The object's one token goes to the first transient occurrence of another series.
  h.recorder.warning(run, 'Forbidden', 'first problem', { transient: true })
  await settle(h)
  h.recorder.warning(run, 'ApiUnavailable', 'second problem', { transient: true })
  h.recorder.warning(run, 'ApiUnavailable', 'second problem', { transient: true })
  await settle(h)
  t.equal(h.transport.eventsV1.size, 1, 'the second series is suppressed: no token')
  h.timers.advance(FLUSH_MS)
  await settle(h)
  t.equal(h.transport.eventsV1.size, 1, 'after 30 s half a token is back: the flush waits')
  h.timers.advance(FLUSH_MS)
  await settle(h)
  const second = [...h.transport.eventsV1.values()].find((e) => e.reason === 'ApiUnavailable')
  t.equal(second?.series?.count, 2, 'after a token came back, the flush creates it carrying its count')
  t.ok(h.transport.eventsV1.size <= 2)
})

t.test('a failed flush write is not retried forever and is not counted as an occurrence', async (t) => {
  const h = eventHarness({ perMin: 1 })
  const run = ref('run-failing')
  for (let i = 0; i < 5; i++) {
    h.recorder.warning(run, 'InvalidSpec', 'same problem')
    await settle(h)
  }
  h.transport.failWith = () => new Error('connection refused')
  h.timers.advance(FLUSH_MS)
  await settle(h)
  const callsAfterFailure = h.transport.calls.length
  h.timers.advance(10 * FLUSH_MS)
  await settle(h)
  t.equal(h.transport.calls.length, callsAfterFailure, 'no retry loop against a failing API')
  t.equal((await h.counted('InvalidSpec', 'sent')) + (await h.counted('InvalidSpec', 'suppressed')) + (await h.counted('InvalidSpec', 'failed')), 5)
})
