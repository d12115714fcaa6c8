/** The retention pass as a reconciler: cap (≤ 0 = off), uid preconditions, ttl 0, off switch, errors. */
import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { silentLogger } from '../../../src/log.ts'
import { done, requeueAfter } from '../../../src/controller/reconcile.ts'
import { KubeApiError } from '../../../src/kube/errors.ts'
import { createRetentionReconciler, retentionDelay, retentionRequest } from '../../../src/reconcile/retention-reconciler.ts'
import type { RetentionConfig } from '../../../src/reconcile/retention.ts'
import { agentRun, cacheOf, FakeApi, FakeRecorder, iso, T0_MS } from './fixtures.ts'

const finished = (name: string, ttl: unknown, finishedMs = T0_MS - 60_000, namespace = 'agents', annotations?: Record<string, string>): KubeObject =>
  agentRun(name, { namespace, spec: { ttlSecondsAfterFinished: ttl }, ...(annotations ? { annotations } : {}), status: { phase: 'Succeeded', finishedAt: iso(finishedMs) } })

type TestConfig = RetentionConfig & { retentionEnabled: boolean; namespaces: string[] }
const base: TestConfig = { agentRunRetentionSeconds: 3600, retentionZeroTtlMaxSeconds: 0, retentionMaxDeletesPerNamespace: 2, retentionEnabled: true, namespaces: [] }

function setup(runs: KubeObject[], config: Partial<TestConfig> = {}) {
  const clock = { now: T0_MS }
  const api = new FakeApi()
  const recorder = new FakeRecorder()
  for (const r of runs) api.put('agentruns', r)
  const reconcile = createRetentionReconciler({
    config: { ...base, ...config },
    cache: cacheOf(runs),
    api,
    recorder,
    logger: silentLogger(),
    clock: () => clock.now,
  })
  const deleted = () => api.calls.filter((c) => c.op === 'delete').map((c) => c.name)
  return { api, recorder, reconcile, clock, deleted }
}

t.test('a pass deletes expired runs of its namespace, oldest first, up to the cap', async (t) => {
  const s = setup([finished('a', 1, T0_MS - 3000), finished('b', 1, T0_MS - 2000), finished('c', 1, T0_MS - 1500), finished('x', 1, T0_MS - 5000, 'other'), finished('later', 120)])
  const result = await s.reconcile(retentionRequest('agents'))
  t.same(s.api.calls.map((c) => [c.op, c.name, c.options]), [
    ['delete', 'a', { propagationPolicy: 'Background', uid: 'uid-a' }],
    ['delete', 'b', { propagationPolicy: 'Background', uid: 'uid-b' }],
  ])
  t.same(result, requeueAfter(5_000), 'the rest in the next pass')
})

t.test('ttl 0 runs: kept with the default zero-TTL maximum (0), never deleted at once', async (t) => {
  const s = setup([finished('zero', 0, T0_MS - 365 * 24 * 3600 * 1000), finished('zero-str', '0', T0_MS - 1000)])
  t.same(await s.reconcile(retentionRequest('agents')), done(), 'nothing due, nothing scheduled')
  t.same(s.deleted(), [], 'no delete')
  t.equal(retentionDelay(finished('zero', 0), base, T0_MS), undefined, 'no pass scheduled for it')
})

t.test('ttl 0 runs with a zero-TTL maximum of 60 s: deleted 60 s after finishing', async (t) => {
  const s = setup([finished('zero', 0, T0_MS)], { retentionZeroTtlMaxSeconds: 60 })
  s.clock.now = T0_MS + 59_999
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(1), '1 ms early: come back at the deadline')
  t.same(s.deleted(), [])
  s.clock.now = T0_MS + 60_000
  await s.reconcile(retentionRequest('agents'))
  t.same(s.deleted(), ['zero'], 'deleted at the deadline')
  t.equal(retentionDelay(finished('zero', 0, T0_MS), { ...base, retentionZeroTtlMaxSeconds: 60 }, T0_MS), 60_000, 'scheduled at the deadline')
})

t.test('templates and retained runs are never deleted', async (t) => {
  const runs = [
    finished('template', 1, T0_MS - 10_000, 'agents', { 'agents.proompteng.ai/template': 'true' }),
    finished('retained', 1, T0_MS - 10_000, 'agents', { 'agents.proompteng.ai/retain': ' Forever ' }),
    finished('plain', 1, T0_MS - 10_000),
  ]
  const s = setup(runs)
  await s.reconcile(retentionRequest('agents'))
  t.same(s.deleted(), ['plain'])
  t.equal(retentionDelay(runs[0]!, base, T0_MS), undefined, 'no pass scheduled for a template')
  t.equal(retentionDelay(runs[1]!, base, T0_MS), undefined, 'no pass scheduled for a retained run')
})

t.test('next pass at the next deadline', async (t) => {
  const s = setup([finished('later', 120)])
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(60_000))
  t.same(s.api.calls, [])
})

