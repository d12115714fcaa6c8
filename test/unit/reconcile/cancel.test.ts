/** SPEC §3 cancel propagation / design note 004: every branch of planCancel. */
import t from 'tap'
import type { KubeObject, RunStatus } from '../../../src/kube/objects.ts'
import { runKindByName, type RunKindName } from '../../../src/kube/run-kinds.ts'
import { cancelFirstSeenMs, planCancel, type CancelInput, type ChildRun } from '../../../src/reconcile/cancel.ts'
import type { Plan } from '../../../src/reconcile/plan-types.ts'
import { agentRun, childOf, iso, job, NS, orchestrationRun, T0_MS, toolRun, workflow } from './fixtures.ts'

const TIMEOUT = 30_000

function input(kindName: RunKindName, runObj: KubeObject, extra: Partial<CancelInput> = {}): CancelInput {
  return {
    kind: runKindByName(kindName)!,
    run: runObj,
    nowMs: T0_MS,
    config: { cancelTimeoutMs: TIMEOUT },
    jobs: [],
    workflows: [],
    children: [],
    ...extra,
  }
}

const waiting = (sinceMs: number): RunStatus => ({
  phase: 'Running',
  conditions: [{ type: 'Cancelled', status: 'Unknown', reason: 'CancelRequested', message: 'waiting', lastTransitionTime: iso(sinceMs) }],
})

