/** planRun: the planners combined; refs and triggers. */
import t from 'tap'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { MAX_REQUEUE_MS, clampDelay, planRun, type RunState } from '../../../src/reconcile/plan.ts'
import { earliest, mergePlans } from '../../../src/reconcile/plan-types.ts'
import { isCancelRequested, recordedJobs, recordedWorkflow, runtimeLabel } from '../../../src/reconcile/refs.ts'
import { ownerRunsOf, parentRunOf, terminalTransition } from '../../../src/reconcile/triggers.ts'
import { recordedJobs as records } from '../../../src/reconcile/refs.ts'
import { agentRun, childOf, iso, job, jobRecorded, orchestrationRun, T0_MS, toolRun } from './fixtures.ts'

const config = { cancelTimeoutMs: 30_000, jobTtlSeconds: 600, jobMissingGraceSeconds: 30 }

function state(partial: Partial<RunState> & Pick<RunState, 'run'>): RunState {
  return { kind: runKindByName('AgentRun')!, nowMs: T0_MS, config, jobs: [], workflows: [], children: [], missingJobs: [], ...partial }
}

t.test('planRun', async (t) => {
  const terminalWithJob = agentRun('r', { cancel: true, status: jobRecorded('r-job', T0_MS, { phase: 'Succeeded' }) })
  const plan = planRun(state({ run: terminalWithJob, jobs: [job('r-job', 'r', { heldTtl: '60' })] }))
  t.same(
    plan.calls.map((c) => c.type),
    ['setJobTtl'],
    'cancel on a terminal run: no deletes, only the TTL release',
  )
  t.same(plan.status?.conditions?.map((c) => c.reason), ['AlreadyTerminal'])

  const missingRun = agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })
  const missing = planRun(state({ run: missingRun, missingJobs: records(missingRun).map((j) => ({ job: j, missingSinceMs: T0_MS - 10_000 })) }))
  t.equal(missing.requeueAfterMs, 20_000, 'grace period deadline')

  const far = planRun(state({ run: agentRun('r', { cancel: true, status: { phase: 'Running' } }), jobs: [job('r-job', 'r', { deleting: true })], config: { ...config, cancelTimeoutMs: 100 * 86400_000 } }))
  t.equal(far.requeueAfterMs, MAX_REQUEUE_MS, 'long deadlines are clamped (Node timers overflow past 2^31-1 ms)')

  t.same(planRun(state({ run: agentRun('r', { cancel: true, deleting: true }), jobs: [job('r-job', 'r')] })), { calls: [], effects: [] }, 'a run being deleted: nothing')

  const orchestration = planRun(
    state({
      kind: runKindByName('OrchestrationRun')!,
      run: orchestrationRun('o', { cancel: true, status: { phase: 'Running' } }),
      children: [{ kind: 'OrchestrationRun', obj: orchestrationRun('o2', childOf('o', { status: { phase: 'Running' } })) }],
    }),
  )
  t.same(orchestration.calls, [{ type: 'cancelChild', kind: 'OrchestrationRun', namespace: 'agents', name: 'o2', desiredState: false }], 'recursion: one level per reconcile (the grandchildren are o2’s business)')
})

t.test('mergePlans, earliest, clampDelay', async (t) => {
  const merged = mergePlans(
    { calls: [], effects: [], status: { phase: 'Cancelled', conditions: [{ type: 'A', status: 'True', reason: 'R', message: '' }] }, requeueAfterMs: 50 },
    { calls: [], effects: [], status: { conditions: [{ type: 'B', status: 'True', reason: 'R', message: '' }], fields: { x: 1 } }, requeueAfterMs: 10 },
    { calls: [], effects: [] },
  )
  t.same(merged.status, { phase: 'Cancelled', conditions: [{ type: 'A', status: 'True', reason: 'R', message: '' }, { type: 'B', status: 'True', reason: 'R', message: '' }], fields: { x: 1 } })
  t.equal(merged.requeueAfterMs, 10)
  t.equal(earliest(undefined, undefined), undefined)
  t.equal(earliest(5, undefined), 5)
  t.equal(clampDelay(-10), 1, 'a passed deadline means soon')
  t.equal(clampDelay(1.2), 2)
})

t.test('refs', async (t) => {
  t.ok(isCancelRequested(agentRun('r', { spec: { cancel: true } })))
  t.ok(isCancelRequested(agentRun('r', { spec: { desiredState: 'Cancelled' } })))
  t.notOk(isCancelRequested(agentRun('r', { spec: { desiredState: 'Running' } })))
  t.notOk(isCancelRequested({ metadata: { name: 'x' } }))
  const run = agentRun('r', {
    status: {
      runtimeRef: { type: 'Job', name: 'r-job', uid: 'u1', jobObservedAt: iso(T0_MS) },
      workflow: { steps: [{ name: 's', phase: 'Failed', jobRef: { name: 'r-s', namespace: 'other' }, jobObservedAt: 'not a time' }, { name: 'nojob' }, 'junk'] },
    },
  })
  t.same(recordedJobs(run), [
    { namespace: 'agents', name: 'r-job', uid: 'u1', observedAtMs: T0_MS, source: 'runtimeRef', stepFinished: false },
    { namespace: 'other', name: 'r-s', source: 'step', step: 's', stepFinished: true },
  ])
  t.same(recordedJobs(agentRun('r', { status: { runtimeRef: { type: 'workflow', name: 'wf' } } })), [], 'a workflow runtimeRef is not a Job')
  t.same(recordedWorkflow(agentRun('r', { status: { runtimeRef: { type: 'workflow', name: 'wf' } } })), { namespace: 'agents', name: 'wf' })
  t.equal(recordedWorkflow(run), undefined)
  t.equal(runtimeLabel(agentRun('r')), 'job')
  t.equal(runtimeLabel(agentRun('r', { spec: { runtime: { type: 'weird-thing' } } })), 'other', 'bounded label values')
  t.equal(runtimeLabel(orchestrationRun('o')), 'none')
})

t.test('triggers', async (t) => {
  t.same(ownerRunsOf(job('j', 'r')), [{ kind: 'AgentRun', namespace: 'agents', name: 'r' }])
  t.same(ownerRunsOf(job('j', 't', { label: 'tool' })), [{ kind: 'ToolRun', namespace: 'agents', name: 't' }])
  const owned = job('j', 'x', { label: 'none' })
  owned.metadata!.ownerReferences = [{ apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'owner', uid: 'u' }, { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u2' }]
  t.same(ownerRunsOf(owned), [{ kind: 'AgentRun', namespace: 'agents', name: 'owner' }], 'by ownerReference')
  t.same(parentRunOf(agentRun('a', childOf('o'))), { kind: 'OrchestrationRun', namespace: 'agents', name: 'o' })
  t.equal(parentRunOf(agentRun('a')), undefined)

  const running = toolRun('t', { spec: { runtime: { type: 'job' } }, status: { phase: 'Running' } })
  const done = toolRun('t', { spec: { runtime: { type: 'job' } }, status: { phase: 'Failed' } })
  t.same(terminalTransition('ToolRun', running, done), { kind: 'ToolRun', outcome: 'Failed', runtime: 'job' }, 'counted on the transition')
  t.equal(terminalTransition('ToolRun', done, done), undefined, 'not on a resync')
  t.equal(terminalTransition('ToolRun', undefined, done), undefined, 'not for a run first seen terminal (replay, new leader)')
  t.equal(terminalTransition('ToolRun', running, running), undefined)
})
