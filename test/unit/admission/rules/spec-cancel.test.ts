/** SPEC §2 rules 1–4: the cancel fields. */
import t from 'tap'

import { formatFieldError, formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import { validateCancel } from '../../../../src/admission/rules/spec-cancel.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import { agentRun, context, spec } from '../../../helpers/context.ts'

interface Scenario {
  name: string
  operation?: Operation
  oldSpec?: Record<string, unknown>
  oldStatus?: Record<string, unknown>
  newSpec: unknown
  newStatus?: Record<string, unknown>
  /** Expected error reasons, in order; empty = allowed. */
  reasons: string[]
  /** Substrings the joined message must contain. */
  message?: string[]
  warnings?: string[]
}

function run(s: Scenario) {
  const operation = s.operation ?? (s.oldSpec ? 'UPDATE' : 'CREATE')
  return validateCancel(
    context({
      operation,
      oldObject: s.oldSpec ? agentRun({ spec: s.oldSpec, status: s.oldStatus }) : undefined,
      newObject: agentRun({ spec: s.newSpec, status: s.newStatus ?? s.oldStatus }),
    }),
  )
}

const cancelled = spec({ cancel: true, desiredState: 'Cancelled' })
const running = spec({ cancel: false, desiredState: 'Running' })

const scenarios: Scenario[] = [
  // rule 1
  { name: 'rule 1 allow: no cancel fields', newSpec: spec(), reasons: [] },
  { name: 'rule 1 allow: cancel true', newSpec: spec({ cancel: true }), reasons: [] },
  { name: 'rule 1 allow: cancel false', newSpec: spec({ cancel: false }), reasons: [] },
  { name: 'rule 1 allow: desiredState Running', newSpec: spec({ desiredState: 'Running' }), reasons: [] },
  { name: 'rule 1 allow: desiredState Cancelled', newSpec: spec({ desiredState: 'Cancelled' }), reasons: [] },
  { name: 'rule 1 allow: null fields count as absent', newSpec: spec({ cancel: null, desiredState: null }), reasons: [] },
  {
    name: 'rule 1 deny: cancel as a string',
    newSpec: spec({ cancel: 'true' }),
    reasons: ['InvalidCancel'],
    message: ['spec.cancel: Invalid value: "true": must be a boolean'],
  },
  { name: 'rule 1 deny: cancel as a number', newSpec: spec({ cancel: 1 }), reasons: ['InvalidCancel'], message: ['spec.cancel: Invalid value: 1'] },
  { name: 'rule 1 deny: cancel as an object', newSpec: spec({ cancel: { now: true } }), reasons: ['InvalidCancel'] },
  {
    name: 'rule 1 deny: unknown desiredState',
    newSpec: spec({ desiredState: 'Stopped' }),
    reasons: ['InvalidDesiredState'],
    message: ['spec.desiredState: Unsupported value: "Stopped": supported values: "Running", "Cancelled"'],
  },
  { name: 'rule 1 deny: desiredState is case-sensitive', newSpec: spec({ desiredState: 'cancelled' }), reasons: ['InvalidDesiredState'] },
  { name: 'rule 1 deny: desiredState as a boolean', newSpec: spec({ desiredState: true }), reasons: ['InvalidDesiredState'] },
  { name: 'rule 1 deny: both malformed, both reported', newSpec: spec({ cancel: 'yes', desiredState: 'Halt' }), reasons: ['InvalidCancel', 'InvalidDesiredState'] },
  { name: 'shape: spec is a string', newSpec: 'cancel', reasons: ['InvalidSpecShape'], message: ['spec: Invalid value: "cancel": must be an object'] },
  { name: 'shape: spec is an array', newSpec: [{ cancel: true }], reasons: ['InvalidSpecShape'] },

  // rule 2
  { name: 'rule 2 allow: cancelled run stays cancelled', oldSpec: cancelled, newSpec: cancelled, reasons: [] },
  { name: 'rule 2 allow: running run gets cancelled', oldSpec: running, newSpec: cancelled, reasons: [] },
  { name: 'rule 2 allow: cancel added to a run without the fields', oldSpec: spec(), newSpec: spec({ cancel: true }), reasons: [] },
  { name: 'rule 2 allow: old cancel true, desiredState Cancelled added', oldSpec: spec({ cancel: true }), newSpec: cancelled, reasons: [] },
  { name: 'rule 2 allow: other spec fields may still change', oldSpec: cancelled, newSpec: { ...cancelled, parameters: { a: 'b' } }, reasons: [] },
  {
    name: 'rule 2 deny: cancel true → false',
    oldSpec: cancelled,
    newSpec: spec({ cancel: false, desiredState: 'Cancelled' }),
    reasons: ['CancelIrreversible'],
    message: ['spec.cancel: Forbidden: cancel is one-way: cannot change true to false once a run is cancelled'],
  },
  {
    name: 'rule 2 deny: desiredState Cancelled → Running',
    oldSpec: cancelled,
    newSpec: spec({ cancel: true, desiredState: 'Running' }),
    reasons: ['CancelIrreversible'],
    message: ['spec.desiredState: Forbidden: cancel is one-way: cannot change "Cancelled" to "Running" once a run is cancelled'],
  },
  {
    name: 'rule 2 deny: both turned back',
    oldSpec: cancelled,
    newSpec: running,
    reasons: ['CancelIrreversible', 'CancelIrreversible'],
    message: ['spec.cancel: Forbidden', 'spec.desiredState: Forbidden'],
  },
  {
    name: 'rule 2 deny: cancel removed',
    oldSpec: spec({ cancel: true }),
    newSpec: spec(),
    reasons: ['CancelIrreversible'],
    message: ['spec.cancel: Forbidden: cancel is one-way: cannot remove it (was true) once a run is cancelled'],
  },
  {
    name: 'rule 2 deny: desiredState removed',
    oldSpec: spec({ desiredState: 'Cancelled' }),
    newSpec: spec(),
    reasons: ['CancelIrreversible'],
    message: ['spec.desiredState: Forbidden: cancel is one-way: cannot remove it (was "Cancelled") once a run is cancelled'],
  },
  { name: 'rule 2 deny: both removed', oldSpec: cancelled, newSpec: spec(), reasons: ['CancelIrreversible', 'CancelIrreversible'] },
  {
    name: 'rule 2 deny: old cancel true, desiredState Running added',
    oldSpec: spec({ cancel: true }),
    newSpec: spec({ cancel: true, desiredState: 'Running' }),
    reasons: ['CancelIrreversible'],
    message: ['spec.desiredState: Forbidden: cancel is one-way: cannot set it to "Running" once a run is cancelled'],
  },
  {
    name: 'rule 2 deny: old desiredState Cancelled, cancel false added',
    oldSpec: spec({ desiredState: 'Cancelled' }),
    newSpec: spec({ cancel: false, desiredState: 'Cancelled' }),
    reasons: ['CancelIrreversible'],
    message: ['spec.cancel: Forbidden: cancel is one-way: cannot set it to false once a run is cancelled'],
  },
  {
    name: 'rule 2 deny: both set to null (null counts as removed)',
    oldSpec: cancelled,
    newSpec: spec({ cancel: null, desiredState: null }),
    reasons: ['CancelIrreversible', 'CancelIrreversible'],
  },
  {
    name: 'rule 2: a malformed new value is reported once, by rule 1',
    oldSpec: cancelled,
    newSpec: spec({ cancel: 'no', desiredState: 'Cancelled' }),
    reasons: ['InvalidCancel'],
  },
  { name: 'rule 2 not on CREATE', operation: 'CREATE', newSpec: running, reasons: [] },

  // rule 3
  { name: 'rule 3 allow: cancel true + Cancelled', newSpec: cancelled, reasons: [] },
  { name: 'rule 3 allow: cancel false + Running', newSpec: running, reasons: [] },
  {
    name: 'rule 3 deny: cancel true + Running',
    newSpec: spec({ cancel: true, desiredState: 'Running' }),
    reasons: ['CancelConflict'],
    message: ['spec.desiredState: Invalid value: "Running": conflicts with spec.cancel: true'],
  },
  {
    name: 'rule 3 deny: cancel false + Cancelled',
    newSpec: spec({ cancel: false, desiredState: 'Cancelled' }),
    reasons: ['CancelConflict'],
    message: ['spec.cancel: Invalid value: false: conflicts with spec.desiredState: "Cancelled"'],
  },
  { name: 'rule 3 deny on UPDATE of a running run', oldSpec: running, newSpec: spec({ cancel: false, desiredState: 'Cancelled' }), reasons: ['CancelConflict'] },

  // rule 4
  {
    name: 'rule 4: cancel on a Succeeded run is admitted with a warning',
    oldSpec: spec(),
    oldStatus: { phase: 'Succeeded' },
    newSpec: cancelled,
    reasons: [],
    warnings: ['spec.cancel has no effect: run is already Succeeded'],
  },
  { name: 'rule 4: on a Failed run', oldSpec: spec(), oldStatus: { phase: 'Failed' }, newSpec: cancelled, reasons: [], warnings: ['spec.cancel has no effect: run is already Failed'] },
  {
    name: 'rule 4: desiredState alone names desiredState',
    oldSpec: spec(),
    oldStatus: { phase: 'Succeeded' },
    newSpec: spec({ desiredState: 'Cancelled' }),
    reasons: [],
    warnings: ['spec.desiredState has no effect: run is already Succeeded'],
  },
  { name: 'rule 4: no warning on a Running run', oldSpec: spec(), oldStatus: { phase: 'Running' }, newSpec: cancelled, reasons: [], warnings: [] },
  { name: 'rule 4: no warning when the run was already cancelled', oldSpec: cancelled, oldStatus: { phase: 'Cancelled' }, newSpec: cancelled, reasons: [], warnings: [] },
  { name: 'rule 4: no warning without a cancel', oldSpec: spec(), oldStatus: { phase: 'Succeeded' }, newSpec: spec({ parameters: {} }), reasons: [], warnings: [] },
  {
    name: 'rule 4: the stored phase decides, not the request copy',
    oldSpec: spec(),
    oldStatus: { phase: 'Running' },
    newSpec: cancelled,
    newStatus: { phase: 'Succeeded' },
    reasons: [],
    warnings: [],
  },
  {
    name: 'rule 4: no warning with a denial',
    oldSpec: spec(),
    oldStatus: { phase: 'Succeeded' },
    newSpec: spec({ cancel: true, desiredState: 'Running' }),
    reasons: ['CancelConflict'],
    warnings: [],
  },
  { name: 'rule 4: garbage status is ignored', oldSpec: spec(), oldStatus: 'done' as unknown as Record<string, unknown>, newSpec: cancelled, reasons: [], warnings: [] },
]

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const result = run(s)
    t.same(
      result.errors.map((e) => e.reason),
      s.reasons,
      'reasons',
    )
    const message = result.errors.length ? formatFieldErrors(result.errors) : ''
    for (const part of s.message ?? []) t.match(message, part, `message contains ${part}`)
    if (s.warnings) t.same(result.warnings, s.warnings, 'warnings')
    for (const w of result.warnings) t.ok(w.length <= 120, `warning ≤ 120 chars (${w.length})`)
    for (const e of result.errors) t.match(formatFieldError(e), /^spec(\.\w+)?: /, 'message names the field')
  })
}

