/** The run reconciler over fake caches and a fake API: gather, plan, execute, its results, conflicts, scoping. */
import t from 'tap'
import { conflict, done, requeueAfter, TerminalError } from '../../../src/controller/reconcile.ts'
import { KubeApiError } from '../../../src/kube/errors.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { ReconcileMemory } from '../../../src/reconcile/memory.ts'
import { PlanCallsFailed } from '../../../src/reconcile/executor.ts'
import { createRunReconciler, type RunReconcilerConfig } from '../../../src/reconcile/run-reconciler.ts'
import { metricValue } from '../../helpers/fake-clock.ts'
import { LABEL_AGENT_RUN, LABEL_TOOL_RUN } from '../../../src/kube/run-kinds.ts'
import { agentRun, cacheOf, childOf, FakeApi, FakeRecorder, iso, job, jobRecorded, orchestrationRun, T0_MS, toolRun, workflow } from './fixtures.ts'

const baseConfig: RunReconcilerConfig = { cancelTimeoutMs: 30_000, jobTtlSeconds: 600, jobMissingGraceSeconds: 30, namespaces: [] }

function setup(
  options: {
    runs?: KubeObject[]
    orchestrations?: KubeObject[]
    toolRuns?: KubeObject[]
    jobs?: KubeObject[]
    /** Instead of `jobs`: one Job cache per label, each knowing its selector, as the informers are wired. */
    jobsByLabel?: Array<[label: string, jobs: KubeObject[]]>
    workflows?: KubeObject[] | undefined
    config?: Partial<RunReconcilerConfig>
  } = {},
) {
  const api = new FakeApi()
  const recorder = new FakeRecorder()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const clock = { now: T0_MS }
  const caches = {
    runs: { AgentRun: cacheOf(options.runs ?? []), OrchestrationRun: cacheOf(options.orchestrations ?? []), ToolRun: cacheOf(options.toolRuns ?? []) },
    jobs: options.jobsByLabel ? options.jobsByLabel.map(([labelSelector, jobs]) => ({ ...cacheOf(jobs), labelSelector })) : [cacheOf(options.jobs ?? [])],
    ...(options.workflows ? { workflows: [cacheOf(options.workflows)] } : {}),
  }
  for (const r of options.runs ?? []) api.put('agentruns', r)
  for (const r of options.orchestrations ?? []) api.put('orchestrationruns', r)
  for (const r of options.toolRuns ?? []) api.put('toolruns', r)
  for (const j of [...(options.jobs ?? []), ...(options.jobsByLabel?.flatMap(([, jobs]) => jobs) ?? [])]) api.put('jobs', j)
  const memory = new ReconcileMemory()
  const reconcile = createRunReconciler({
    config: { ...baseConfig, ...options.config },
    caches,
    memory,
    api,
    recorder,
    metrics,
    logger: silentLogger(),
    clock: () => clock.now,
  })
  return { api, recorder, metrics, clock, caches, memory, reconcile }
}

const statusOf = (api: FakeApi, plural: string, name: string): KubeObject['status'] => api.objects.get(`${plural}/agents/${name}`)?.status

t.test('AgentRun cancel: the Job is deleted at once, so the run is Cancelled in the same pass', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running' } })
  const s = setup({ runs: [run], jobs: [job('r-job', 'r')] })
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.api.ops(), ['delete jobs agents/r-job', 'replaceStatus agentruns agents/r'], 'one delete, one status write')
  const status = statusOf(s.api, 'agentruns', 'r')
  t.equal(status?.phase, 'Cancelled')
  t.same(status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`), ['Cancelled=True/CancelRequested'])
  t.same(s.memory.size, { cancels: 0, jobs: 0 }, 'memory released once Cancelled')
})

t.test('AgentRun cancel: a Job held by a finalizer → record first-seen, then Cancelled once it is gone', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running' } })
  const s = setup({ runs: [run], jobs: [job('r-job', 'r', { finalizers: ['x/hold'] })] })
  const first = await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['delete jobs agents/r-job', 'replaceStatus agentruns agents/r'])
  t.same(first, requeueAfter(30_000), 'come back at the cancel deadline')
  t.equal(statusOf(s.api, 'agentruns', 'r')?.conditions?.[0]?.status, 'Unknown')

  // The Job's delete event arrives; the run's cache entry catches up with our write.
  s.caches.jobs[0]!.objects.length = 0
  s.caches.runs.AgentRun.objects[0] = s.api.objects.get('agentruns/agents/r')!
  s.clock.now = T0_MS + 1_500
  s.api.calls = []
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.api.ops(), ['replaceStatus agentruns agents/r'])
  const status = statusOf(s.api, 'agentruns', 'r')
  t.equal(status?.phase, 'Cancelled')
  t.equal(status?.finishedAt, iso(T0_MS + 1_500))
  t.same(status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`), ['Cancelled=True/CancelRequested'])
  t.match(await s.metrics.registry.getSingleMetricAsString('runguard_cancel_propagation_seconds'), /_sum\{kind="AgentRun"\} 1.5\n/, 'propagation time from this process’s own first sighting')
  t.same(s.memory.size, { cancels: 0, jobs: 0 }, 'memory released once Cancelled')
})

