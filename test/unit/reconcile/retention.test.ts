/** SPEC §3 retention: deadlines, the retain annotation, the per-namespace cap, no polling. */
import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { planRetentionPass, RETENTION_BACKLOG_DELAY_MS, retentionDeadline } from '../../../src/reconcile/retention.ts'
import { agentRun, iso, T0_MS } from './fixtures.ts'

const config = { agentRunRetentionSeconds: 3600, retentionMaxDeletesPerNamespace: 2 }

const finished = (name: string, finishedMs: number, options: { ttl?: unknown; retain?: string; phase?: string; updatedOnly?: boolean; deleting?: boolean } = {}): KubeObject =>
  agentRun(name, {
    spec: options.ttl === undefined ? {} : { ttlSecondsAfterFinished: options.ttl },
    ...(options.retain !== undefined ? { annotations: { 'agents.proompteng.ai/retain': options.retain } } : {}),
    ...(options.deleting ? { deleting: true } : {}),
    status: { phase: options.phase ?? 'Succeeded', ...(options.updatedOnly ? { updatedAt: iso(finishedMs) } : { finishedAt: iso(finishedMs) }) },
  })

t.test('retentionDeadline', async (t) => {
  const scenarios: Array<{ name: string; run: KubeObject; want: unknown }> = [
    { name: 'spec.ttlSecondsAfterFinished', run: finished('a', T0_MS, { ttl: 60 }), want: { deadlineMs: T0_MS + 60_000, source: 'spec' } },
    { name: 'spec.ttlSecondsAfterFinished 0: right after finishing', run: finished('a', T0_MS, { ttl: 0 }), want: { deadlineMs: T0_MS, source: 'spec' } },
    { name: 'config default', run: finished('a', T0_MS), want: { deadlineMs: T0_MS + 3_600_000, source: 'config' } },
    {
      name: 'invalid spec value: default, with a problem',
      run: finished('a', T0_MS, { ttl: -5 }),
      want: { deadlineMs: T0_MS + 3_600_000, source: 'config', problem: 'spec.ttlSecondsAfterFinished -5 is not a non-negative integer; using the default retention of 3600 s' },
    },
    { name: 'retain: "true" keeps it', run: finished('a', T0_MS, { ttl: 0, retain: 'true' }), want: { keep: 'retained' } },
    { name: 'retain: anything else does not', run: finished('a', T0_MS, { ttl: 0, retain: 'yes' }), want: { deadlineMs: T0_MS, source: 'spec' } },
    { name: 'not terminal', run: finished('a', T0_MS, { phase: 'Running' }), want: { keep: 'notTerminal' } },
    { name: 'Cancelled and Failed count', run: finished('a', T0_MS, { ttl: 1, phase: 'Cancelled' }), want: { deadlineMs: T0_MS + 1000, source: 'spec' } },
    { name: 'no finishedAt: counts from updatedAt', run: finished('a', T0_MS, { ttl: 1, updatedOnly: true }), want: { deadlineMs: T0_MS + 1000, source: 'spec' } },
    { name: 'no time at all: kept', run: agentRun('a', { status: { phase: 'Failed' } }), want: { keep: 'noFinishTime' } },
    { name: 'being deleted', run: finished('a', T0_MS, { deleting: true }), want: { keep: 'beingDeleted' } },
  ]
  for (const s of scenarios) t.same(retentionDeadline(s.run, config), s.want, s.name)
})

t.test('planRetentionPass', async (t) => {
  const names = (runs: KubeObject[], now: number) => {
    const pass = planRetentionPass(runs, config, now)
    return { deletes: pass.deletes.map((d) => d.name), deferred: pass.deferred, requeueAfterMs: pass.requeueAfterMs }
  }
  t.same(names([finished('a', T0_MS, { ttl: 10 })], T0_MS + 9_999), { deletes: [], deferred: 0, requeueAfterMs: 1 }, '1 ms before the deadline: come back at the deadline')
  t.same(names([finished('a', T0_MS, { ttl: 10 })], T0_MS + 10_000), { deletes: ['a'], deferred: 0, requeueAfterMs: undefined }, 'at the deadline: deleted')
  t.same(names([finished('a', T0_MS, { ttl: 10, retain: 'true' })], T0_MS + 3_600_000), { deletes: [], deferred: 0, requeueAfterMs: undefined }, 'retained: never')
  t.same(
    names([finished('c', T0_MS - 1000, { ttl: 0 }), finished('a', T0_MS - 3000, { ttl: 0 }), finished('b', T0_MS - 2000, { ttl: 0 }), finished('d', T0_MS, { ttl: 60 })], T0_MS),
    { deletes: ['a', 'b'], deferred: 1, requeueAfterMs: RETENTION_BACKLOG_DELAY_MS },
    'cap per pass: the oldest deadlines first, the rest in the next pass',
  )
  t.same(names([finished('a', T0_MS - 3000, { ttl: 0 }), finished('b', T0_MS, { ttl: 60 })], T0_MS), { deletes: ['a'], deferred: 0, requeueAfterMs: 60_000 }, 'next pass at the next deadline')
  t.same(names([agentRun('x', { status: { phase: 'Running' } })], T0_MS), { deletes: [], deferred: 0, requeueAfterMs: undefined }, 'nothing terminal: no pass scheduled')
  const pass = planRetentionPass([finished('a', T0_MS, { ttl: 'x' })], config, T0_MS)
  t.equal(pass.problems.length, 1, 'an invalid spec value is reported')
  t.same(pass.deletes, [], 'and the default retention applies')
  t.same(planRetentionPass([finished('a', T0_MS, { ttl: 0 })], config, T0_MS).deletes, [{ name: 'a', uid: 'uid-a', deadlineMs: T0_MS }], 'deletes carry the uid precondition')
})
