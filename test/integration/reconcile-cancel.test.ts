/**
 * SPEC §3 cancel propagation end to end, on the real control plane with the real Job and
 * garbage-collector controllers, the runguard admission webhook installed (so every status write
 * the reconciler makes must pass the status rules and the CEL backstops), a minimal Argo Workflow
 * CRD, and `runguard reconcile` as a child process:
 * - OrchestrationRun → child AgentRun → its Job deleted → the Job's pods removed by the GC;
 * - ToolRun → its Job; AgentRun → its Argo Workflow terminated;
 * - CancelTimedOut (a Job that cannot go away; a child run that never finishes);
 * - AlreadyTerminal;
 * - the metrics on the reconciler's /metrics port.
 */
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitForGone, waitForJobPods, setPodPhase, waitUntil } from '../harness/pods.ts'
import { installRunguard } from '../harness/runguard.ts'
import {
  cancel,
  condition,
  create,
  eventsFor,
  get,
  jobManifest,
  jobPath,
  mergePatch,
  metricValue,
  prepareCluster,
  runManifest,
  runPath,
  startReconcilerProcess,
  waitForLeader,
  waitForObject,
  workflowPath,
  writeStatus,
  type Obj,
} from './reconcile-harness.ts'

const NS = 'rc-cancel'
const TIMEOUT_MS = 4000
const testStarted = Date.now()

const cp = await startControlPlaneForTest(t)
const webhook = await installRunguard(cp)
t.teardown(() => webhook.stop())
await prepareCluster(cp, [NS], { argo: true })
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-cancel',
  env: { AGENTS_CONTROLLER_NAMESPACES: NS, AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: String(TIMEOUT_MS) },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler])
t.comment(`set-up (control plane, webhook, reconciler leading): ${Date.now() - testStarted} ms`)

const isCancelled = (reason: string) => (obj: Obj) => obj.status?.phase === 'Cancelled' && condition(obj, 'Cancelled')?.status === 'True' && condition(obj, 'Cancelled')?.reason === reason

async function runningRun(kind: 'AgentRun' | 'ToolRun' | 'OrchestrationRun', name: string, labels?: Record<string, string>, status: Record<string, unknown> = {}): Promise<Obj> {
  const created = await create(cp, runPath(kind, NS), runManifest(kind, NS, name, labels ? { labels } : {}))
  await writeStatus(cp, runPath(kind, NS, name), { phase: 'Running', ...status })
  return created
}

t.test('OrchestrationRun → child AgentRun → Job deleted, pods garbage-collected, both Cancelled', async (t) => {
  await runningRun('OrchestrationRun', 'nightly')
  const child = await runningRun('AgentRun', 'nightly-step1', { 'agents.proompteng.ai/orchestration-run': 'nightly', 'agents.proompteng.ai/orchestration-step': 'step1' }, {
    runtimeRef: { type: 'job', name: 'nightly-step1-job', namespace: NS },
  })
  await create(cp, jobPath(NS), jobManifest(NS, 'nightly-step1-job', 'nightly-step1', { ownerUid: child.metadata.uid }))
  const pods = await waitForJobPods(cp, NS, 'nightly-step1-job')
  for (const pod of pods) await setPodPhase(cp, pod, 'Running')
  const startedAt = (await get(cp, runPath('OrchestrationRun', NS, 'nightly')))?.status?.startedAt
  t.ok(startedAt, 'the webhook stamped startedAt when the run went Running')

  const cancelAt = Date.now()
  await cancel(cp, runPath('OrchestrationRun', NS, 'nightly'))
  const childCancelled = await waitForObject(cp, runPath('AgentRun', NS, 'nightly-step1'), 'child spec.cancel', (o) => o.spec?.cancel === true)
  t.comment(`the child AgentRun got spec.cancel: true (${Date.now() - cancelAt} ms)`)
  t.same(
    childCancelled.spec,
    { ...(runManifest('AgentRun', NS, 'nightly-step1').spec as object), cancel: true, desiredState: 'Cancelled' },
    'a merge patch: the child keeps the rest of its spec; the webhook filled in desiredState',
  )
  await waitForGone(cp, jobPath(NS, 'nightly-step1-job'))
  t.pass('the child’s Job was deleted')
  for (const pod of pods) await waitForGone(cp, `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`)
  t.pass('its pods were removed by the garbage collector')
  const childDone = await waitForObject(cp, runPath('AgentRun', NS, 'nightly-step1'), 'child Cancelled', isCancelled('CancelRequested'))
  t.ok(childDone.status?.finishedAt, 'child finishedAt set')
  const done = await waitForObject(cp, runPath('OrchestrationRun', NS, 'nightly'), 'OrchestrationRun Cancelled', isCancelled('CancelRequested'))
  t.comment(`spec.cancel → OrchestrationRun Cancelled (through child run, Job, pods): ${Date.now() - cancelAt} ms`)
  t.equal(done.status?.startedAt, startedAt, 'startedAt untouched')
  t.ok(done.status?.finishedAt, 'finishedAt set')
  t.equal(done.status?.observedGeneration, 2, 'observedGeneration = metadata.generation (the cancel made it 2)')
  t.equal(condition(done, 'Cancelled')?.message, 'cancelled: every Job, Workflow and child run has stopped')
  t.ok(Date.parse(done.status!.finishedAt!) >= Date.parse(childDone.status!.finishedAt!), 'the parent is Cancelled only once its child is')
})

