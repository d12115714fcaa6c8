/**
 * Issue 14, faults on the real control plane: etcd stopped (SIGKILL) and restarted while runs are
 * being cancelled. kube-apiserver stays up throughout and fails (or holds) its storage calls while
 * etcd is gone; the reconciler keeps its Lease through the outage (OUTAGE_LEASE_ENV). Every cancel
 * the API server accepted — before, during or after the outage — must be carried out once etcd is
 * back: the run ends Cancelled and its Job is gone.
 *
 * "Accepted" is judged from the cluster afterwards, not only from the answers: a cancel whose
 * client gave up during the outage may still have been committed when etcd returned, and it must
 * then be carried out like any other.
 */
import { join } from 'node:path'
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { startTcpProxy } from '../harness/tcp-proxy.ts'
import { cancelledCount, listRuns, makeRunningRuns, OUTAGE_LEASE_ENV, waitCancelledAndJobsGone } from './faults-common.ts'
import { mapLimit, metricValue, prepareCluster, runPath, startReconcilerProcess, waitForLeader } from './reconcile-harness.ts'

const NS = 'faults-etcd'
const RUNS = 20
const testStarted = Date.now()

const cp = await startControlPlaneForTest(t)
await prepareCluster(cp, [NS])
// 100 ms each way between the reconciler and the API server: each cancel then takes a few hundred
// ms, so etcd goes away in the middle of the storm rather than after it.
const proxy = await startTcpProxy({ port: cp.ports.apiServer })
t.teardown(() => proxy.close())
proxy.setLatency(100)
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-etcd',
  kubeconfigPath: await cp.writeKubeconfig(join(cp.workDir, 'reconciler-etcd.kubeconfig'), { server: proxy.url }),
  env: {
    ...OUTAGE_LEASE_ENV,
    AGENTS_CONTROLLER_NAMESPACES: NS,
    AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '120000',
    // One worker: the cancels take long enough for etcd to go away in the middle of them.
    RUNGUARD_RECONCILE_CONCURRENCY: '1',
  },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler], 60_000)

/** A merge patch setting spec.cancel, with a short client timeout; the answer's HTTP status (0: no answer). */
async function tryCancel(name: string): Promise<number> {
  try {
    const r = await cp.request('PATCH', runPath('AgentRun', NS, name), { spec: { cancel: true } }, { contentType: 'application/merge-patch+json', timeoutMs: 3_000 })
    return r.status
  } catch {
    return 0
  }
}

t.test('etcd killed and restarted in the middle of a cancel storm: every accepted cancel is carried out', async (t) => {
  const runs = await makeRunningRuns(cp, NS, 'storm', RUNS)
  const firstWave = runs.slice(0, RUNS / 2)
  const duringOutage = runs.slice(RUNS / 2)

  const statuses = await mapLimit(firstWave, 10, (r) => tryCancel(r.name))
  t.ok(statuses.every((s) => s === 200), 'first wave accepted (etcd up)')
  await waitUntil('the reconciler to be busy', { timeoutMs: 20_000, intervalMs: 20 }, async () => ((await cancelledCount(cp, NS, 'storm')) >= 2 ? true : undefined))

  const cancelledAtCrash = await cancelledCount(cp, NS, 'storm')
  const stoppedAt = Date.now()
  await cp.stopEtcd({ crash: true })
  t.comment(`etcd killed (SIGKILL) with ${cancelledAtCrash}/${firstWave.length} first-wave runs Cancelled`)
  t.ok(cancelledAtCrash < firstWave.length, 'etcd went away in the middle of the cancels')

  // Cancels sent while etcd is down: the API server cannot commit them now; some may be committed
  // once etcd returns (the API server still holds them), which is fine as long as they are then carried out.
  const outageStatuses = await mapLimit(duringOutage, 10, (r) => tryCancel(r.name))
  t.comment(`cancels during the outage answered: ${JSON.stringify(outageStatuses)}`)
  t.equal(outageStatuses.filter((s) => s === 200).length, 0, 'nothing is accepted while etcd is down')

  await cp.startEtcd()
  t.comment(`etcd back after ${Date.now() - stoppedAt} ms`)
  t.ok(reconciler.process.running, 'the reconciler rode out the outage')

  // Every cancel the cluster holds now (accepted before, or committed late) must be carried out.
  const cancelRequested = await waitUntil('the API server to answer again', { timeoutMs: 60_000, intervalMs: 250 }, async () => {
    try {
      return (await listRuns(cp, NS, 'storm')).filter((o) => o.spec?.cancel === true).map((o) => o.metadata.name)
    } catch {
      return undefined
    }
  })
  t.ok(firstWave.every((r) => cancelRequested.includes(r.name)), 'every cancel accepted before the outage survived it')
  const backAt = Date.now()
  await waitCancelledAndJobsGone(cp, NS, 'storm', cancelRequested, 60_000)
  t.comment(`${cancelRequested.length} requested cancels all carried out ${Date.now() - backAt} ms after etcd was back`)
  t.pass('every accepted cancel carried out: run Cancelled, Job gone')

  // The rest are asked for again now that the API server accepts them, and carried out too.
  const rest = duringOutage.filter((r) => !cancelRequested.includes(r.name))
  const retried = await mapLimit(rest, 10, (r) => tryCancel(r.name))
  t.ok(retried.every((s) => s === 200), 'cancels accepted again after the outage')
  const done = await waitCancelledAndJobsGone(cp, NS, 'storm', runs.map((r) => r.name), 60_000)
  t.equal(done.length, RUNS, `all ${RUNS} runs Cancelled, their Jobs gone`)
  t.ok(done.every((o) => o.status?.finishedAt), 'every run has finishedAt')
  t.ok(reconciler.process.running, 'one reconciler process throughout (no restart needed)')
  const text = await reconciler.scrape()
  t.comment(`reconcile errors during the outage (retried with backoff): ${metricValue(text, 'controller_runtime_reconcile_errors_total', { controller: 'agentrun' }) ?? 0}`)
  t.equal(metricValue(text, 'runguard_leader'), 1, 'still the leader')
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
