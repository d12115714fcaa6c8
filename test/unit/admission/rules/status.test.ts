/** SPEC §2 rules 6–9: status writes. */
import t from 'tap'

import { formatFieldError, formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import { validateStatus } from '../../../../src/admission/rules/status.ts'
import { agentRun, context, UPSTREAM_CONTROLLER } from '../../../helpers/context.ts'

const T0 = '2026-02-07T10:00:00Z'
const T1 = '2026-02-07T10:05:00Z'
const T2 = '2026-02-07T10:10:00Z'

interface Scenario {
  name: string
  old: unknown
  next: unknown
  generation?: number
  reasons: string[]
  message?: string[]
}

const scenarios: Scenario[] = [
  { name: 'allow: first status write', old: undefined, next: { phase: 'Pending', observedGeneration: 1, updatedAt: T0 }, reasons: [] },
  { name: 'allow: identical write', old: { phase: 'Running', startedAt: T0 }, next: { phase: 'Running', startedAt: T0 }, reasons: [] },

  // rule 6
  { name: 'rule 6 allow: startedAt set for the first time', old: { phase: 'Pending' }, next: { phase: 'Running', startedAt: T0 }, reasons: [] },
  { name: 'rule 6 allow: finishedAt set for the first time', old: { phase: 'Running', startedAt: T0 }, next: { phase: 'Succeeded', startedAt: T0, finishedAt: T1 }, reasons: [] },
  { name: 'rule 6 allow: the same instant spelled differently', old: { startedAt: T0 }, next: { startedAt: '2026-02-07T12:00:00.000+02:00' }, reasons: [] },
  {
    name: 'rule 6 deny: startedAt changed',
    old: { phase: 'Running', startedAt: T0 },
    next: { phase: 'Running', startedAt: T1 },
    reasons: ['ImmutableTimestamp'],
    message: [`status.startedAt: Forbidden: startedAt is immutable once set (was "${T0}", now "${T1}")`],
  },
  {
    name: 'rule 6 deny: finishedAt changed',
    old: { phase: 'Succeeded', startedAt: T0, finishedAt: T1 },
    next: { phase: 'Succeeded', startedAt: T0, finishedAt: T2 },
    reasons: ['ImmutableTimestamp'],
    message: [`status.finishedAt: Forbidden: finishedAt is immutable once set (was "${T1}", now "${T2}")`],
  },
  {
    name: 'rule 6 deny: startedAt removed (if the mutator did not restore it)',
    old: { phase: 'Running', startedAt: T0 },
    next: { phase: 'Running' },
    reasons: ['ImmutableTimestamp'],
    message: [`status.startedAt: Forbidden: startedAt is immutable once set (was "${T0}", now removed)`],
  },
  { name: 'rule 6 deny: finishedAt nulled', old: { phase: 'Failed', finishedAt: T1 }, next: { phase: 'Failed', finishedAt: null }, reasons: ['ImmutableTimestamp'] },
  {
    name: 'rule 6 deny: whole status dropped',
    old: { phase: 'Succeeded', startedAt: T0, finishedAt: T1 },
    next: undefined,
    reasons: ['ImmutableTimestamp', 'ImmutableTimestamp', 'PhaseResurrection'],
  },
  { name: 'rule 6 deny: changed to garbage', old: { startedAt: T0 }, next: { startedAt: 'yesterday' }, reasons: ['ImmutableTimestamp', 'InvalidTimestamp'] },

  // rule 7
  { name: 'rule 7 allow: Pending → Running', old: { phase: 'Pending' }, next: { phase: 'Running', startedAt: T0 }, reasons: [] },
  { name: 'rule 7 allow: Running → Cancelled', old: { phase: 'Running', startedAt: T0 }, next: { phase: 'Cancelled', startedAt: T0, finishedAt: T1 }, reasons: [] },
  { name: 'rule 7 allow: Running → Pending (not terminal)', old: { phase: 'Running' }, next: { phase: 'Pending' }, reasons: [] },
  { name: 'rule 7 allow: terminal phase unchanged, conditions updated', old: { phase: 'Failed', conditions: [] }, next: { phase: 'Failed', conditions: [{ type: 'Failed' }] }, reasons: [] },
  {
    name: 'rule 7 deny: Cancelled → Running',
    old: { phase: 'Cancelled' },
    next: { phase: 'Running' },
    reasons: ['PhaseResurrection'],
    message: ['status.phase: Forbidden: a terminal phase may not change (was "Cancelled", now "Running")'],
  },
  { name: 'rule 7 deny: Succeeded → Failed', old: { phase: 'Succeeded' }, next: { phase: 'Failed' }, reasons: ['PhaseResurrection'], message: ['was "Succeeded", now "Failed"'] },
  { name: 'rule 7 deny: Failed → Pending', old: { phase: 'Failed' }, next: { phase: 'Pending' }, reasons: ['PhaseResurrection'] },
  { name: 'rule 7 deny: terminal phase removed', old: { phase: 'Succeeded' }, next: {}, reasons: ['PhaseResurrection'], message: ['was "Succeeded", now removed'] },

  // rule 8
  { name: 'rule 8 allow: observedGeneration = generation', old: { observedGeneration: 1 }, next: { observedGeneration: 3 }, generation: 3, reasons: [] },
  { name: 'rule 8 allow: observedGeneration behind generation', old: { observedGeneration: 1 }, next: { observedGeneration: 2 }, generation: 3, reasons: [] },
  { name: 'rule 8 allow: observedGeneration dropped', old: { observedGeneration: 2 }, next: {}, generation: 3, reasons: [] },
  {
    name: 'rule 8 deny: observedGeneration ahead of generation',
    old: { observedGeneration: 3 },
    next: { observedGeneration: 4 },
    generation: 3,
    reasons: ['ObservedGenerationAhead'],
    message: ['status.observedGeneration: Invalid value: 4: may not exceed metadata.generation (3)'],
  },
  {
    name: 'rule 8 deny: observedGeneration decreased',
    old: { observedGeneration: 3 },
    next: { observedGeneration: 2 },
    generation: 3,
    reasons: ['ObservedGenerationDecreased'],
    message: ['status.observedGeneration: Invalid value: 2: may not decrease (was 3, now 2)'],
  },
  { name: 'rule 8 deny: first write already ahead', old: undefined, next: { observedGeneration: 2 }, generation: 1, reasons: ['ObservedGenerationAhead'] },
  { name: 'rule 8 deny: not an integer', old: {}, next: { observedGeneration: '2' }, generation: 3, reasons: ['InvalidObservedGeneration'] },
  { name: 'rule 8 deny: negative', old: {}, next: { observedGeneration: -1 }, generation: 3, reasons: ['InvalidObservedGeneration'] },
  { name: 'rule 8 ratchet: an already-ahead value carried along unchanged', old: { observedGeneration: 9 }, next: { observedGeneration: 9, phase: 'Running' }, generation: 3, reasons: [] },

  // rule 9
  { name: 'rule 9 allow: timestamps with offset and fraction', old: {}, next: { startedAt: '2026-02-07T12:00:00.5+02:00', updatedAt: T0 }, reasons: [] },
  {
    name: 'rule 9 deny: startedAt not RFC 3339',
    old: {},
    next: { startedAt: '2026-02-07 10:00:00' },
    reasons: ['InvalidTimestamp'],
    message: ['status.startedAt: Invalid value: "2026-02-07 10:00:00": must be an RFC 3339 date-time'],
  },
  { name: 'rule 9 deny: impossible date', old: {}, next: { finishedAt: '2026-02-30T10:00:00Z' }, reasons: ['InvalidTimestamp'] },
  { name: 'rule 9 deny: updatedAt as epoch number', old: {}, next: { updatedAt: 1770458400 }, reasons: ['InvalidTimestamp'], message: ['status.updatedAt: Invalid value: 1770458400'] },
  { name: 'rule 9 deny: date only', old: {}, next: { updatedAt: '2026-02-07' }, reasons: ['InvalidTimestamp'] },
  { name: 'rule 9 allow: finishedAt equal to startedAt', old: {}, next: { startedAt: T0, finishedAt: T0 }, reasons: [] },
  {
    name: 'rule 9 deny: finishedAt before startedAt',
    old: { startedAt: T1 },
    next: { startedAt: T1, finishedAt: T0 },
    reasons: ['FinishedBeforeStarted'],
    message: [`status.finishedAt: Invalid value: "${T0}": may not precede status.startedAt ("${T1}")`],
  },
  { name: 'rule 9 deny: finishedAt before startedAt across offsets', old: {}, next: { startedAt: '2026-02-07T10:00:00-01:00', finishedAt: '2026-02-07T10:30:00Z' }, reasons: ['FinishedBeforeStarted'] },
  { name: 'rule 9 allow: all five phases', old: {}, next: { phase: 'Cancelled' }, reasons: [] },
  {
    name: 'rule 9 deny: unknown phase',
    old: {},
    next: { phase: 'Done' },
    reasons: ['InvalidPhase'],
    message: ['status.phase: Unsupported value: "Done": supported values: "Pending", "Running", "Succeeded", "Failed", "Cancelled"'],
  },
  { name: 'rule 9 allow: Template on an AgentRun (upstream agent-run-template.ts ~90)', old: {}, next: { phase: 'Template' }, reasons: [] },
  { name: 'rule 9 deny: phase is case-sensitive', old: {}, next: { phase: 'running' }, reasons: ['InvalidPhase'] },
  { name: 'rule 9 deny: phase not a string', old: {}, next: { phase: 3 }, reasons: ['InvalidPhase'] },
  { name: 'rule 9 ratchet: a pre-existing bad phase carried along', old: { phase: 'Unknown' }, next: { phase: 'Unknown', updatedAt: T0 }, reasons: [] },
  { name: 'rule 9 ratchet: a pre-existing bad updatedAt carried along', old: { updatedAt: 'now' }, next: { updatedAt: 'now', phase: 'Running' }, reasons: [] },
  { name: 'rule 9 ratchet: a pre-existing inverted pair carried along', old: { startedAt: T1, finishedAt: T0 }, next: { startedAt: T1, finishedAt: T0, phase: 'Failed' }, reasons: [] },

  // shapes
  { name: 'shape deny: status is a string', old: {}, next: 'Running', reasons: ['InvalidStatus'], message: ['status: Invalid value: "Running": must be an object'] },
  { name: 'shape deny: status is a list', old: {}, next: [], reasons: ['InvalidStatus'] },
  { name: 'shape: garbage old status is treated as empty', old: 'junk', next: { phase: 'Running', startedAt: T0 }, reasons: [] },
]

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const generation = s.generation ?? 5
    const result = validateStatus(
      context({
        operation: 'UPDATE',
        subResource: 'status',
        oldObject: agentRun({ status: s.old, generation }),
        newObject: agentRun({ status: s.next, generation }),
      }),
    )
    t.same(
      result.errors.map((e) => e.reason),
      s.reasons,
      'reasons',
    )
    t.same(result.warnings, [])
    const message = result.errors.length ? formatFieldErrors(result.errors) : ''
    for (const part of s.message ?? []) t.match(message, part, `message contains ${part}`)
    for (const e of result.errors) t.match(formatFieldError(e), /^status(\.\w+)?: /, 'message names the field')
  })
}