t.test('ToolRun → its Job deleted, pods garbage-collected → Cancelled', async (t) => {
  const run = await runningRun('ToolRun', 'lint')
  await create(cp, jobPath(NS), jobManifest(NS, 'lint-job', 'lint', { runKind: 'ToolRun', ownerUid: run.metadata.uid }))
  const pods = await waitForJobPods(cp, NS, 'lint-job')
  const startedAt = (await get(cp, runPath('ToolRun', NS, 'lint')))?.status?.startedAt
  const cancelAt = Date.now()
  await cancel(cp, runPath('ToolRun', NS, 'lint'))
  const done = await waitForObject(cp, runPath('ToolRun', NS, 'lint'), 'ToolRun Cancelled', (o) => o.status?.phase === 'Cancelled')
  t.equal(await get(cp, jobPath(NS, 'lint-job')), undefined, 'the Job is gone once the run is Cancelled')
  const cancelled = condition(done, 'Cancelled')
  t.same(
    cancelled && { status: cancelled.status, reason: cancelled.reason, message: cancelled.message },
    { status: 'True', reason: 'CancelRequested', message: 'cancelled: every Job, Workflow and child run has stopped' },
    'condition Cancelled=True, reason CancelRequested',
  )
  t.equal(done.status?.startedAt, startedAt, 'startedAt untouched')
  t.ok(Date.parse(done.status?.finishedAt ?? '') >= cancelAt - 1000, 'finishedAt is the time of the cancel')
  t.equal(done.status?.observedGeneration, 2, 'observedGeneration = metadata.generation (the cancel made it 2)')
  for (const pod of pods) await waitForGone(cp, `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`)
  const left = await cp.request('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent('batch.kubernetes.io/job-name=lint-job')}`)
  t.same((left.body as { items: unknown[] }).items, [], 'the Job was deleted with its pods (propagationPolicy Background)')
})

t.test('AgentRun with an Argo Workflow: spec.shutdown Terminate, Cancelled once the Workflow stops', async (t) => {
  await runningRun('AgentRun', 'wf-run', undefined, { runtimeRef: { type: 'workflow', name: 'wf-run-abc12', namespace: NS } })
  await create(cp, workflowPath(NS), {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name: 'wf-run-abc12', namespace: NS, labels: { 'agents.proompteng.ai/agent-run': 'wf-run' } },
    spec: { entrypoint: 'main' },
  })
  await mergePatch(cp, workflowPath(NS, 'wf-run-abc12'), { status: { phase: 'Running' } })
  await cancel(cp, runPath('AgentRun', NS, 'wf-run'))
  await waitForObject(cp, workflowPath(NS, 'wf-run-abc12'), 'spec.shutdown', (o) => o.spec?.shutdown === 'Terminate')
  t.pass('the Workflow was told to terminate')
  const waiting = await waitForObject(cp, runPath('AgentRun', NS, 'wf-run'), 'Cancelled=Unknown', (o) => condition(o, 'Cancelled')?.status === 'Unknown')
  t.equal(condition(waiting, 'Cancelled')?.reason, 'CancelRequested', 'Cancelled=Unknown/CancelRequested records when the cancel was first seen')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal((await get(cp, runPath('AgentRun', NS, 'wf-run')))?.status?.phase, 'Running', 'still Running while the Workflow runs')
  // Play the Argo controller: a terminated Workflow ends Failed.
  await mergePatch(cp, workflowPath(NS, 'wf-run-abc12'), { status: { phase: 'Failed', message: 'Stopped with strategy Terminate' } })
  await waitForObject(cp, runPath('AgentRun', NS, 'wf-run'), 'AgentRun Cancelled', isCancelled('CancelRequested'))
  t.pass('Cancelled once the Workflow finished')
})

