/** The executor: calls, status through the helper with optimistic concurrency, effects, error reporting. */
import t from 'tap'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { ApiError, deleteResultOf } from '../../../src/reconcile/api.ts'
import { classifyError } from '../../../src/reconcile/errors.ts'
import { executePlan, PlanCallsFailed } from '../../../src/reconcile/executor.ts'
import type { Plan } from '../../../src/reconcile/plan-types.ts'
import { agentRun, FakeApi, FakeRecorder, iso, T0_MS } from './fixtures.ts'

const kind = runKindByName('AgentRun')!

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
  t.equal(await executePlan(plan, { kind, run, nowMs: T0_MS }, deps), 'done')
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
  t.equal(await executePlan(plan, { kind, run, nowMs: T0_MS }, deps), 'done')
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

t.test('an unchanged status is not written; effects still run', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { generation: 2, status: { phase: 'Running', observedGeneration: 2 } })
  const plan: Plan = { calls: [], status: { phase: 'Running' }, effects: [{ type: 'event', eventType: 'Warning', reason: 'X', message: 'x', action: 'A' }] }
  t.equal(await executePlan(plan, { kind, run, nowMs: T0_MS }, deps), 'done')
  t.same(api.calls, [])
  t.equal(recorder.events.length, 1)
})

t.test('a conflict returns "conflict" and runs no effects', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', { ...run, metadata: { ...run.metadata, resourceVersion: '101' } })
  const plan: Plan = { calls: [], status: { phase: 'Cancelled' }, effects: [{ type: 'event', eventType: 'Warning', reason: 'CancelTimedOut', message: 'x', action: 'A' }] }
  t.equal(await executePlan(plan, { kind, run, nowMs: T0_MS }, deps), 'conflict')
  t.same(recorder.events, [])
})

t.test('a status write to a vanished run is "gone"', async (t) => {
  const { api, deps } = setup()
  api.failWith = (call) => (call.op === 'replaceStatus' ? new ApiError('not found', 404, 'NotFound') : undefined)
  t.equal(await executePlan({ calls: [], status: { phase: 'Cancelled' }, effects: [] }, { kind, run: agentRun('r'), nowMs: T0_MS }, deps), 'gone')
})

t.test('a failed call: Warning with a stable reason, the rest of the plan runs, then the pass fails (retried)', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', run)
  api.failWith = (call) => {
    if (call.op === 'delete' && call.name === 'forbidden-job') return new ApiError('delete Job agents/forbidden-job: HTTP 403 Forbidden: jobs.batch "forbidden-job" is forbidden', 403, 'Forbidden')
    if (call.op === 'delete' && call.name === 'flaky-job') return new ApiError('delete Job agents/flaky-job: HTTP 503', 503, 'ServiceUnavailable')
    return undefined
  }
  const plan: Plan = {
    calls: [
      { type: 'deleteJob', namespace: 'agents', name: 'forbidden-job' },
      { type: 'deleteJob', namespace: 'agents', name: 'flaky-job' },
      { type: 'deleteJob', namespace: 'agents', name: 'fine-job' },
    ],
    status: { conditions: [{ type: 'Cancelled', status: 'Unknown', reason: 'CancelRequested', message: 'w' }] },
    effects: [],
  }
  await t.rejects(executePlan(plan, { kind, run, nowMs: T0_MS }, deps), PlanCallsFailed)
  t.same(api.ops(), ['delete jobs agents/forbidden-job', 'delete jobs agents/flaky-job', 'delete jobs agents/fine-job', 'replaceStatus agentruns agents/r'])
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
  api.failWith = (call) => (call.op === 'replaceStatus' ? new ApiError('denied', 422, 'Invalid') : undefined)
  await t.rejects(executePlan({ calls: [], status: { phase: 'Cancelled' }, effects: [] }, { kind, run: agentRun('r'), nowMs: T0_MS }, deps), ApiError)
  t.same(recorder.events.map((e) => e.reason), ['InvalidSpec'])
})

t.test('classifyError', async (t) => {
  const cases: Array<[unknown, string, boolean]> = [
    [new ApiError('x', 403, 'Forbidden'), 'Forbidden', false],
    [new ApiError('x', 401, undefined), 'Unauthorized', false],
    [new ApiError('x', 422, 'Invalid'), 'InvalidSpec', false],
    [new ApiError('x', 400, 'BadRequest'), 'InvalidSpec', false],
    [new ApiError('x', 409, 'Conflict'), 'ReconcileError', true],
    [new ApiError('x', 429, 'TooManyRequests'), 'ReconcileError', true],
    [new ApiError('x', 500, undefined), 'ReconcileError', true],
    [new ApiError('x', 504, undefined), 'ReconcileError', true],
    [new Error('socket hang up'), 'ReconcileError', true],
    [new ApiError('x', 405, undefined), 'ReconcileError', false],
  ]
  for (const [err, reason, transient] of cases) {
    const c = classifyError(err)
    t.same([c.reason, c.transient], [reason, transient], `${(err as Error).message} ${c.statusCode}`)
  }
})

t.test('replan: Jobs deleted at once are passed on, and the fresh plan’s status and effects are used', async (t) => {
  const { api, deps, recorder } = setup()
  const run = agentRun('r', { status: { phase: 'Running' } })
  api.put('agentruns', run)
  api.put('jobs', { metadata: { name: 'gone-job', namespace: 'agents' } })
  api.put('jobs', { metadata: { name: 'held-job', namespace: 'agents', finalizers: ['x/hold'] } })
  const original: Plan = {
    calls: [
      { type: 'deleteJob', namespace: 'agents', name: 'gone-job' },
      { type: 'deleteJob', namespace: 'agents', name: 'held-job' },
      { type: 'deleteJob', namespace: 'agents', name: 'absent-job' },
    ],
    status: { conditions: [{ type: 'Cancelled', status: 'Unknown', reason: 'CancelRequested', message: 'w' }] },
    effects: [{ type: 'event', eventType: 'Normal', reason: 'Original', message: 'o', action: 'A' }],
  }
  let seen: string[] = []
  const outcome = await executePlan(original, { kind, run, nowMs: T0_MS }, deps, (gone) => {
    seen = [...gone].sort()
    return { calls: [{ type: 'deleteJob', namespace: 'agents', name: 'never-called' }], status: { phase: 'Cancelled' }, effects: [{ type: 'event', eventType: 'Normal', reason: 'Replanned', message: 'r', action: 'A' }] }
  })
  t.equal(outcome, 'done')
  t.same(seen, ['agents/absent-job', 'agents/gone-job'], 'deleted and already-absent Jobs are gone; the held one is not')
  t.same(api.ops(), ['delete jobs agents/gone-job', 'delete jobs agents/held-job', 'delete jobs agents/absent-job', 'replaceStatus agentruns agents/r'], 'the fresh plan’s calls are not made')
  t.equal((api.calls.at(-1)?.body as { phase?: string }).phase, 'Cancelled')
  t.same(recorder.events.map((e) => e.reason), ['Replanned'])
})

t.test('deleteResultOf', async (t) => {
  t.equal(deleteResultOf({ kind: 'Status', status: 'Success' }), 'deleted')
  t.equal(deleteResultOf({ kind: 'Job', metadata: { name: 'j' } }), 'deleted')
  t.equal(deleteResultOf({ kind: 'Job', metadata: { name: 'j', deletionTimestamp: '2026-11-23T11:00:00Z', finalizers: ['x'] } }), 'pending')
  t.equal(deleteResultOf(undefined), 'deleted')
})