t.test('AgentRun cancel with a Job cache that is not current: its Jobs are listed from the API server, so a Job the cache missed is stopped before the run is Cancelled', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running' } })
  // The cache lost events (say its watch expired and the relist has not come in): it still shows
  // a Job deleted meanwhile, and not the one created meanwhile.
  const s = setup({ runs: [run], jobs: [job('r-job-old', 'r')] })
  s.api.objects.delete('jobs/agents/r-job-old')
  const live = [job('r-job-new', 'r')]
  s.api.put('jobs', live[0]!)
  const liveLists: string[] = []
  Object.assign(s.caches.jobs[0]!, {
    isCurrent: () => false,
    listLive: async (namespace: string, selector: string) => {
      liveLists.push(`${namespace} ${selector}`)
      return live
    },
  })
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(liveLists, ['agents agents.proompteng.ai/agent-run=r'], "one live list, by the run's label")
  t.same(s.api.ops(), ['delete jobs agents/r-job-new', 'replaceStatus agentruns agents/r'], 'the Job the cache missed is deleted before the status write')
  t.equal(statusOf(s.api, 'agentruns', 'r')?.phase, 'Cancelled')

  // With the cache current again, no live list: the cache answers.
  const again = setup({ runs: [agentRun('q', { cancel: true, status: { phase: 'Running' } })], jobs: [job('q-job', 'q')] })
  Object.assign(again.caches.jobs[0]!, { isCurrent: () => true, listLive: async () => t.fail('no live list while the cache is current') })
  t.same(await again.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'q' }), done())
  t.same(again.api.ops(), ['delete jobs agents/q-job', 'replaceStatus agentruns agents/q'])

  // A run that is not being cancelled never pays for a live list, current cache or not.
  const quiet = setup({ runs: [agentRun('p', { status: { phase: 'Running' } })], jobs: [job('p-job', 'p')] })
  Object.assign(quiet.caches.jobs[0]!, { isCurrent: () => false, listLive: async () => t.fail('no live list without a cancel') })
  await quiet.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'p' })
  t.notOk(quiet.api.ops().some((op) => op.startsWith('delete')), 'nothing deleted')
})

/**
 * Makes a Job cache not current; its listLive answers from `live` with the cache's own label and
 * the asked selector, like the informer's, and notes each LIST in `lists`.
 */
function goStale(cache: ReturnType<typeof cacheOf>, ownLabel: string, live: KubeObject[], lists: string[]): void {
  Object.assign(cache, {
    isCurrent: () => false,
    listLive: async (namespace: string, selector: string) => {
      lists.push(`${ownLabel} ${namespace} ${selector}`)
      return cacheOf(live).list(namespace, `${ownLabel},${selector}`)
    },
  })
}

/** A Job labelled for both an AgentRun and a ToolRun. */
function bothLabels(name: string, agentRunName: string, toolRunName: string, uid?: string): KubeObject {
  const base = job(name, agentRunName, uid ? { uid } : {})
  return { ...base, metadata: { ...base.metadata, labels: { [LABEL_AGENT_RUN]: agentRunName, [LABEL_TOOL_RUN]: toolRunName } } }
}