t.test('CancelTimedOut: a Job that cannot go away, a child run that never finishes', async (t) => {
  const held = await runningRun('AgentRun', 'held', undefined, { runtimeRef: { type: 'job', name: 'held-job', namespace: NS } })
  await create(cp, jobPath(NS), jobManifest(NS, 'held-job', 'held', { ownerUid: held.metadata.uid, finalizers: ['runguard.test/hold'] }))
  await runningRun('OrchestrationRun', 'stuck-parent')
  await create(cp, runPath('AgentRun', NS), runManifest('AgentRun', NS, 'stuck-child', { labels: { 'agents.proompteng.ai/orchestration-run': 'stuck-parent' }, finalizers: ['runguard.test/hold'] }))
  await writeStatus(cp, runPath('AgentRun', NS, 'stuck-child'), { phase: 'Running' })
  // Being deleted but held by a finalizer: runguard leaves it alone, and it never becomes terminal.
  await cp.request('DELETE', runPath('AgentRun', NS, 'stuck-child'))

  const cancelAt = Date.now()
  await Promise.all([cancel(cp, runPath('AgentRun', NS, 'held')), cancel(cp, runPath('OrchestrationRun', NS, 'stuck-parent'))])
  const [run, parent] = await Promise.all([
    waitForObject(cp, runPath('AgentRun', NS, 'held'), 'held Cancelled', isCancelled('CancelTimedOut')),
    waitForObject(cp, runPath('OrchestrationRun', NS, 'stuck-parent'), 'stuck-parent Cancelled', isCancelled('CancelTimedOut')),
  ])
  const elapsed = Date.now() - cancelAt
  t.comment(`CancelTimedOut written ${elapsed} ms after the cancel (timeout ${TIMEOUT_MS} ms)`)
  t.ok(elapsed >= TIMEOUT_MS - 50, 'not before the timeout')
  t.ok(elapsed < TIMEOUT_MS + 5000, 'soon after it (requeued at the deadline, not polled)')
  t.match(condition(run, 'Cancelled')?.message, `still running: Job ${NS}/held-job`)
  t.match(condition(parent, 'Cancelled')?.message, `still running: AgentRun ${NS}/stuck-child`)
  const events = await waitUntil('CancelTimedOut Events', { timeoutMs: 10_000 }, async () => {
    const found = [...(await eventsFor(cp, NS, 'held', 'CancelTimedOut')), ...(await eventsFor(cp, NS, 'stuck-parent', 'CancelTimedOut'))]
    return found.length >= 2 ? found : undefined
  })
  t.ok(events.every((e) => e.type === 'Warning'), 'Warning Events')
  t.match(events.find((e) => e.regarding?.name === 'held')?.note, /still running: Job/)

  // Clean-up: let the held objects go.
  await mergePatch(cp, jobPath(NS, 'held-job'), { metadata: { finalizers: null } })
  await mergePatch(cp, runPath('AgentRun', NS, 'stuck-child'), { metadata: { finalizers: null } })
})

