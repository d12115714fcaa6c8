/** The retention pass as a reconciler: cap, uid preconditions, off switch, errors. */
import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { silentLogger } from '../../../src/log.ts'
import { ApiError } from '../../../src/reconcile/api.ts'
import { createRetentionReconciler, retentionDelay, retentionRequest } from '../../../src/reconcile/retention-reconciler.ts'
import { agentRun, cacheOf, FakeApi, FakeRecorder, iso, T0_MS } from './fixtures.ts'

const done = (name: string, ttl: unknown, finishedMs = T0_MS - 60_000, namespace = 'agents'): KubeObject =>
  agentRun(name, { namespace, spec: { ttlSecondsAfterFinished: ttl }, status: { phase: 'Succeeded', finishedAt: iso(finishedMs) } })

function setup(runs: KubeObject[], config: Partial<{ retentionEnabled: boolean; retentionMaxDeletesPerNamespace: number; namespaces: string[] }> = {}) {
  const clock = { now: T0_MS }
  const api = new FakeApi()
  const recorder = new FakeRecorder()
  for (const r of runs) api.put('agentruns', r)
  const reconcile = createRetentionReconciler({
    config: { agentRunRetentionSeconds: 3600, retentionMaxDeletesPerNamespace: 2, retentionEnabled: true, namespaces: [], ...config },
    cache: cacheOf(runs),
    api,
    recorder,
    logger: silentLogger(),
    clock: () => clock.now,
  })
  return { api, recorder, reconcile, clock }
}

t.test('a pass deletes expired runs of its namespace, oldest first, up to the cap', async (t) => {
  const s = setup([done('a', 0, T0_MS - 3000), done('b', 0, T0_MS - 2000), done('c', 0, T0_MS - 1000), done('x', 0, T0_MS, 'other'), done('later', 120)])
  const result = await s.reconcile(retentionRequest('agents'))
  t.same(s.api.calls.map((c) => [c.op, c.name, c.options]), [
    ['delete', 'a', { propagationPolicy: 'Background', uid: 'uid-a' }],
    ['delete', 'b', { propagationPolicy: 'Background', uid: 'uid-b' }],
  ])
  t.same(result, { requeueAfterMs: 5_000 }, 'the rest in the next pass')
})

t.test('next pass at the next deadline', async (t) => {
  const s = setup([done('later', 120)])
  t.same(await s.reconcile(retentionRequest('agents')), { requeueAfterMs: 60_000 })
  t.same(s.api.calls, [])
})

t.test('off switch and namespace scoping', async (t) => {
  const off = setup([done('a', 0)], { retentionEnabled: false })
  t.same(await off.reconcile(retentionRequest('agents')), {})
  t.same(off.api.calls, [])
  const scoped = setup([done('a', 0)], { namespaces: ['elsewhere'] })
  await scoped.reconcile(retentionRequest('agents'))
  t.same(scoped.api.calls, [])
})

t.test('invalid spec value: reported once, the default retention applies', async (t) => {
  const s = setup([done('bad', 'soon')])
  await s.reconcile(retentionRequest('agents'))
  await s.reconcile(retentionRequest('agents'))
  t.same(s.recorder.events.map((e) => [e.reason, e.regarding.name]), [['InvalidSpec', 'bad']])
})

t.test('a forbidden delete: Warning Forbidden on the run, the pass fails (retried)', async (t) => {
  const s = setup([done('a', 0), done('b', 0)])
  s.api.failWith = (call) => (call.name === 'a' ? new ApiError('delete AgentRun agents/a: HTTP 403 Forbidden', 403, 'Forbidden') : undefined)
  await t.rejects(s.reconcile(retentionRequest('agents')), ApiError)
  t.same(s.api.calls.map((c) => c.name), ['a', 'b'], 'the other deletes still happen')
  t.same(s.recorder.events.map((e) => [e.reason, e.opts.transient, e.regarding.name]), [['Forbidden', false, 'a']])
})

t.test('retentionDelay schedules the pass at the deadline', async (t) => {
  t.equal(retentionDelay(done('a', 120), { agentRunRetentionSeconds: 3600 }, T0_MS), 60_000)
  t.equal(retentionDelay(done('a', 0), { agentRunRetentionSeconds: 3600 }, T0_MS), 1, 'past: at once')
  t.equal(retentionDelay(agentRun('a', { status: { phase: 'Running' } }), { agentRunRetentionSeconds: 3600 }, T0_MS), undefined)
  t.equal(retentionDelay(done('a', undefined, T0_MS), { agentRunRetentionSeconds: 2592000 }, T0_MS), 6 * 3600 * 1000, '30 d is clamped (re-planned later)')
})

t.test('the cap holds per pass window, even when events bring the pass back sooner', async (t) => {
  const runs = ['a', 'b', 'c', 'd', 'e'].map((name, i) => done(name, 0, T0_MS - 10_000 + i))
  const s = setup(runs)
  const deleted = () => s.api.calls.filter((c) => c.op === 'delete').map((c) => c.name)
  t.same(await s.reconcile(retentionRequest('agents')), { requeueAfterMs: 5_000 })
  t.same(deleted(), ['a', 'b'])
  // An AgentRun event brings the pass back 1 s later: nothing more in this window.
  s.clock.now = T0_MS + 1_000
  t.same(await s.reconcile(retentionRequest('agents')), { requeueAfterMs: 4_000 }, 'come back when the window ends')
  t.same(deleted(), ['a', 'b'])
  // The next window: the next two (the fake cache still lists a and b; their deletes answer "gone").
  s.clock.now = T0_MS + 5_000
  await s.reconcile(retentionRequest('agents'))
  t.same(deleted(), ['a', 'b', 'a', 'b'], 'the cache decides what is due; already-deleted runs are harmless')
})