function summary(plan: Plan): { calls: string[]; phase?: string; conditions: string[]; effects: string[]; requeueAfterMs?: number } {
  return {
    calls: plan.calls.map((c) => `${c.type} ${'kind' in c ? `${c.kind} ` : ''}${c.namespace}/${c.name}${c.type === 'cancelChild' && c.desiredState ? ' +desiredState' : ''}`),
    ...(plan.status?.phase ? { phase: plan.status.phase } : {}),
    conditions: (plan.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`),
    effects: plan.effects.map((e) => (e.type === 'event' ? `event ${e.eventType} ${e.reason}` : e.type === 'cancelPropagation' ? `cancelPropagation ${e.seconds}` : `jobMissing ${e.reason}`)),
    ...(plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : {}),
  }
}

const child = (kind: RunKindName, obj: KubeObject): ChildRun => ({ kind, obj })

t.test('planCancel', async (t) => {
  const scenarios: Array<{ name: string; input: CancelInput; want: ReturnType<typeof summary> }> = [
    {
      name: 'no cancel requested: nothing',
      input: input('AgentRun', agentRun('r', { status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }),
      want: { calls: [], conditions: [], effects: [] },
    },
    {
      name: 'cancel: false is not a cancel',
      input: input('AgentRun', agentRun('r', { spec: { cancel: false }, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }),
      want: { calls: [], conditions: [], effects: [] },
    },
    {
      name: 'desiredState Cancelled is a cancel',
      input: input('AgentRun', agentRun('r', { spec: { desiredState: 'Cancelled' }, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }),
      want: { calls: ['deleteJob agents/r-job'], conditions: ['Cancelled=Unknown/CancelRequested'], effects: [], requeueAfterMs: TIMEOUT },
    },
    {
      name: 'AgentRun with a running Job: delete it, record first-seen, wait until the timeout',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }),
      want: { calls: ['deleteJob agents/r-job'], conditions: ['Cancelled=Unknown/CancelRequested'], effects: [], requeueAfterMs: TIMEOUT },
    },
    {
      name: 'AgentRun with no Jobs at all: Cancelled at once',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Pending' } })),
      want: { calls: [], phase: 'Cancelled', conditions: ['Cancelled=True/CancelRequested'], effects: ['cancelPropagation 0'] },
    },
    {
      name: 'a finished Job is deleted but does not hold the cancel',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r', { finished: 'Complete' })] }),
      want: { calls: ['deleteJob agents/r-job'], phase: 'Cancelled', conditions: ['Cancelled=True/CancelRequested'], effects: ['cancelPropagation 0'] },
    },
    {
      name: 'a Job already being deleted is not deleted again, and is waited for',
      input: input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS - 5_000) }), { jobs: [job('r-job', 'r', { deleting: true })] }),
      want: { calls: [], conditions: [], effects: [], requeueAfterMs: TIMEOUT - 5_000 },
    },
    {
      name: 'Jobs gone after the first pass: Cancelled, propagation time from the recorded first-seen',
      input: input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS - 4_000) })),
      want: { calls: [], phase: 'Cancelled', conditions: ['Cancelled=True/CancelRequested'], effects: ['cancelPropagation 4'] },
    },
    {
      name: 'ToolRun: deletes its Jobs like an AgentRun',
      input: input('ToolRun', toolRun('t', { cancel: true, status: { phase: 'Running' } }), { jobs: [job('t-job', 't', { label: 'tool' })] }),
      want: { calls: ['deleteJob agents/t-job'], conditions: ['Cancelled=Unknown/CancelRequested'], effects: [], requeueAfterMs: TIMEOUT },
    },
    {
      name: 'Argo Workflow running: terminate it and wait',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Running' } }), { workflows: [workflow('wf', 'r', { phase: 'Running' })] }),
      want: { calls: ['terminateWorkflow agents/wf'], conditions: ['Cancelled=Unknown/CancelRequested'], effects: [], requeueAfterMs: TIMEOUT },
    },
    {
      name: 'Argo Workflow already told to terminate: not patched again, still waited for',
      input: input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS - 1_000) }), { workflows: [workflow('wf', 'r', { phase: 'Running', shutdown: 'Terminate' })] }),
      want: { calls: [], conditions: [], effects: [], requeueAfterMs: TIMEOUT - 1_000 },
    },
    {
      name: 'Argo Workflow finished (Failed after Terminate): Cancelled',
      input: input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS - 2_000) }), { workflows: [workflow('wf', 'r', { phase: 'Failed', shutdown: 'Terminate' })] }),
      want: { calls: [], phase: 'Cancelled', conditions: ['Cancelled=True/CancelRequested'], effects: ['cancelPropagation 2'] },
    },
    {
      name: 'OrchestrationRun: cancel every running child (one level), keep desiredState in step',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: { phase: 'Running' } }), {
        children: [
          child('AgentRun', agentRun('a1', childOf('o', { status: { phase: 'Running' } }))),
          child('ToolRun', toolRun('t1', childOf('o', { spec: { desiredState: 'Running' }, status: { phase: 'Pending' } }))),
          child('OrchestrationRun', orchestrationRun('o2', childOf('o', { status: { phase: 'Running' } }))),
          child('AgentRun', agentRun('done', childOf('o', { status: { phase: 'Succeeded' } }))),
        ],
      }),
      want: {
        calls: ['cancelChild AgentRun agents/a1', 'cancelChild ToolRun agents/t1 +desiredState', 'cancelChild OrchestrationRun agents/o2'],
        conditions: ['Cancelled=Unknown/CancelRequested'],
        effects: [],
        requeueAfterMs: TIMEOUT,
      },
    },
    {
      name: 'OrchestrationRun: a child already cancelling is not patched again (its own reconcile carries on)',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: waiting(T0_MS - 3_000) }), {
        children: [child('AgentRun', agentRun('a1', childOf('o', { cancel: true, status: { phase: 'Running' } })))],
      }),
      want: { calls: [], conditions: [], effects: [], requeueAfterMs: TIMEOUT - 3_000 },
    },
    {
      name: 'OrchestrationRun: every child terminal (Cancelled or otherwise) → Cancelled',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: waiting(T0_MS - 3_000) }), {
        children: [
          child('AgentRun', agentRun('a1', childOf('o', { cancel: true, status: { phase: 'Cancelled' } }))),
          child('ToolRun', toolRun('t1', childOf('o', { status: { phase: 'Failed' } }))),
        ],
      }),
      want: { calls: [], phase: 'Cancelled', conditions: ['Cancelled=True/CancelRequested'], effects: ['cancelPropagation 3'] },
    },
    {
      name: 'timeout not yet reached (1 ms before): keep waiting',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: waiting(T0_MS - TIMEOUT) }), {
        children: [child('AgentRun', agentRun('a1', childOf('o', { cancel: true, status: { phase: 'Running' } })))],
        cancelSeenAtMs: T0_MS - TIMEOUT + 1,
      }),
      want: { calls: [], conditions: [], effects: [], requeueAfterMs: 1 },
    },
    {
      name: 'timeout exactly reached: CancelTimedOut, Warning Event naming what is left',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: waiting(T0_MS - TIMEOUT) }), {
        children: [child('AgentRun', agentRun('a1', childOf('o', { cancel: true, status: { phase: 'Running' } })))],
      }),
      want: { calls: [], phase: 'Cancelled', conditions: ['Cancelled=True/CancelTimedOut'], effects: ['event Warning CancelTimedOut', `cancelPropagation ${TIMEOUT / 1000}`] },
    },
    {
      name: 'timeout 0: the first pass propagates and times out at once',
      input: { ...input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }), config: { cancelTimeoutMs: 0 } },
      want: { calls: ['deleteJob agents/r-job'], phase: 'Cancelled', conditions: ['Cancelled=True/CancelTimedOut'], effects: ['event Warning CancelTimedOut', 'cancelPropagation 0'] },
    },
    {
      name: 'AlreadyTerminal: cancel on a Succeeded run writes only the condition',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Succeeded' } }), { jobs: [job('r-job', 'r', { finished: 'Complete' })] }),
      want: { calls: [], conditions: ['Cancelled=False/AlreadyTerminal'], effects: [] },
    },
    {
      name: 'AlreadyTerminal: a Failed OrchestrationRun does not cancel its children',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: { phase: 'Failed' } }), {
        children: [child('AgentRun', agentRun('a1', childOf('o', { status: { phase: 'Running' } })))],
      }),
      want: { calls: [], conditions: ['Cancelled=False/AlreadyTerminal'], effects: [] },
    },
    {
      name: 'AlreadyTerminal already recorded: nothing',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Failed', conditions: [{ type: 'Cancelled', status: 'False', reason: 'AlreadyTerminal', message: '', lastTransitionTime: iso(T0_MS) }] } })),
      want: { calls: [], conditions: [], effects: [] },
    },
    {
      name: 'a run that finished while its cancel was waiting: AlreadyTerminal replaces Unknown',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { ...waiting(T0_MS - 1_000), phase: 'Succeeded' } })),
      want: { calls: [], conditions: ['Cancelled=False/AlreadyTerminal'], effects: [] },
    },
    {
      name: 'Cancelled by us already: nothing',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Cancelled', conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: '', lastTransitionTime: iso(T0_MS) }] } })),
      want: { calls: [], conditions: [], effects: [] },
    },
    {
      name: 'Cancelled already, a Job still running turns up (the Job cache was behind): it is deleted; a finished one is left to its TTL',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Cancelled', conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelRequested', message: '', lastTransitionTime: iso(T0_MS) }] } }), {
        jobs: [job('r-job', 'r'), job('r-done', 'r', { finished: 'Complete' }), job('r-going', 'r', { deleting: true })],
      }),
      want: { calls: ['deleteJob agents/r-job'], conditions: [], effects: [] },
    },
    {
      name: 'Cancelled (timed out) with an OrchestrationRun child still running and not cancelled: it is cancelled',
      input: input('OrchestrationRun', orchestrationRun('o', { cancel: true, status: { phase: 'Cancelled', conditions: [{ type: 'Cancelled', status: 'True', reason: 'CancelTimedOut', message: '', lastTransitionTime: iso(T0_MS) }] } }), {
        children: [child('AgentRun', agentRun('a1', childOf('o', { status: { phase: 'Running' } }))), child('AgentRun', agentRun('a2', childOf('o', { status: { phase: 'Succeeded' } })))],
      }),
      want: { calls: ['cancelChild AgentRun agents/a1'], conditions: [], effects: [] },
    },
    {
      name: 'Cancelled by another controller: the condition is made to say so',
      input: input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Cancelled' } })),
      want: { calls: [], conditions: ['Cancelled=True/CancelRequested'], effects: [] },
    },
    {
      name: 'a run being deleted: nothing',
      input: input('AgentRun', agentRun('r', { cancel: true, deleting: true, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r')] }),
      want: { calls: [], conditions: [], effects: [] },
    },
  ]
  for (const s of scenarios) {
    t.same(summary(planCancel(s.input)), s.want, s.name)
  }
})

t.test('CancelTimedOut message lists what was left, capped', async (t) => {
  const jobs = Array.from({ length: 25 }, (_, i) => job(`j${String(i).padStart(2, '0')}`, 'r', { deleting: true }))
  const plan = planCancel(input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS - TIMEOUT) }), { jobs }))
  const message = plan.status?.conditions?.[0]?.message ?? ''
  t.match(message, /^cancel timed out after 30000 ms; still running: Job agents\/j00, Job agents\/j01/)
  t.match(message, /Job agents\/j19 and 5 more$/)
  const event = plan.effects.find((e) => e.type === 'event')
  t.equal(event?.type === 'event' ? event.message : '', message, 'the Event says the same')
})

t.test('first-seen time', async (t) => {
  const recorded = T0_MS - 10_000
  const withCondition = agentRun('r', { cancel: true, status: waiting(recorded) })
  t.equal(cancelFirstSeenMs(agentRun('r', { cancel: true }), T0_MS), T0_MS, 'nothing recorded: now')
  t.equal(cancelFirstSeenMs(agentRun('r', { cancel: true }), T0_MS, T0_MS - 5), T0_MS - 5, 'nothing recorded: this process’s reading')
  t.equal(cancelFirstSeenMs(withCondition, T0_MS), recorded, 'the durable condition (restart, new leader)')
  t.equal(cancelFirstSeenMs(withCondition, T0_MS, recorded + 400), recorded + 400, 'our own reading refines it within the same second')
  t.equal(cancelFirstSeenMs(withCondition, T0_MS, recorded - 9_000), recorded - 9_000, 'seen (watch event) long before the condition was written: the queue wait counts')
  t.equal(cancelFirstSeenMs(withCondition, T0_MS, recorded + 5_000), recorded, 'a later reading (another process wrote it) does not reset the clock')
  const plan = planCancel(input('AgentRun', withCondition, { jobs: [job('r-job', 'r', { deleting: true })], nowMs: T0_MS + 100 }))
  t.equal(plan.requeueAfterMs, TIMEOUT - 10_100, 'a restart does not reset the timeout clock')
})

t.test('the first-seen condition is written once, not on every pass', async (t) => {
  const first = planCancel(input('AgentRun', agentRun('r', { cancel: true, status: { phase: 'Running' } }), { jobs: [job('r-job', 'r', { deleting: true })] }))
  t.ok(first.status, 'first pass records Cancelled=Unknown')
  const second = planCancel(input('AgentRun', agentRun('r', { cancel: true, status: waiting(T0_MS) }), { jobs: [job('r-job', 'r', { deleting: true })], nowMs: T0_MS + 1_000 }))
  t.equal(second.status, undefined, 'second pass writes nothing')
  t.equal(second.requeueAfterMs, TIMEOUT - 1_000)
  t.equal(NS, 'agents')
})