t.test('AlreadyTerminal: a cancel on a Succeeded run changes nothing but the condition', async (t) => {
  await runningRun('AgentRun', 'finished')
  await writeStatus(cp, runPath('AgentRun', NS, 'finished'), { phase: 'Succeeded' })
  const before = await get(cp, runPath('AgentRun', NS, 'finished'))
  t.ok(before?.status?.finishedAt, 'finishedAt set')
  await cancel(cp, runPath('AgentRun', NS, 'finished'))
  const after = await waitForObject(cp, runPath('AgentRun', NS, 'finished'), 'AlreadyTerminal', (o) => condition(o, 'Cancelled')?.reason === 'AlreadyTerminal')
  t.equal(condition(after, 'Cancelled')?.status, 'False')
  t.equal(after.status?.phase, 'Succeeded', 'phase untouched')
  t.equal(after.status?.finishedAt, before?.status?.finishedAt, 'finishedAt untouched')
  t.equal(after.status?.startedAt, before?.status?.startedAt, 'startedAt untouched')
})

t.test('metrics on the reconciler port', async (t) => {
  const health = await fetch(`http://127.0.0.1:${reconciler.metricsPort}/readyz`)
  t.equal(health.status, 200, '/readyz')
  t.equal((await fetch(`http://127.0.0.1:${reconciler.metricsPort}/livez`)).status, 200, '/livez')
  const text = await reconciler.scrape()
  const value = (name: string, labels: Record<string, string> = {}) => metricValue(text, name, labels) ?? 0
  t.equal(value('runguard_leader'), 1, 'runguard_leader 1')
  t.ok(value('agents_run_outcomes_total', { kind: 'AgentRun', outcome: 'Cancelled', runtime: 'job' }) >= 3, 'AgentRun Cancelled outcomes')
  t.ok(value('agents_run_outcomes_total', { kind: 'OrchestrationRun', outcome: 'Cancelled', runtime: 'none' }) >= 2, 'OrchestrationRun Cancelled outcomes')
  t.ok(value('agents_run_outcomes_total', { kind: 'ToolRun', outcome: 'Cancelled', runtime: 'job' }) >= 1, 'ToolRun Cancelled outcome')
  t.equal(value('agents_run_outcomes_total', { kind: 'AgentRun', outcome: 'Succeeded', runtime: 'job' }), 1, 'the Succeeded run counted once')
  t.ok(value('runguard_cancel_propagation_seconds_count', { kind: 'AgentRun' }) >= 3, 'cancel propagation observed')
  t.ok(value('runguard_cancel_propagation_seconds_bucket', { kind: 'AgentRun', le: '10' }) >= 1, 'real buckets')
  t.ok(value('controller_runtime_reconcile_total', { controller: 'agentrun', result: 'success' }) > 0, 'reconcile total')
  t.ok(value('controller_runtime_reconcile_total', { controller: 'orchestrationrun', result: 'requeue_after' }) > 0, 'requeue at the deadline')
  t.equal(value('controller_runtime_reconcile_errors_total', { controller: 'agentrun' }), 0, 'no reconcile errors: every write passed the webhook and CEL')
  t.ok(value('controller_runtime_reconcile_time_seconds_count', { controller: 'agentrun' }) > 0, 'reconcile latency')
  t.ok(value('workqueue_adds_total', { name: 'agentrun' }) > 0, 'workqueue adds')
  t.ok(text.includes('workqueue_depth{name="toolrun"}'), 'workqueue depth')
  t.ok(value('runguard_events_total', { reason: 'CancelTimedOut', result: 'sent' }) >= 2, 'Events counted')
  t.ok(text.includes('runguard_build_info{version='), 'build info')
  t.ok(text.includes('process_cpu_seconds_total'), 'Node process metrics')
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