t.test('off switch and namespace scoping', async (t) => {
  const off = setup([finished('a', 1)], { retentionEnabled: false })
  t.same(await off.reconcile(retentionRequest('agents')), done())
  t.same(off.api.calls, [])
  const scoped = setup([finished('a', 1)], { namespaces: ['elsewhere'] })
  await scoped.reconcile(retentionRequest('agents'))
  t.same(scoped.api.calls, [])
  const inScope = setup([finished('a', 1)], { namespaces: ['agents'] })
  await inScope.reconcile(retentionRequest('agents'))
  t.same(inScope.deleted(), ['a'], 'a listed namespace is in scope')
})

t.test('max deletes per namespace ≤ 0 disables deletes entirely', async (t) => {
  for (const cap of [0, -1]) {
    const s = setup([finished('a', 1), finished('b', 1), finished('later', 120)], { retentionMaxDeletesPerNamespace: cap })
    t.same(await s.reconcile(retentionRequest('agents')), done(), `cap ${cap}: no next pass`)
    s.clock.now = T0_MS + 3_600_000
    t.same(await s.reconcile(retentionRequest('agents')), done(), `cap ${cap}: still nothing an hour later`)
    t.same(s.api.calls, [], `cap ${cap}: no delete`)
    t.equal(retentionDelay(finished('a', 1), { ...base, retentionMaxDeletesPerNamespace: cap }, T0_MS), undefined, `cap ${cap}: no pass scheduled`)
  }
})

t.test('max deletes per namespace 1: one delete per pass window', async (t) => {
  const s = setup([finished('a', 1, T0_MS - 3000), finished('b', 1, T0_MS - 2000)], { retentionMaxDeletesPerNamespace: 1 })
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(5_000))
  t.same(s.deleted(), ['a'], 'the oldest only')
  s.clock.now = T0_MS + 1_000
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(4_000), 'same window: wait for it to end')
  t.same(s.deleted(), ['a'])
})

t.test('invalid spec value: reported once, the default retention applies', async (t) => {
  const s = setup([finished('bad', 'soon'), finished('negative', -5)])
  await s.reconcile(retentionRequest('agents'))
  await s.reconcile(retentionRequest('agents'))
  t.same(s.recorder.events.map((e) => [e.reason, e.regarding.name]), [['InvalidSpec', 'bad'], ['InvalidSpec', 'negative']])
  t.same(s.deleted(), [], 'finished a minute ago, default 1 h: not yet')
})

t.test('a forbidden delete: Warning Forbidden on the run, the pass fails (retried)', async (t) => {
  const s = setup([finished('a', 1), finished('b', 1)])
  s.api.failWith = (call) => (call.name === 'a' ? new KubeApiError('delete AgentRun agents/a: HTTP 403 Forbidden', { statusCode: 403, statusReason: 'Forbidden' }) : undefined)
  await t.rejects(s.reconcile(retentionRequest('agents')), KubeApiError)
  t.same(s.api.calls.map((c) => c.name), ['a', 'b'], 'the other deletes still happen')
  t.same(s.recorder.events.map((e) => [e.reason, e.opts.transient, e.regarding.name]), [['Forbidden', false, 'a']])
})

t.test('retentionDelay schedules the pass at the deadline', async (t) => {
  t.equal(retentionDelay(finished('a', 120), base, T0_MS), 60_000)
  t.equal(retentionDelay(finished('a', 1), base, T0_MS), 1, 'past: at once')
  t.equal(retentionDelay(agentRun('a', { status: { phase: 'Running' } }), base, T0_MS), undefined)
  t.equal(retentionDelay(finished('a', undefined, T0_MS), { ...base, agentRunRetentionSeconds: 2592000 }, T0_MS), 6 * 3600 * 1000, '30 d is clamped (re-planned later)')
  t.equal(retentionDelay(finished('a', undefined, T0_MS), { ...base, agentRunRetentionSeconds: 0 }, T0_MS), undefined, 'default 0: kept, nothing scheduled')
})

t.test('the cap holds per pass window, even when events bring the pass back sooner', async (t) => {
  const runs = ['a', 'b', 'c', 'd', 'e'].map((name, i) => finished(name, 1, T0_MS - 10_000 + i))
  const s = setup(runs)
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(5_000))
  t.same(s.deleted(), ['a', 'b'])
  // An AgentRun event brings the pass back 1 s later: nothing more in this window.
  s.clock.now = T0_MS + 1_000
  t.same(await s.reconcile(retentionRequest('agents')), requeueAfter(4_000), 'come back when the window ends')
  t.same(s.deleted(), ['a', 'b'])
  // The next window: the next two (the fake cache still lists a and b; their deletes answer "gone").
  s.clock.now = T0_MS + 5_000
  await s.reconcile(retentionRequest('agents'))
  t.same(s.deleted(), ['a', 'b', 'a', 'b'], 'the cache decides what is due; already-deleted runs are harmless')
})
