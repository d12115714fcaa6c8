/** Design note 000 / SPEC §2 rules 10–12 / SPEC §3 status helper. */
import t from 'tap'

import type { Condition, KubeObject, RunStatus } from '../../../src/kube/objects.ts'
import { buildStatusUpdate, conditionReason, sameStatus, setCondition, stampStatus } from '../../../src/status/contract.ts'
import { NOW, NOW_TEXT } from '../../helpers/context.ts'

const T0 = '2026-02-07T09:00:00Z'
const T1 = '2026-02-07T09:30:00Z'
const LATER = '2026-02-07T11:00:00Z'

t.test('stampStatus', async (t) => {
  const scenarios: Array<{ name: string; old: RunStatus | undefined; next: RunStatus; want: RunStatus; restored?: string[]; changed: boolean }> = [
    {
      name: 'rule 10: an identical write is a no-op, nothing stamped',
      old: { phase: 'Running', startedAt: T0, updatedAt: T0, conditions: [{ type: 'A', status: 'True', reason: 'R', message: '', lastTransitionTime: T0 }] },
      next: { updatedAt: T0, conditions: [{ message: '', type: 'A', reason: 'R', status: 'True', lastTransitionTime: T0 }], startedAt: T0, phase: 'Running' },
      want: { updatedAt: T0, conditions: [{ message: '', type: 'A', reason: 'R', status: 'True', lastTransitionTime: T0 }], startedAt: T0, phase: 'Running' },
      changed: false,
    },
    { name: 'rule 10: empty write to an empty status is a no-op', old: undefined, next: {}, want: {}, changed: false },
    { name: 'rule 10: a change stamps updatedAt', old: { phase: 'Pending', updatedAt: T0 }, next: { phase: 'Pending', updatedAt: T0, message: 'x' }, want: { phase: 'Pending', updatedAt: NOW_TEXT, message: 'x' }, changed: true },
    { name: 'rule 10: a writer’s newer updatedAt is kept', old: { phase: 'Pending', updatedAt: T0 }, next: { phase: 'Pending', updatedAt: LATER }, want: { phase: 'Pending', updatedAt: LATER }, changed: true },
    { name: 'rule 10: a writer’s older updatedAt is replaced', old: { phase: 'Pending', updatedAt: T1 }, next: { phase: 'Pending', updatedAt: T0, x: 1 }, want: { phase: 'Pending', updatedAt: NOW_TEXT, x: 1 }, changed: true },
    { name: 'rule 10: a writer’s invalid updatedAt is replaced', old: {}, next: { phase: 'Pending', updatedAt: 'soon' }, want: { phase: 'Pending', updatedAt: NOW_TEXT }, changed: true },
    { name: 'rule 10: first write with the writer’s own updatedAt keeps it', old: undefined, next: { phase: 'Pending', updatedAt: T0 }, want: { phase: 'Pending', updatedAt: T0 }, changed: true },
    {
      name: 'rule 11: startedAt on the first transition into Running',
      old: { phase: 'Pending' },
      next: { phase: 'Running' },
      want: { phase: 'Running', startedAt: NOW_TEXT, updatedAt: NOW_TEXT },
      changed: true,
    },
    { name: 'rule 11: the writer’s own startedAt is kept', old: { phase: 'Pending' }, next: { phase: 'Running', startedAt: T0 }, want: { phase: 'Running', startedAt: T0, updatedAt: NOW_TEXT }, changed: true },
    { name: 'rule 11: no startedAt when already Running (no transition)', old: { phase: 'Running' }, next: { phase: 'Running', x: 1 }, want: { phase: 'Running', x: 1, updatedAt: NOW_TEXT }, changed: true },
    {
      name: 'rule 11: finishedAt on the first transition into a terminal phase',
      old: { phase: 'Running', startedAt: T0 },
      next: { phase: 'Succeeded', startedAt: T0 },
      want: { phase: 'Succeeded', startedAt: T0, finishedAt: NOW_TEXT, updatedAt: NOW_TEXT },
      changed: true,
    },
    {
      name: 'rule 11: Pending straight to Failed gets finishedAt but no startedAt',
      old: { phase: 'Pending' },
      next: { phase: 'Failed' },
      want: { phase: 'Failed', finishedAt: NOW_TEXT, updatedAt: NOW_TEXT },
      changed: true,
    },
    { name: 'rule 11: first status ever is Running', old: undefined, next: { phase: 'Running' }, want: { phase: 'Running', startedAt: NOW_TEXT, updatedAt: NOW_TEXT }, changed: true },
    { name: 'rule 11: the writer’s own finishedAt is kept', old: { phase: 'Running' }, next: { phase: 'Cancelled', finishedAt: T1 }, want: { phase: 'Cancelled', finishedAt: T1, updatedAt: NOW_TEXT }, changed: true },
    {
      name: 'rule 12: a dropped startedAt is restored',
      old: { phase: 'Running', startedAt: T0, updatedAt: T0 },
      next: { phase: 'Running', updatedAt: T0, message: 'still going' },
      want: { phase: 'Running', startedAt: T0, updatedAt: NOW_TEXT, message: 'still going' },
      restored: ['startedAt'],
      changed: true,
    },
    {
      name: 'rule 12: both restored, nulls count as dropped',
      old: { phase: 'Succeeded', startedAt: T0, finishedAt: T1, updatedAt: T1 },
      next: { phase: 'Succeeded', startedAt: null as unknown as string, updatedAt: T1, x: 1 },
      want: { phase: 'Succeeded', startedAt: T0, finishedAt: T1, updatedAt: NOW_TEXT, x: 1 },
      restored: ['startedAt', 'finishedAt'],
      changed: true,
    },
    {
      name: 'rule 12 + 10: a write that only dropped timestamps is, once restored, a no-op',
      old: { phase: 'Running', startedAt: T0, updatedAt: T0 },
      next: { phase: 'Running', updatedAt: T0 },
      want: { phase: 'Running', startedAt: T0, updatedAt: T0 },
      restored: ['startedAt'],
      changed: false,
    },
    {
      name: 'rule 12: a changed startedAt is left for the validator',
      old: { phase: 'Running', startedAt: T0 },
      next: { phase: 'Running', startedAt: T1 },
      want: { phase: 'Running', startedAt: T1, updatedAt: NOW_TEXT },
      changed: true,
    },
  ]
  for (const s of scenarios) {
    const before = structuredClone(s.next)
    const result = stampStatus(s.old, s.next, NOW)
    t.same(result.status, s.want, `${s.name}: status`)
    t.same(result.restored, s.restored ?? [], `${s.name}: restored`)
    t.equal(result.changed, s.changed, `${s.name}: changed`)
    t.same(s.next, before, `${s.name}: input not mutated`)
  }
})

