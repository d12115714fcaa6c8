/** SPEC §2 rules 10–12 through the admission mutator. */
import t from 'tap'

import { mutateStatus } from '../../../src/admission/mutators/status.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { agentRun, context, NOW_TEXT } from '../helpers/context.ts'

const T0 = '2026-02-07T09:00:00Z'
const T1 = '2026-02-07T09:30:00Z'

function mutate(old: unknown, next: unknown, opts: { subResource?: string; operation?: 'UPDATE' | 'CREATE' } = {}) {
  const oldObject = agentRun({ status: old })
  const newObject = agentRun({ status: next })
  const draft: KubeObject = structuredClone(newObject)
  const warnings = mutateStatus(context({ operation: opts.operation ?? 'UPDATE', subResource: opts.subResource ?? 'status', oldObject, newObject }), draft)
  return { draft, warnings, newObject }
}

t.test('rule 10: identical write leaves the draft untouched', async (t) => {
  const { draft, warnings, newObject } = mutate({ phase: 'Running', startedAt: T0, updatedAt: T0 }, { updatedAt: T0, startedAt: T0, phase: 'Running' })
  t.same(draft, newObject)
  t.same(warnings, [])
})

t.test('rule 10: a change stamps updatedAt', async (t) => {
  const { draft } = mutate({ phase: 'Pending', updatedAt: T0 }, { phase: 'Pending', updatedAt: T0, message: 'waiting' })
  t.equal(draft.status?.updatedAt, NOW_TEXT)
})

t.test('rule 11: transition into Running and into a terminal phase', async (t) => {
  t.equal(mutate({ phase: 'Pending' }, { phase: 'Running' }).draft.status?.startedAt, NOW_TEXT)
  const done = mutate({ phase: 'Running', startedAt: T0 }, { phase: 'Failed', startedAt: T0 }).draft.status
  t.equal(done?.finishedAt, NOW_TEXT)
  t.equal(done?.startedAt, T0)
})

t.test('rule 12: dropped timestamps restored with a warning each', async (t) => {
  const { draft, warnings } = mutate({ phase: 'Succeeded', startedAt: T0, finishedAt: T1 }, { phase: 'Succeeded', message: 'rewritten' })
  t.equal(draft.status?.startedAt, T0)
  t.equal(draft.status?.finishedAt, T1)
  t.same(warnings, ['status.startedAt restored: it is immutable once set', 'status.finishedAt restored: it is immutable once set'])
  for (const w of warnings) t.ok(w.length <= 120)
})

t.test('rule 12: a status dropped entirely gets its timestamps back', async (t) => {
  const { draft, warnings } = mutate({ phase: 'Running', startedAt: T0 }, undefined)
  t.equal(draft.status?.startedAt, T0)
  t.equal(warnings.length, 1)
})

t.test('no status before, none sent: no empty status added', async (t) => {
  const { draft } = mutate(undefined, undefined)
  t.notOk('status' in draft)
})

t.test('rule 12: a changed timestamp is not reverted (the validator denies it)', async (t) => {
  const { draft, warnings } = mutate({ phase: 'Running', startedAt: T0 }, { phase: 'Running', startedAt: T1 })
  t.equal(draft.status?.startedAt, T1)
  t.same(warnings, [])
})

t.test('garbage status is left for the validator', async (t) => {
  const { draft, newObject } = mutate({ phase: 'Running', startedAt: T0 }, 'Running')
  t.same(draft, newObject)
})

t.test('only UPDATE of the status subresource', async (t) => {
  t.same(mutate({ phase: 'Pending' }, { phase: 'Running' }, { subResource: '' }).draft.status, { phase: 'Running' }, 'main resource untouched')
  t.same(mutate(undefined, { phase: 'Running' }, { operation: 'CREATE' }).draft.status, { phase: 'Running' }, 'CREATE untouched')
})
