/** The executor: calls, status through the helper with optimistic concurrency, effects, error reporting. */
import t from 'tap'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { KubeApiError } from '../../../src/kube/errors.ts'
import { classifyError } from '../../../src/reconcile/errors.ts'
import { runCalls, runEffects, writeStatus } from '../../../src/reconcile/executor.ts'
import type { Call, Plan } from '../../../src/reconcile/plan-types.ts'
import { agentRun, FakeApi, FakeRecorder, iso, T0_MS } from './fixtures.ts'

const kind = runKindByName('AgentRun')!

const deleteJobs = (...names: string[]): Call[] => names.map((name) => ({ type: 'deleteJob', namespace: 'agents', name }))

function setup() {
  const api = new FakeApi()
  const recorder = new FakeRecorder()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  return { api, recorder, metrics, deps: { api, recorder, metrics, logger: silentLogger() } }
}

t.test('calls are made as planned', async (t) => {
  const { api, deps } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', run)
  const plan: Plan = {
    calls: [
      { type: 'deleteJob', namespace: 'agents', name: 'r-job', uid: 'u1' },
      { type: 'terminateWorkflow', namespace: 'agents', name: 'wf' },
      { type: 'cancelChild', kind: 'ToolRun', namespace: 'agents', name: 't', desiredState: false },
      { type: 'cancelChild', kind: 'OrchestrationRun', namespace: 'agents', name: 'o', desiredState: true },
      { type: 'setJobTtl', namespace: 'agents', name: 'r-job', ttlSeconds: 120 },
      { type: 'deleteRun', kind: 'AgentRun', namespace: 'agents', name: 'old', uid: 'u2' },
    ],
    effects: [],
  }
  const outcome = await runCalls(plan.calls, { kind, run }, deps)
  t.same(outcome.failures, [])
  t.same(
    api.calls.map((c) => [c.op, c.resource, c.name, c.body ?? c.options]),
    [
      ['delete', 'jobs', 'r-job', { propagationPolicy: 'Background', uid: 'u1' }],
      ['mergePatch', 'workflows', 'wf', { spec: { shutdown: 'Terminate' } }],
      ['mergePatch', 'toolruns', 't', { spec: { cancel: true } }],
      ['mergePatch', 'orchestrationruns', 'o', { spec: { cancel: true, desiredState: 'Cancelled' } }],
      ['mergePatch', 'jobs', 'r-job', { spec: { ttlSecondsAfterFinished: 120 } }],
      ['delete', 'agentruns', 'old', { propagationPolicy: 'Background', uid: 'u2' }],
    ],
  )
})

t.test('status goes through the status helper, conditional on resourceVersion', async (t) => {
  const { api, deps, metrics, recorder } = setup()
  const run = agentRun('r', { generation: 3, status: { phase: 'Running', startedAt: iso(T0_MS - 60_000), observedGeneration: 2 } })
  api.put('agentruns', run)
  const plan: Plan = {
    calls: [],
    status: { phase: 'Cancelled', conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: 'm' }] },
    effects: [
      { type: 'cancelPropagation', seconds: 2 },
      { type: 'jobMissing', reason: 'JobMissing' },
      { type: 'event', eventType: 'Warning', reason: 'CancelTimedOut', message: 'left: x', action: 'CancelPropagation' },
      { type: 'event', eventType: 'Normal', reason: 'Note', message: 'n', action: 'X' },
    ],
  }
  const target = { kind, run, nowMs: T0_MS }
  t.equal(await writeStatus(plan.status, target, deps), 'written')
  runEffects(deps, target, plan.effects)
  const written = api.calls.find((c) => c.op === 'replaceStatus')?.body
  t.same(written, {
    phase: 'Cancelled',
    startedAt: iso(T0_MS - 60_000),
    observedGeneration: 3,
    conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: 'm', lastTransitionTime: iso(T0_MS), observedGeneration: 3 }],
    finishedAt: iso(T0_MS),
    updatedAt: iso(T0_MS),
  })
  t.match(await metrics.registry.getSingleMetricAsString('runguard_cancel_propagation_seconds'), /runguard_cancel_propagation_seconds_sum\{kind="AgentRun"\} 2/)
  t.match(await metrics.registry.getSingleMetricAsString('runguard_job_missing_total'), /runguard_job_missing_total\{kind="AgentRun",reason="JobMissing"\} 1/)
  t.same(recorder.events.map((e) => [e.type, e.reason, e.regarding.kind, e.regarding.name, e.regarding.apiVersion]), [
    ['Warning', 'CancelTimedOut', 'AgentRun', 'r', 'agents.proompteng.ai/v1alpha1'],
    ['Normal', 'Note', 'AgentRun', 'r', 'agents.proompteng.ai/v1alpha1'],
  ])
})

