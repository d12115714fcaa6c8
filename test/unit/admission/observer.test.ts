/**
 * src/admission/observer.ts: what one decision is reported as — the decision counters, the
 * InvalidSpec and StatusRepaired Events (never for a dry run) and the one log line, redacted.
 */
import t from 'tap'
import { eventTarget, reportDecisions, type DecisionRoute, type RequestTrace } from '../../../src/admission/observer.ts'
import { allowed, denied } from '../../../src/admission/response.ts'
import { fieldError } from '../../../src/admission/field-errors.ts'
import type { AdmissionRequest, Decision } from '../../../src/admission/types.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { capturedLogger, recordingEventSink, sample } from '../../helpers/observe.ts'
import { agentRun, reviewFor, statusWrite } from '../../helpers/reviews.ts'

const route: DecisionRoute = { path: '/validate', webhook: 'validate.runguard.proompteng.ai' }
const trace: RequestTrace = { started: process.hrtime.bigint(), id: () => 'trace-1' }

function setup(level = 'debug') {
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const events = recordingEventSink()
  const { logger, lines } = capturedLogger(level)
  return { metrics, events, lines, observer: reportDecisions({ metrics, events, logger }) }
}

const create = (dryRun = false): AdmissionRequest => reviewFor(agentRun('r1'), { uid: 'uid-1', dryRun }).request as AdmissionRequest
const invalid = (): Decision => {
  const errors = [fieldError.forbidden('spec.parameters[prompt]', 'ForbiddenParameterKey', 'the key "prompt" is reserved')]
  return { ...denied(errors), invalidSpec: errors }
}

t.test('rule 5 deny: counted, an InvalidSpec Event on the run, one info line', async (t) => {
  const { metrics, events, lines, observer } = setup()
  observer.decided(create(), invalid(), route, trace)
  t.equal(await sample(metrics.admissionDecisions, { webhook: '/validate', kind: 'AgentRun', operation: 'CREATE', allowed: 'false', reason: 'ForbiddenParameterKey' }), 1)
  t.same(events.sent, [
    {
      regarding: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'r1', namespace: 'team-a', uid: undefined },
      reason: 'InvalidSpec',
      message: 'spec.parameters[prompt]: Forbidden: the key "prompt" is reserved',
      action: 'Admission',
    },
  ])
  t.equal(lines.length, 1)
  t.match(lines[0], {
    level: 'info',
    msg: 'admission denied',
    webhook: 'validate.runguard.proompteng.ai',
    uid: 'uid-1',
    trace: 'trace-1',
    kind: 'AgentRun',
    operation: 'CREATE',
    namespace: 'team-a',
    name: 'r1',
    dryRun: false,
    allowed: false,
    reason: 'ForbiddenParameterKey',
    message: 'spec.parameters[prompt]: Forbidden: the key "prompt" is reserved',
  })
  t.type(lines[0]?.micros, 'number')
})

t.test('rule 5 deny on a dry run: counted and logged, no Event', async (t) => {
  const { metrics, events, lines, observer } = setup()
  observer.decided(create(true), invalid(), route, trace)
  t.same(events.sent, [])
  t.equal(lines[0]?.dryRun, true)
  t.equal(await sample(metrics.admissionDecisions, { reason: 'ForbiddenParameterKey' }), 1)
})

t.test('a repaired controller write: StatusRepaired Event, repair counters, one line naming the writer', async (t) => {
  const { metrics, events, lines, observer } = setup()
  const old = agentRun('r2', {}, { status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z' } })
  old.metadata = { ...old.metadata, uid: 'uid-of-r2' }
  const request = statusWrite(old, { phase: 'Succeeded', startedAt: '2026-11-23T11:00:00Z' }).request as AdmissionRequest
  const writer = 'system:serviceaccount:agents:agents-sa'
  const decision: Decision = {
    ...allowed('Repaired'),
    repairs: { writer, repairs: [{ field: 'startedAt', action: 'restored', stored: '2026-11-23T10:00:00Z', written: '2026-11-23T11:00:00Z' }] },
  }
  observer.decided(request, decision, { path: '/mutate', webhook: 'mutate.runguard.proompteng.ai' }, trace)
  t.same(events.sent.map((e) => [e.reason, e.regarding.uid, e.message]), [
    ['StatusRepaired', 'uid-of-r2', `status write by ${writer} repaired: status.startedAt kept at "2026-11-23T10:00:00Z" (write of "2026-11-23T11:00:00Z" repaired)`],
  ])
  t.equal(await sample(metrics.statusRepairs, { kind: 'AgentRun', field: 'startedAt', action: 'restored', writer }), 1)
  t.match(lines, [{ level: 'info', msg: 'controller status write repaired', writer, subResource: 'status', repairs: [{ field: 'startedAt', action: 'restored' }] }])
})

t.test('break-glass: counted per user, logged at warn', async (t) => {
  const { metrics, lines, observer } = setup('warn')
  observer.decided(create(), { ...allowed('BreakGlass'), bypassedBy: 'oncall' }, route, trace)
  t.equal(await sample(metrics.breakGlassBypasses, { kind: 'AgentRun', user: 'oncall' }), 1)
  t.match(lines, [{ level: 'warn', msg: 'status rules bypassed by break-glass identity', bypassedBy: 'oncall' }])
})

t.test('a resource no route handles is logged at warn; an ordinary allow only at debug', async (t) => {
  const { lines, observer } = setup('info')
  observer.decided(create(), allowed('UnhandledResource'), { path: '/validate', webhook: 'unhandled' }, trace)
  observer.decided(create(), allowed(), route, trace)
  t.match(lines, [{ level: 'warn', msg: 'admission request for a resource no webhook route handles; admitted', webhook: 'unhandled' }])
  t.equal(lines.length, 1)
})

t.test('the trace id is computed only when a line is written', async (t) => {
  const { observer } = setup('info')
  let computed = 0
  observer.decided(create(), allowed(), route, { started: process.hrtime.bigint(), id: () => String(++computed) })
  t.equal(computed, 0)
})

t.test('logged denial messages are redacted like Event notes', async (t) => {
  const { lines, observer } = setup()
  const errors = [fieldError.invalid('spec.parameters[apiToken]', 'ghp_abcdefghijklmnopqrstuvwxyz0123', 'ParameterValueTooLarge', 'too large')]
  observer.decided(create(), denied(errors), route, trace)
  t.notMatch(String(lines[0]?.message), /ghp_abcdefghijklmnopqrstuvwxyz0123/)
  t.match(String(lines[0]?.message), /REDACTED/)
})

t.test('eventTarget: the run written; no uid on CREATE, where every attempt has a fresh one', async (t) => {
  const run = agentRun('r3')
  run.metadata = { ...run.metadata, uid: 'u-3' }
  t.equal(eventTarget(reviewFor(run).request as AdmissionRequest).uid, undefined)
  t.equal(eventTarget(reviewFor(run, { oldObject: run }).request as AdmissionRequest).uid, 'u-3')
  const generated = reviewFor({ ...run, metadata: { generateName: 'r-', namespace: 'team-a' } }).request as AdmissionRequest
  delete generated.name
  t.equal(eventTarget(generated).name, 'r-')
  const job = reviewFor({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'team-a' } }).request as AdmissionRequest
  t.same(eventTarget(job), { apiVersion: 'batch/v1', kind: 'Job', name: 'j', namespace: 'team-a', uid: undefined })
})
