/**
 * Issue 13 goal 7, on the real control plane: a run's Job created while the Job webhook was not
 * called (failurePolicy Ignore — here it is not registered at all) keeps its
 * ttlSecondsAfterFinished and has no hold annotation. Once `runguard reconcile` starts, it heals
 * the hold on the Jobs of runs that are not terminal — the TTL moved into
 * runguard.proompteng.ai/ttl-seconds-after-finished, as the webhook would have — counted in
 * runguard_job_ttl_holds_healed_total{kind}; a terminal run's Job is left as its creator made it;
 * and the healed hold is released as usual once the run finishes.
 */
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { create, get, jobManifest, jobPath, metricValue, prepareCluster, runManifest, runPath, startReconcilerProcess, waitForLeader, waitForObject, writeStatus } from './reconcile-harness.ts'

const NS = 'job-ttl-heal'
const HOLD = 'runguard.proompteng.ai/ttl-seconds-after-finished'

const cp = await startControlPlaneForTest(t)
// No installRunguard(): no webhook is registered, so nothing holds a TTL at CREATE.
await prepareCluster(cp, [NS])

const running = await create(cp, runPath('AgentRun', NS), runManifest('AgentRun', NS, 'running'))
await writeStatus(cp, runPath('AgentRun', NS, 'running'), { phase: 'Running', runtimeRef: { type: 'job', name: 'running-job', namespace: NS } })
await create(cp, jobPath(NS), jobManifest(NS, 'running-job', 'running', { ownerUid: running.metadata.uid, ttlSecondsAfterFinished: 300 }))

const tool = await create(cp, runPath('ToolRun', NS), runManifest('ToolRun', NS, 'tool'))
await create(cp, jobPath(NS), jobManifest(NS, 'tool-job', 'tool', { runKind: 'ToolRun', ownerUid: tool.metadata.uid, ttlSecondsAfterFinished: 45 }))

const finished = await create(cp, runPath('AgentRun', NS), runManifest('AgentRun', NS, 'finished'))
await writeStatus(cp, runPath('AgentRun', NS, 'finished'), { phase: 'Running' })
await writeStatus(cp, runPath('AgentRun', NS, 'finished'), { phase: 'Succeeded', runtimeRef: { type: 'job', name: 'finished-job', namespace: NS } })
await create(cp, jobPath(NS), jobManifest(NS, 'finished-job', 'finished', { ownerUid: finished.metadata.uid, ttlSecondsAfterFinished: 120 }))

const unheld = await get(cp, jobPath(NS, 'running-job'))

const reconciler = await startReconcilerProcess(cp, { name: 'reconciler-ttl-heal', env: { AGENTS_CONTROLLER_NAMESPACES: NS } })
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler])

t.test('without the webhook a Job keeps its TTL and has no hold: the gap to heal', async (t) => {
  t.equal(unheld?.spec?.ttlSecondsAfterFinished, 300)
  t.equal(unheld?.metadata.annotations?.[HOLD], undefined)
})

t.test('the Jobs of runs that are not terminal get the hold', async (t) => {
  const healed = await waitForObject(cp, jobPath(NS, 'running-job'), 'the hold on running-job', (job) => job.metadata.annotations?.[HOLD] !== undefined)
  t.equal(healed.metadata.annotations?.[HOLD], '300', 'the TTL moved into the annotation')
  t.equal(healed.spec?.ttlSecondsAfterFinished, undefined, 'and off the Job, so the TTL controller cannot delete it early')
  const toolJob = await waitForObject(cp, jobPath(NS, 'tool-job'), 'the hold on tool-job', (job) => job.metadata.annotations?.[HOLD] !== undefined)
  t.equal(toolJob.metadata.annotations?.[HOLD], '45', "a ToolRun's Job too")
  t.equal(toolJob.spec?.ttlSecondsAfterFinished, undefined)

  const counted = await waitUntil('the heals counted', { timeoutMs: 30_000, intervalMs: 200 }, async () => {
    const text = await reconciler.scrape()
    const agentRuns = metricValue(text, 'runguard_job_ttl_holds_healed_total', { kind: 'AgentRun' })
    const toolRuns = metricValue(text, 'runguard_job_ttl_holds_healed_total', { kind: 'ToolRun' })
    return agentRuns === 1 && toolRuns === 1 ? { agentRuns, toolRuns } : undefined
  })
  t.same(counted, { agentRuns: 1, toolRuns: 1 }, 'runguard_job_ttl_holds_healed_total{kind}: one each')
})

t.test("a terminal run's Job is left as its creator made it", async (t) => {
  // The heals above went through the same reconciler passes; this Job's run was reconciled too.
  const job = await get(cp, jobPath(NS, 'finished-job'))
  t.equal(job?.spec?.ttlSecondsAfterFinished, 120)
  t.equal(job?.metadata.annotations?.[HOLD], undefined)
})

t.test('the healed hold is released once the run finishes, as a webhook-made one', async (t) => {
  await writeStatus(cp, runPath('AgentRun', NS, 'running'), { phase: 'Succeeded' })
  const released = await waitForObject(cp, jobPath(NS, 'running-job'), 'the TTL released', (job) => job.spec?.ttlSecondsAfterFinished !== undefined)
  t.equal(released.spec?.ttlSecondsAfterFinished, 300, 'the held value, put back')
  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'runguard_job_ttl_holds_healed_total', { kind: 'AgentRun' }), 1, 'a released TTL is not healed again: the run is terminal')
})