t.test('cancel over a cache that is not current: the live list, not a stale cached copy, decides a recorded Job', async (t) => {
  const status = {
    ...jobRecorded('r-job', T0_MS - 60_000),
    workflow: { steps: [{ name: 'step-1', jobRef: { name: 'r-step-gone' } }, { name: 'step-2', jobRef: { name: 'r-other' } }] },
  }
  const run = agentRun('r', { cancel: true, status })
  const s = setup({
    runs: [run],
    // What the cache remembers: r-job as it was before it was re-created (same name, new uid), a
    // step Job deleted since, and a recorded Job labelled for another run.
    jobs: [job('r-job', 'r', { uid: 'uid-old' }), job('r-step-gone', 'r'), job('r-other', 'someone-else')],
  })
  s.api.objects.delete('jobs/agents/r-step-gone')
  const recreated = job('r-job', 'r', { uid: 'uid-new' })
  s.api.put('jobs', recreated)
  const lists: string[] = []
  goStale(s.caches.jobs[0]!, LABEL_AGENT_RUN, [recreated], lists)
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(lists, [`${LABEL_AGENT_RUN} agents ${LABEL_AGENT_RUN}=r`])
  const deletes = s.api.calls.filter((c) => c.op === 'delete').map((c) => `${c.name} ${c.options?.uid}`)
  t.same(deletes, ['r-job uid-new', 'r-other uid-r-other'], "the live copy's uid; the Job the live list did not return is not resurrected; a recorded Job the list cannot speak for is still stopped")
  t.equal(statusOf(s.api, 'agentruns', 'r')?.phase, 'Cancelled')
  t.notOk(s.api.objects.has('jobs/agents/r-job'), 'the re-created Job itself is gone, not just a DELETE answered for an old uid')
})

t.test('cancel over Job caches that are not current: one LIST, through the informer that selects the run kind’s label', async (t) => {
  const cases = [
    { kind: 'AgentRun' as const, plural: 'agentruns', own: LABEL_AGENT_RUN, run: agentRun('r', { cancel: true, status: { phase: 'Running' } }), created: job('r-new', 'r') },
    { kind: 'ToolRun' as const, plural: 'toolruns', own: LABEL_TOOL_RUN, run: toolRun('r', { cancel: true, status: { phase: 'Running' } }), created: job('r-new', 'r', { label: 'tool' }) },
  ]
  // The caches in either order: the run kind's own is found by its selector, not by its place.
  for (const c of cases.flatMap((c) => [{ ...c, labels: [LABEL_AGENT_RUN, LABEL_TOOL_RUN] }, { ...c, labels: [LABEL_TOOL_RUN, LABEL_AGENT_RUN] }])) {
    t.test(`${c.kind}, caches ${c.labels.join(' then ')}`, async (t) => {
      // A Job carrying both labels (an AgentRun's Job made for a ToolRun) sits in both caches.
      const shared = bothLabels('r-both', 'r', 'r')
      const s = setup({ ...(c.kind === 'AgentRun' ? { runs: [c.run] } : { toolRuns: [c.run] }), jobsByLabel: c.labels.map((label) => [label, [shared]]) })
      s.api.put('jobs', c.created)
      const lists: string[] = []
      const live = [shared, c.created]
      for (const [i, label] of c.labels.entries()) goStale(s.caches.jobs[i]!, label, live, lists)
      t.same(await s.reconcile({ kind: c.kind, namespace: 'agents', name: 'r' }), done())
      t.same(lists, [`${c.own} agents ${c.own}=r`], 'one LIST, by the run’s own label')
      t.same(
        s.api.ops().filter((op) => op.startsWith('delete')),
        ['delete jobs agents/r-both', 'delete jobs agents/r-new'],
        'each Job once, the one created while the watch was down included',
      )
      t.equal(statusOf(s.api, c.plural, 'r')?.phase, 'Cancelled')
    })
  }

  t.test('only the other label’s cache is not current: the run’s own cache answers, no LIST', async (t) => {
    const run = agentRun('r', { cancel: true, status: { phase: 'Running' } })
    const s = setup({ runs: [run], jobsByLabel: [[LABEL_AGENT_RUN, [job('r-job', 'r')]], [LABEL_TOOL_RUN, []]] })
    Object.assign(s.caches.jobs[0]!, { isCurrent: () => true, listLive: async () => t.fail('the agent-run cache is current') })
    const lists: string[] = []
    goStale(s.caches.jobs[1]!, LABEL_TOOL_RUN, [], lists)
    t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
    t.same(lists, [], 'the tool-run informer cannot hold an AgentRun Job the agent-run one lacks')
    t.same(s.api.ops(), ['delete jobs agents/r-job', 'replaceStatus agentruns agents/r'])
  })
})

