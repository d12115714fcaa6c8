/** SPEC §2 rules 10–12 through the admission mutator. */
import t from 'tap'

import { mutateStatus } from '../../../../src/admission/mutators/status.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import { agentRun, context, NOW_TEXT, UPSTREAM_CONTROLLER } from '../../../helpers/context.ts'

const T0 = '2026-02-07T09:00:00Z'
const T1 = '2026-02-07T09:30:00Z'

function mutate(old: unknown, next: unknown, opts: { subResource?: string; operation?: 'UPDATE' | 'CREATE' } = {}) {
  const oldObject = agentRun({ status: old })
  const newObject = agentRun({ status: next })
  const draft: KubeObject = structuredClone(newObject)
  const { warnings, repairs } = mutateStatus(context({ operation: opts.operation ?? 'UPDATE', subResource: opts.subResource ?? 'status', oldObject, newObject }), draft)
  return { draft, warnings, repairs, newObject }
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

// --- SPEC §2 "Writers": a controller identity's write is repaired, never refused -----------------
// Each scenario is a write upstream's Agents controllers make in normal operation (proompteng/lab
// services/agents/src/server/, as of 6b69af37); the source is in the scenario name.

const MS_START = '2026-02-07T09:00:00.417Z'
const JOB_START = '2026-02-07T09:00:00Z'

function controllerWrite(old: unknown, next: unknown, opts: { kind?: 'AgentRun' | 'ToolRun' | 'OrchestrationRun'; generation?: number } = {}) {
  const oldObject = { ...agentRun({ status: old, generation: opts.generation }), kind: opts.kind ?? 'AgentRun' }
  const newObject = { ...agentRun({ status: next, generation: opts.generation }), kind: opts.kind ?? 'AgentRun' }
  const draft: KubeObject = structuredClone(newObject)
  const ctx = context({ kind: opts.kind ?? 'AgentRun', operation: 'UPDATE', subResource: 'status', oldObject, newObject, userInfo: { username: UPSTREAM_CONTROLLER, groups: ['system:serviceaccounts'] } })
  const { warnings, repairs } = mutateStatus(ctx, draft)
  return { status: draft.status, warnings, repairs: repairs ?? [] }
}

t.test('writers: agent-run-reconciler.ts ~1311 — Succeeded with startedAt = the Job startTime (whole seconds)', async (t) => {
  const { status, warnings, repairs } = controllerWrite(
    { phase: 'Running', startedAt: MS_START, updatedAt: MS_START },
    { phase: 'Succeeded', startedAt: JOB_START, finishedAt: '2026-02-07T09:05:00Z', updatedAt: '2026-02-07T09:05:01.002Z' },
  )
  t.equal(status?.phase, 'Succeeded', 'the rest of the write is admitted')
  t.equal(status?.startedAt, MS_START, 'startedAt keeps its stored value')
  t.equal(status?.finishedAt, '2026-02-07T09:05:00Z')
  t.same(repairs.map((r) => [r.field, r.action]), [['startedAt', 'restored']])
  t.equal(warnings.length, 1)
  t.match(warnings[0], /status\.startedAt kept at "2026-02-07T09:00:00\.417Z"/)
  t.ok(warnings[0]!.length <= 120)
})

t.test('writers: orchestration-controller.ts ~832 — ToolRun Succeeded with the Job startTime', async (t) => {
  const { status, repairs } = controllerWrite({ phase: 'Running', startedAt: MS_START }, { phase: 'Succeeded', startedAt: JOB_START, finishedAt: '2026-02-07T09:01:00Z' }, { kind: 'ToolRun' })
  t.equal(status?.phase, 'Succeeded')
  t.equal(status?.startedAt, MS_START)
  t.same(repairs.map((r) => r.field), ['startedAt'])
})

t.test('writers: agent-run-reconciler.ts ~1116–1196 — a stale watch replay re-writes Running with a fresh startedAt', async (t) => {
  const { status, repairs } = controllerWrite({ phase: 'Running', startedAt: MS_START }, { phase: 'Running', startedAt: '2026-02-07T09:00:02.901Z' })
  t.equal(status?.startedAt, MS_START)
  t.same(repairs.map((r) => [r.field, r.action]), [['startedAt', 'restored']])
})

t.test('writers: a write after a terminal phase — resurrection repaired to the terminal phase', async (t) => {
  const stored = { phase: 'Failed', startedAt: MS_START, finishedAt: '2026-02-07T09:00:01.000Z', updatedAt: '2026-02-07T09:00:01.000Z' }
  const { status, repairs } = controllerWrite(stored, { phase: 'Running', startedAt: '2026-02-07T09:00:05.000Z', message: 'runner started' })
  t.equal(status?.phase, 'Failed', 'a terminal phase never changes')
  t.equal(status?.startedAt, MS_START)
  t.equal(status?.message, 'runner started', 'other fields are admitted')
  t.same(repairs.map((r) => r.field).sort(), ['phase', 'startedAt'])
})

t.test('writers: a stale observedGeneration is kept at the stored value', async (t) => {
  const { status, repairs } = controllerWrite({ phase: 'Running', observedGeneration: 3 }, { phase: 'Running', observedGeneration: 2, message: 'x' }, { generation: 3 })
  t.equal(status?.observedGeneration, 3)
  t.same(repairs.map((r) => [r.field, r.action]), [['observedGeneration', 'restored']])
  const ahead = controllerWrite({ phase: 'Running', observedGeneration: 3 }, { phase: 'Running', observedGeneration: 9 }, { generation: 3 })
  t.equal(ahead.status?.observedGeneration, 3, 'ahead of metadata.generation: kept too')
  const forward = controllerWrite({ phase: 'Running', observedGeneration: 2 }, { phase: 'Running', observedGeneration: 3 }, { generation: 3 })
  t.equal(forward.status?.observedGeneration, 3, 'a normal advance is untouched')
  t.same(forward.repairs, [])
})

t.test('writers: finishedAt from a whole-second completionTime before a millisecond startedAt is raised', async (t) => {
  const { status, repairs } = controllerWrite({ phase: 'Running', startedAt: MS_START }, { phase: 'Succeeded', startedAt: MS_START, finishedAt: JOB_START })
  t.equal(status?.finishedAt, MS_START)
  t.same(repairs.map((r) => [r.field, r.action]), [['finishedAt', 'raised']])
})

t.test('writers: a phase runguard does not know is admitted for a controller, with a warning', async (t) => {
  const { status, warnings, repairs } = controllerWrite({ phase: 'Running' }, { phase: 'Paused' })
  t.equal(status?.phase, 'Paused')
  t.same(repairs.map((r) => [r.field, r.action]), [['phase', 'admitted']])
  t.match(warnings[0], /"Paused" is not a phase runguard knows/)
  t.same(controllerWrite({}, { phase: 'Template' }).repairs, [], 'Template is an AgentRun phase')
  t.same(controllerWrite({}, { phase: 'Ready' }, { kind: 'ToolRun' }).repairs, [], 'Ready is a ToolRun phase')
})

t.test('writers: a normal controller write needs no repair', async (t) => {
  const { status, repairs, warnings } = controllerWrite({ phase: 'Pending' }, { phase: 'Running', startedAt: MS_START })
  t.equal(status?.startedAt, MS_START)
  t.same(repairs, [])
  t.same(warnings, [])
})

t.test('writers: a person changing startedAt is not repaired (the validator denies)', async (t) => {
  const { draft, repairs } = mutate({ phase: 'Running', startedAt: T0 }, { phase: 'Running', startedAt: T1 })
  t.equal(draft.status?.startedAt, T1)
  t.equal(repairs, undefined)
})

t.test('rule 11/12: runguard stamps milliseconds and never a finishedAt before startedAt', async (t) => {
  t.equal(mutate({ phase: 'Pending' }, { phase: 'Running' }).draft.status?.startedAt, '2026-02-07T10:00:00.000Z')
  const future = '2026-02-07T10:00:00.500Z'
  const { draft } = mutate({ phase: 'Running', startedAt: future }, { phase: 'Succeeded', startedAt: future })
  t.equal(draft.status?.finishedAt, future, 'the stamp is raised to startedAt (same second, later milliseconds)')
})