t.test('rules 1–4: requests the rules do not judge', async (t) => {
  const bad = agentRun({ spec: spec({ cancel: 'x' }) })
  t.same(validateCancel(context({ operation: 'DELETE', oldObject: bad })), { errors: [], warnings: [] }, 'DELETE')
  t.same(validateCancel(context({ operation: 'UPDATE', subResource: 'status', oldObject: bad, newObject: bad })), { errors: [], warnings: [] }, 'status subresource')
  t.same(validateCancel(context({ operation: 'CREATE', newObject: { kind: 'AgentRun' } })), { errors: [], warnings: [] }, 'no spec at all')
  t.same(validateCancel(context({ operation: 'UPDATE', oldObject: { kind: 'AgentRun', spec: 7 as never }, newObject: agentRun() })), { errors: [], warnings: [] }, 'garbage old spec')
})

t.test('rules 1–4: every run kind', async (t) => {
  for (const kind of ['AgentRun', 'OrchestrationRun', 'ToolRun'] as const) {
    const result = validateCancel(context({ kind, operation: 'UPDATE', oldObject: { kind, spec: { cancel: true } }, newObject: { kind, spec: { cancel: false } } }))
    t.same(result.errors.map((e) => e.reason), ['CancelIrreversible'], kind)
  }
})