t.test('a live Job list that fails fails the pass (retried with backoff), and nothing is written', async (t) => {
  const s = setup({ runs: [agentRun('r', { cancel: true, status: { phase: 'Running' } })], jobs: [] })
  Object.assign(s.caches.jobs[0]!, {
    isCurrent: () => false,
    listLive: async () => {
      throw new KubeApiError('list jobs: connection reset', {})
    },
  })
  await t.rejects(s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), /connection reset/)
  t.same(s.api.ops(), [], 'no call, no status write: the run is not called Cancelled on a guess')
})

t.test('a lost conflict: conflict() for the controller; the next pass reads the run itself and plans again', async (t) => {
  const cached = agentRun('r', { cancel: true, status: { phase: 'Running' }, resourceVersion: '100' })
  const s = setup({ runs: [cached] })
  // Someone else wrote meanwhile: the API has a newer resourceVersion, and the run succeeded.
  s.api.put('agentruns', agentRun('r', { cancel: true, status: { phase: 'Succeeded' }, resourceVersion: '150' }))
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), conflict())
  t.same(s.api.ops(), ['replaceStatus agentruns agents/r'])
  s.api.calls = []
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done(), 'the controller runs it again at once')
  t.same(s.api.ops(), ['get agentruns agents/r', 'replaceStatus agentruns agents/r'], 'the cache is still behind: the run is read from the API server')
  const status = statusOf(s.api, 'agentruns', 'r')
  t.equal(status?.phase, 'Succeeded', 'the fresh plan does not resurrect or overwrite the terminal phase')
  t.same(status?.conditions?.map((c) => c.reason), ['AlreadyTerminal'])
  t.notOk(await s.metrics.registry.getSingleMetricAsString('runguard_cancel_propagation_seconds').then((text) => /_count\{kind="AgentRun"\} [1-9]/.test(text)), 'the lost plan’s effects never ran')
})

t.test('after a conflict, a cache that has caught up is read as usual', async (t) => {
  const s = setup({ runs: [agentRun('r', { cancel: true, status: { phase: 'Running' }, resourceVersion: '100' })] })
  s.api.put('agentruns', agentRun('r', { cancel: true, status: { phase: 'Running' }, resourceVersion: '150' }))
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), conflict())
  s.caches.runs.AgentRun.objects[0] = s.api.objects.get('agentruns/agents/r')!
  s.api.calls = []
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.api.ops(), ['replaceStatus agentruns agents/r'], 'no GET')
  t.equal(statusOf(s.api, 'agentruns', 'r')?.phase, 'Cancelled')
})

t.test('OrchestrationRun: cancels its children from the caches', async (t) => {
  const parent = orchestrationRun('o', { cancel: true, status: { phase: 'Running' } })
  const s = setup({
    orchestrations: [parent],
    runs: [agentRun('a1', childOf('o', { status: { phase: 'Running' } })), agentRun('other', childOf('x', { status: { phase: 'Running' } }))],
  })
  await s.reconcile({ kind: 'OrchestrationRun', namespace: 'agents', name: 'o' })
  t.same(s.api.ops(), ['mergePatch agentruns agents/a1', 'replaceStatus orchestrationruns agents/o'], 'only its own children')
})

t.test('Workflows: from the labelled cache, and a recorded but unlabelled one fetched while cancelling', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running', runtimeRef: { type: 'workflow', name: 'recorded-wf' } } })
  const s = setup({ runs: [run], workflows: [workflow('labelled-wf', 'r', { phase: 'Running' })] })
  s.api.put('workflows', { metadata: { name: 'recorded-wf', namespace: 'agents' }, spec: {}, status: { phase: 'Running' } })
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['get workflows agents/recorded-wf', 'mergePatch workflows agents/labelled-wf', 'mergePatch workflows agents/recorded-wf', 'replaceStatus agentruns agents/r'])
})

t.test('Workflows API not served: Workflows ignored', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running', runtimeRef: { type: 'workflow', name: 'recorded-wf' } } })
  const s = setup({ runs: [run] })
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['replaceStatus agentruns agents/r'])
  t.equal(statusOf(s.api, 'agentruns', 'r')?.phase, 'Cancelled')
})