t.test('rules 6–9: requests the rules do not judge', async (t) => {
  const old = agentRun({ status: { phase: 'Succeeded' } })
  const next = agentRun({ status: { phase: 'Running' } })
  t.same(validateStatus(context({ operation: 'UPDATE', oldObject: old, newObject: next })).errors, [], 'main-resource UPDATE')
  t.same(validateStatus(context({ operation: 'CREATE', subResource: 'status', newObject: next })).errors, [], 'CREATE')
  t.same(validateStatus(context({ operation: 'DELETE', subResource: 'status', oldObject: old })).errors, [], 'DELETE')
})

t.test('rules 6–9: every run kind', async (t) => {
  for (const kind of ['AgentRun', 'OrchestrationRun', 'ToolRun'] as const) {
    const result = validateStatus(
      context({ kind, operation: 'UPDATE', subResource: 'status', oldObject: { kind, status: { phase: 'Cancelled' } }, newObject: { kind, status: { phase: 'Running' } } }),
    )
    t.same(result.errors.map((e) => e.reason), ['PhaseResurrection'], kind)
  }
})

t.test('rule 9 per kind: Ready on a ToolRun, not on an AgentRun or OrchestrationRun', async (t) => {
  const judge = (kind: 'AgentRun' | 'OrchestrationRun' | 'ToolRun', phase: string) =>
    validateStatus(context({ kind, operation: 'UPDATE', subResource: 'status', oldObject: { kind, status: {} }, newObject: { kind, status: { phase } } })).errors.map((e) => e.reason)
  t.same(judge('ToolRun', 'Ready'), [], 'supporting-primitives-controller.ts ~428 writes Ready on a new ToolRun')
  t.same(judge('AgentRun', 'Ready'), ['InvalidPhase'])
  t.same(judge('OrchestrationRun', 'Template'), ['InvalidPhase'])
  t.same(judge('ToolRun', 'Template'), ['InvalidPhase'])
})