t.test('sameStatus ignores key order but not array order', async (t) => {
  t.ok(sameStatus({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }))
  t.notOk(sameStatus({ l: [1, 2] }, { l: [2, 1] }))
  t.ok(sameStatus(undefined, {}))
})

t.test('setCondition follows meta.SetStatusCondition', async (t) => {
  const base: Condition = { type: 'Accepted', status: 'True', reason: 'Ok', message: 'fine', lastTransitionTime: T0, observedGeneration: 1 }

  const added = setCondition(undefined, { type: 'InProgress', status: 'True', reason: 'Started', message: 'go' }, NOW, 2)
  t.same(added, [{ type: 'InProgress', status: 'True', reason: 'Started', message: 'go', lastTransitionTime: NOW_TEXT, observedGeneration: 2 }], 'added with now')

  const sameStatusNewReason = setCondition([base], { type: 'Accepted', status: 'True', reason: 'StillOk', message: 'better' }, NOW, 2)
  t.same(sameStatusNewReason, [{ type: 'Accepted', status: 'True', reason: 'StillOk', message: 'better', lastTransitionTime: T0, observedGeneration: 2 }], 'status unchanged: transition time kept')

  const flipped = setCondition([base], { type: 'Accepted', status: 'False', reason: 'Broken', message: 'no' }, NOW, 2)
  t.equal(flipped[0]!.lastTransitionTime, NOW_TEXT, 'status changed: transition time moves')

  const input = [base, { ...base, type: 'Other' }]
  const updated = setCondition(input, { type: 'Other', status: 'False', reason: 'R', message: '' }, NOW)
  t.equal(updated.length, 2, 'updated in place, not appended')
  t.equal(updated[0], base, 'other conditions untouched')
  t.notOk('observedGeneration' in updated[1]!, 'no generation, no observedGeneration')
  t.same(input[1], { ...base, type: 'Other' }, 'input not mutated')

  const junk = setCondition(['x', null, base] as unknown, { type: 'Accepted', status: 'True', reason: 'Ok', message: 'fine' }, NOW, 1)
  t.same(junk, ['x', null, base], 'garbage entries kept, no throw')
  t.same(setCondition('nope', { type: 'A', status: 'Unknown', reason: 'R', message: '' }, NOW).length, 1, 'non-list conditions become a list')
})