t.test('Job missing: confirmed by GET, grace period, reported once', async (t) => {
  const run = agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })
  const s = setup({ runs: [run] })
  const first = await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['get jobs agents/r-job'], 'absent from the cache: confirmed with a GET')
  t.same(first, requeueAfter(30_000), 'come back when the grace period ends')

  s.clock.now = T0_MS + 10_000
  s.api.calls = []
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), requeueAfter(20_000))
  t.same(s.api.ops(), [], 'within the grace period: no GET, no report')

  s.clock.now = T0_MS + 30_000
  s.api.calls = []
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['get jobs agents/r-job', 'replaceStatus agentruns agents/r'], 'confirmed again, then reported')
  t.same(s.recorder.events.map((e) => [e.type, e.reason]), [['Warning', 'JobMissing']])
  t.match(await s.metrics.registry.getSingleMetricAsString('runguard_job_missing_total'), /runguard_job_missing_total\{kind="AgentRun",reason="JobMissing"\} 1/)

  // A resync with the updated run: nothing more.
  s.caches.runs.AgentRun.objects[0] = s.api.objects.get('agentruns/agents/r')!
  s.clock.now = T0_MS + 400_000
  s.api.calls = []
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), [])
  t.equal(s.recorder.events.length, 1, 'reported once per Job')
})

t.test('Job missing: the watch delete event starts the grace period', async (t) => {
  const s = setup({ runs: [agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })] })
  s.memory.noteJobGone('agents/r-job', T0_MS - 30_000)
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), ['get jobs agents/r-job', 'replaceStatus agentruns agents/r'])
  t.same(s.recorder.events.map((e) => e.reason), ['JobMissing'])
})

t.test('Job missing: a Job that exists (not labelled, so not cached) is no alarm', async (t) => {
  const s = setup({ runs: [agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })] })
  s.api.put('jobs', job('r-job', 'r', { label: 'none' }))
  s.memory.noteJobGone('agents/r-job', T0_MS - 3_600_000)
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.recorder.events, [])
  t.equal(s.memory.jobGoneSince('agents/r-job'), undefined)
})

t.test('Job missing: a Job in the cache is no alarm, and no GET is made', async (t) => {
  const s = setup({ runs: [agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })], jobs: [job('r-job', 'r')] })
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.ops(), [])
})

t.test('namespace scoping, unknown runs, unknown kinds', async (t) => {
  const s = setup({ runs: [agentRun('r', { cancel: true, status: { phase: 'Running' } })], config: { namespaces: ['elsewhere'] } })
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.api.ops(), [], 'a namespace outside JANGAR_AGENTS_CONTROLLER_NAMESPACES is not touched')
  const s2 = setup()
  t.same(await s2.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'gone' }), done(), 'a run no longer in the cache: nothing')
  await t.rejects(s2.reconcile({ kind: 'Pod', namespace: 'agents', name: 'x' }), TerminalError)
})

t.test('Job TTL release through the reconciler', async (t) => {
  const run = agentRun('r', { status: jobRecorded('r-job', T0_MS, { phase: 'Succeeded' }) })
  const s = setup({ runs: [run], jobs: [job('r-job', 'r', { heldTtl: '45' })] })
  await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.same(s.api.calls.map((c) => [c.op, c.name, c.body]), [['mergePatch', 'r-job', { spec: { ttlSecondsAfterFinished: 45 } }]])
})

t.test('a failing call (RBAC): Forbidden Event, the pass fails for backoff, and the cancel deadline is kept', async (t) => {
  const s = setup({ runs: [agentRun('r', { cancel: true, status: { phase: 'Running' } })], jobs: [job('r-job', 'r')] })
  s.api.failWith = (call) => (call.op === 'delete' ? Object.assign(new Error('jobs.batch "r-job" is forbidden'), { statusCode: 403 }) : undefined)
  const result = await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.match(result, { type: 'failed', deadlineMs: 30_000 }, 'failed, and the deadline survives the error backoff')
  t.type(result.type === 'failed' && result.error, PlanCallsFailed)
  t.same(s.recorder.events.map((e) => [e.reason, e.opts.transient]), [['Forbidden', false]])
  t.equal(statusOf(s.api, 'agentruns', 'r')?.conditions?.[0]?.status, 'Unknown', 'the first-seen time is still recorded')

  s.caches.runs.AgentRun.objects[0] = s.api.objects.get('agentruns/agents/r')!
  s.clock.now = T0_MS + 30_000
  t.match(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), { type: 'failed', error: PlanCallsFailed })
  const status = statusOf(s.api, 'agentruns', 'r')
  t.equal(status?.phase, 'Cancelled', 'at the deadline: Cancelled anyway')
  t.equal(status?.conditions?.[0]?.reason, 'CancelTimedOut')
  t.ok(s.recorder.events.some((e) => e.reason === 'CancelTimedOut'))
})