t.test('an unchanged status, or none, is not written', async (t) => {
  const { api, deps } = setup()
  const run = agentRun('r', { generation: 2, status: { phase: 'Running', observedGeneration: 2 } })
  t.equal(await writeStatus({ phase: 'Running' }, { kind, run, nowMs: T0_MS }, deps), 'unchanged')
  t.equal(await writeStatus(undefined, { kind, run, nowMs: T0_MS }, deps), 'unchanged')
  t.same(api.calls, [])
})

t.test('a status write made from a stale resourceVersion is a "conflict"', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', { ...run, metadata: { ...run.metadata, resourceVersion: '101' } })
  t.equal(await writeStatus({ phase: 'Cancelled' }, { kind, run, nowMs: T0_MS }, deps), 'conflict')
  t.same(recorder.events, [], 'expected, not reported')
})

t.test('a status write to a vanished run is "gone"', async (t) => {
  const { api, deps } = setup()
  api.failWith = (call) => (call.op === 'replaceStatus' ? new KubeApiError('not found', { statusCode: 404, statusReason: 'NotFound' }) : undefined)
  t.equal(await writeStatus({ phase: 'Cancelled' }, { kind, run: agentRun('r'), nowMs: T0_MS }, deps), 'gone')
})

t.test('a failed call: Warning with a stable reason, the other calls still run, the failures are returned', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', run)
  api.failWith = (call) => {
    if (call.op === 'delete' && call.name === 'forbidden-job') return new KubeApiError('delete Job agents/forbidden-job: HTTP 403 Forbidden: jobs.batch "forbidden-job" is forbidden', { statusCode: 403, statusReason: 'Forbidden' })
    if (call.op === 'delete' && call.name === 'flaky-job') return new KubeApiError('delete Job agents/flaky-job: HTTP 503', { statusCode: 503, statusReason: 'ServiceUnavailable' })
    return undefined
  }
  const outcome = await runCalls(deleteJobs('forbidden-job', 'flaky-job', 'fine-job'), { kind, run }, deps)
  t.same(api.ops(), ['delete jobs agents/forbidden-job', 'delete jobs agents/flaky-job', 'delete jobs agents/fine-job'])
  t.same(
    outcome.failures.map((f) => f.call.type === 'deleteJob' && f.call.name),
    ['forbidden-job', 'flaky-job'],
  )
  t.same(
    recorder.events.map((e) => [e.reason, e.opts.transient, e.opts.action]),
    [
      ['Forbidden', false, 'CancelPropagation'],
      ['ReconcileError', true, 'CancelPropagation'],
    ],
  )
  t.match(recorder.events[0]!.message, /^delete Job agents\/forbidden-job failed: .*forbidden/)
})

t.test('a status write rejected by the API: reported and thrown', async (t) => {
  const { api, deps, recorder } = setup()
  api.failWith = (call) => (call.op === 'replaceStatus' ? new KubeApiError('denied', { statusCode: 422, statusReason: 'Invalid' }) : undefined)
  await t.rejects(writeStatus({ phase: 'Cancelled' }, { kind, run: agentRun('r'), nowMs: T0_MS }, deps), KubeApiError)
  t.same(recorder.events.map((e) => e.reason), ['InvalidSpec'])
})

t.test('classifyError', async (t) => {
  const cases: Array<[unknown, string, boolean]> = [
    [new KubeApiError('x', { statusCode: 403, statusReason: 'Forbidden' }), 'Forbidden', false],
    [new KubeApiError('x', { statusCode: 401 }), 'Unauthorized', false],
    [new KubeApiError('x', { statusCode: 422, statusReason: 'Invalid' }), 'InvalidSpec', false],
    [new KubeApiError('x', { statusCode: 400, statusReason: 'BadRequest' }), 'InvalidSpec', false],
    [new KubeApiError('x', { statusCode: 409, statusReason: 'Conflict' }), 'ReconcileError', true],
    [new KubeApiError('x', { statusCode: 429, statusReason: 'TooManyRequests' }), 'ReconcileError', true],
    [new KubeApiError('x', { statusCode: 500 }), 'ReconcileError', true],
    [new KubeApiError('x', { statusCode: 504 }), 'ReconcileError', true],
    [new Error('socket hang up'), 'ReconcileError', true],
    [new KubeApiError('x', { statusCode: 405 }), 'ReconcileError', false],
  ]
  for (const [err, reason, transient] of cases) {
    const c = classifyError(err)
    t.same([c.reason, c.transient], [reason, transient], `${(err as Error).message} ${c.statusCode}`)
  }
})

t.test('runCalls names the Jobs gone for good: deleted at once or already absent, not held by a finalizer', async (t) => {
  const { api, deps } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('jobs', { metadata: { name: 'gone-job', namespace: 'agents' } })
  api.put('jobs', { metadata: { name: 'held-job', namespace: 'agents', finalizers: ['x/hold'] } })
  const outcome = await runCalls(deleteJobs('gone-job', 'held-job', 'absent-job'), { kind, run }, deps)
  t.same([...outcome.goneJobs].sort(), ['agents/absent-job', 'agents/gone-job'])
  t.same(outcome.failures, [])
})