t.test('writers: an unrepaired controller write is admitted with warnings, never refused', async (t) => {
  const judge = (old: unknown, next: unknown, username: string) =>
    validateStatus(
      context({
        operation: 'UPDATE',
        subResource: 'status',
        oldObject: agentRun({ status: old, generation: 3 }),
        newObject: agentRun({ status: next, generation: 3 }),
        userInfo: { username, groups: ['system:serviceaccounts'] },
      }),
    )
  const stored = { phase: 'Succeeded', startedAt: T0, finishedAt: T1, observedGeneration: 3 }
  const write = { phase: 'Running', startedAt: T2, finishedAt: T2, observedGeneration: 2 }
  const person = judge(stored, write, 'alice')
  t.same(person.errors.map((e) => e.reason).sort(), ['ImmutableTimestamp', 'ImmutableTimestamp', 'ObservedGenerationDecreased', 'PhaseResurrection'])
  const controller = judge(stored, write, UPSTREAM_CONTROLLER)
  t.same(controller.errors, [], 'no refusal for a controller identity')
  t.equal(controller.warnings.length, 4, 'each finding is a warning instead')
  t.match(controller.warnings[0], /^admitted for a controller: status\.startedAt/)
  t.same(judge({}, { phase: 'Paused' }, UPSTREAM_CONTROLLER), { errors: [], warnings: [] }, 'an unknown phase: the mutating webhook already warned')
  t.same(
    judge({}, { startedAt: 'yesterday' }, UPSTREAM_CONTROLLER).errors.map((e) => e.reason),
    ['InvalidTimestamp'],
    'a value nobody can read is refused from everyone',
  )
  const group = validateStatus(
    context({
      operation: 'UPDATE',
      subResource: 'status',
      oldObject: agentRun({ status: stored }),
      newObject: agentRun({ status: write }),
      userInfo: { username: 'bot', groups: ['agents-controllers'] },
      config: { controllerGroups: ['agents-controllers'] },
    }),
  )
  t.same(group.errors, [], 'a controller group counts too')
})