t.test('cancel propagation is timed from the watch event that carried the cancel, queue wait included', async (t) => {
  const run = agentRun('r', { cancel: true, status: { phase: 'Running' } })
  const listeners: Array<{ onAdd?: (obj: KubeObject) => void; onUpdate?: (oldObj: KubeObject, obj: KubeObject) => void }> = []
  const runs = { ...cacheOf([run]), addHandlers: (handlers: (typeof listeners)[number]) => listeners.push(handlers) }
  const api = new FakeApi()
  api.put('agentruns', run)
  api.put('jobs', job('r-job', 'r'))
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const clock = { now: T0_MS }
  const reconcile = createRunReconciler({
    config: baseConfig,
    caches: { runs: { AgentRun: runs, OrchestrationRun: cacheOf([]), ToolRun: cacheOf([]) }, jobs: [cacheOf([job('r-job', 'r')])] },
    memory: new ReconcileMemory(),
    api,
    recorder: new FakeRecorder(),
    metrics,
    logger: silentLogger(),
    clock: () => clock.now,
  })
  t.equal(listeners.length, 1, 'the reconciler listens to its run caches')
  const before = agentRun('r', { status: { phase: 'Running' } })
  listeners[0]!.onUpdate?.(before, run)
  clock.now = T0_MS + 9_500
  listeners[0]!.onUpdate?.(run, run) // a later event (a resync) does not move the first sighting
  clock.now = T0_MS + 9_700 // the worker takes the run 9.7 s after the cancel arrived
  t.same(await reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.match(await metrics.registry.getSingleMetricAsString('runguard_cancel_propagation_seconds'), /_sum\{kind="AgentRun"\} 9\.7\n/, '9.7 s: the wait in the queue counts')
})

t.test('a cancel seen on a terminal run, or no cancel, is not noted', async (t) => {
  const memory = new ReconcileMemory()
  memory.noteRunEvent(agentRun('done', { cancel: true, status: { phase: 'Succeeded' } }), T0_MS)
  memory.noteRunEvent(agentRun('plain', { status: { phase: 'Running' } }), T0_MS)
  t.same(memory.size, { cancels: 0, jobs: 0 })
  memory.noteRunEvent(agentRun('c', { cancel: true }), T0_MS)
  t.same(memory.size, { cancels: 1, jobs: 0 })
})

t.test('Job-TTL hold healed through the reconciler, counted once it succeeded', async (t) => {
  const run = agentRun('r', { status: { phase: 'Running' } })
  const unheld: KubeObject = { ...job('r-job', 'r', { ttl: 300 }), metadata: { ...job('r-job', 'r', { ttl: 300 }).metadata, resourceVersion: '42' } }
  const s = setup({ runs: [run], jobs: [unheld] })
  t.equal(await metricValue(s.metrics.registry, 'runguard_job_ttl_holds_healed_total', { kind: 'AgentRun' }), 0, 'the series starts at zero')
  t.same(await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' }), done())
  t.same(s.api.calls.map((c) => [c.op, c.name, c.body]), [
    ['mergePatch', 'r-job', { metadata: { annotations: { 'runguard.proompteng.ai/ttl-seconds-after-finished': '300' }, resourceVersion: '42' }, spec: { ttlSecondsAfterFinished: null } }],
  ])
  t.equal(await metricValue(s.metrics.registry, 'runguard_job_ttl_holds_healed_total', { kind: 'AgentRun' }), 1)

  s.api.calls = []
  s.api.failWith = () => new KubeApiError('conflict', { statusCode: 409, statusReason: 'Conflict' })
  const failedPass = await s.reconcile({ kind: 'AgentRun', namespace: 'agents', name: 'r' })
  t.equal(failedPass.type, 'failed', 'a Job changed since the cache saw it: the pass is retried from fresh state')
  t.equal(await metricValue(s.metrics.registry, 'runguard_job_ttl_holds_healed_total', { kind: 'AgentRun' }), 1, 'a failed heal is not counted')
  t.match(s.recorder.events.at(-1), { reason: 'ReconcileError', opts: { action: 'JobTtlHold', transient: true } })
})