t.test('condition reasons always match the CRD pattern', async (t) => {
  const pattern = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/
  const cases: Array<[string, string]> = [
    ['CancelRequested', 'CancelRequested'],
    ['Job missing', 'Job_missing'],
    ['404NotFound', 'NotFound'],
    ['timed-out:', 'timed_out'],
    ['', 'Unspecified'],
    ['!!!', 'Unspecified'],
    ['a,b:c', 'a,b:c'],
  ]
  for (const [input, want] of cases) {
    t.equal(conditionReason(input), want, JSON.stringify(input))
    t.match(conditionReason(input), pattern)
  }
  t.equal(conditionReason('R'.repeat(2000)).length, 1024, 'length capped at 1024')
})

t.test('buildStatusUpdate', async (t) => {
  const obj = (status: unknown, generation = 3): KubeObject => ({ kind: 'AgentRun', metadata: { name: 'r', generation }, status: status as RunStatus })

  t.test('cancel completion: phase, condition, finishedAt, observedGeneration, updatedAt', async (t) => {
    const current = { phase: 'Running', startedAt: T0, updatedAt: T0, observedGeneration: 2, runtimeRef: { name: 'j' } }
    const next = buildStatusUpdate(obj(current), { phase: 'Cancelled', conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: 'cancelled by user' }] }, NOW)
    t.same(next, {
      phase: 'Cancelled',
      startedAt: T0,
      finishedAt: NOW_TEXT,
      updatedAt: NOW_TEXT,
      observedGeneration: 3,
      runtimeRef: { name: 'j' },
      conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: 'cancelled by user', lastTransitionTime: NOW_TEXT, observedGeneration: 3 }],
    })
    t.same(current.phase, 'Running', 'input not mutated')
  })

  t.test('nothing new: the result equals the stored status, so there is nothing to write', async (t) => {
    const current: RunStatus = {
      phase: 'Succeeded',
      finishedAt: T1,
      updatedAt: T1,
      observedGeneration: 3,
      conditions: [{ type: 'Cancelled', status: 'False', reason: 'AlreadyTerminal', message: 'done', lastTransitionTime: T1, observedGeneration: 3 }],
    }
    const next = buildStatusUpdate(obj(current), { conditions: [{ type: 'Cancelled', status: 'False', reason: 'AlreadyTerminal', message: 'done' }] }, NOW)
    t.ok(sameStatus(next, current))
  })

  t.test('fields merge, undefined removes', async (t) => {
    const next = buildStatusUpdate(obj({ phase: 'Running', a: 1, b: 2 }), { fields: { a: undefined, c: { d: 1 } } }, NOW)
    t.same(next, { phase: 'Running', b: 2, c: { d: 1 }, observedGeneration: 3, updatedAt: NOW_TEXT })
  })

  t.test('fields cannot erase startedAt (restored)', async (t) => {
    const next = buildStatusUpdate(obj({ phase: 'Running', startedAt: T0 }), { fields: { startedAt: undefined, x: 1 } }, NOW)
    t.equal(next.startedAt, T0)
  })

  t.test('garbage status and no generation', async (t) => {
    const next = buildStatusUpdate({ kind: 'ToolRun', status: 'junk' as unknown as RunStatus }, { phase: 'Running' }, NOW)
    t.same(next, { phase: 'Running', startedAt: NOW_TEXT, updatedAt: NOW_TEXT })
  })

  t.test('a bad reason is repaired so the write is not rejected', async (t) => {
    const next = buildStatusUpdate(obj({}), { conditions: [{ type: 'Failed', status: 'True', reason: 'job failed: OOM', message: '' }] }, NOW)
    t.equal(next.conditions?.[0]?.reason, 'job_failed:_OOM')
  })
})
