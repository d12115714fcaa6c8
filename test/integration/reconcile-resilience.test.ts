/**
 * SPEC §3 resilience, on the real control plane (no webhook here: the reconciler must work
 * without it), with `runguard reconcile` processes run like a Deployment would (a tiny supervisor
 * starts a replacement when one exits, as the kubelet would restart the container):
 * - two replicas, the leader killed with SIGKILL in the middle of a 50-run cancel storm: the
 *   standby takes the Lease and every cancel completes;
 * - the API server restarted (same etcd) while 50 runs are being cancelled: watches resume and
 *   nothing is missed, including cancels requested after the restart;
 * - cancels requested while no reconciler runs are carried out when one comes back.
 */
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import {
  cancel,
  condition,
  create,
  get,
  jobManifest,
  jobPath,
  mapLimit,
  metricValue,
  prepareCluster,
  runManifest,
  runPath,
  sleep,
  startReconcilerProcess,
  waitForLeader,
  writeStatus,
  type Obj,
  type ReconcilerProcess,
} from './reconcile-harness.ts'
import { waitUntil } from '../harness/pods.ts'

const NS = 'rc-resilience'
const testStarted = Date.now()
// A lease that survives a ~5 s API-server restart (renew deadline 6 s) yet fails over quickly.
const ENV = {
  AGENTS_CONTROLLER_NAMESPACES: NS,
  AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '60000',
  RUNGUARD_LEASE_DURATION_SECONDS: '8',
  RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: '6',
  RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: '1',
  // One worker per kind: a storm takes long enough for something to happen in the middle of it.
  RUNGUARD_RECONCILE_CONCURRENCY: '1',
}

const cp = await startControlPlaneForTest(t)
await prepareCluster(cp, [NS])

/** Keeps `replicas` reconciler processes running, replacing any that exit (unless paused). */
class Supervisor {
  readonly processes: ReconcilerProcess[] = []
  replacements = 0
  #paused = false
  #sequence = 0
  #timer: NodeJS.Timeout | undefined

  async start(replicas: number): Promise<void> {
    this.#paused = false
    while (this.live().length < replicas) await this.#spawn()
    this.#timer ??= setInterval(() => void this.#tick(replicas), 250)
  }

  live(): ReconcilerProcess[] {
    return this.processes.filter((p) => p.process.running)
  }

  async #spawn(): Promise<ReconcilerProcess> {
    const p = await startReconcilerProcess(cp, { name: `reconciler-${this.#sequence++}`, env: ENV, waitReady: false })
    this.processes.push(p)
    return p
  }

  async #tick(replicas: number): Promise<void> {
    if (this.#paused) return
    if (this.live().length < replicas) {
      this.replacements++
      await this.#spawn()
    }
  }

  /** Stop replacing, and stop every process gracefully. */
  async stopAll(): Promise<void> {
    this.#paused = true
    clearInterval(this.#timer)
    this.#timer = undefined
    await Promise.all(this.live().map((p) => p.stop()))
  }
}

const supervisor = new Supervisor()
t.teardown(() => supervisor.stopAll())

interface Made {
  name: string
  uid: string
}

/** `count` Running AgentRuns, each with its Job (ownerRef) recorded in runtimeRef. */
async function makeRuns(prefix: string, count: number): Promise<Made[]> {
  return mapLimit(Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`), 10, async (name) => {
    const run = await create(cp, runPath('AgentRun', NS), runManifest('AgentRun', NS, name))
    await create(cp, jobPath(NS), jobManifest(NS, `${name}-job`, name, { ownerUid: run.metadata.uid }))
    await writeStatus(cp, runPath('AgentRun', NS, name), { phase: 'Running', runtimeRef: { type: 'job', name: `${name}-job`, namespace: NS } })
    return { name, uid: run.metadata.uid }
  })
}

async function listRuns(prefix: string): Promise<Obj[]> {
  const r = await cp.request('GET', runPath('AgentRun', NS), undefined, { retryThrottled: true })
  if (r.status !== 200) throw new Error(`list: HTTP ${r.status}`)
  return (r.body as { items: Obj[] }).items.filter((o) => o.metadata.name.startsWith(`${prefix}-`))
}

const cancelledCount = async (prefix: string) => (await listRuns(prefix)).filter((o) => o.status?.phase === 'Cancelled').length

async function waitAllCancelled(prefix: string, count: number, timeoutMs: number): Promise<Obj[]> {
  return waitUntil(`${count} ${prefix} runs Cancelled`, { timeoutMs, intervalMs: 250 }, async () => {
    try {
      const runs = await listRuns(prefix)
      return runs.length === count && runs.every((o) => o.status?.phase === 'Cancelled') ? runs : undefined
    } catch {
      return undefined // the API server may be restarting
    }
  })
}

async function remainingJobs(prefix: string): Promise<number> {
  const r = await cp.request('GET', jobPath(NS), undefined, { retryThrottled: true })
  return (r.body as { items: Obj[] }).items.filter((j) => j.metadata.name.startsWith(`${prefix}-`) && !j.metadata.deletionTimestamp).length
}

t.test('two replicas: SIGKILL the leader in the middle of a 50-run cancel storm; every cancel completes', async (t) => {
  await supervisor.start(2)
  const leader = await waitForLeader(supervisor.live(), 30_000)
  t.comment(`leader: ${leader.name}`)
  const runs = await makeRuns('storm', 50)

  const started = Date.now()
  // Cancel in two waves and kill the leader between them: some runs are half-way (Job deleted,
  // Cancelled=Unknown written), some not started, when it dies.
  await mapLimit(runs.slice(0, 25), 25, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil('the leader to be busy', { timeoutMs: 10_000, intervalMs: 20 }, async () => ((await cancelledCount('storm')) >= 3 ? true : undefined))
  leader.process.killSync()
  const killedAt = Date.now()
  const cancelledAtKill = await cancelledCount('storm')
  t.comment(`killed ${leader.name} (SIGKILL) with ${cancelledAtKill}/50 runs Cancelled`)
  await mapLimit(runs.slice(25), 25, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))

  const successor = await waitForLeader(supervisor.live().filter((p) => p !== leader), 30_000)
  t.comment(`${successor.name} took over ${Date.now() - killedAt} ms after the kill (lease 8 s)`)
  t.not(successor, leader)
  const done = await waitAllCancelled('storm', 50, 60_000)
  t.comment(`all 50 Cancelled ${Date.now() - started} ms after the first cancel`)
  t.ok(cancelledAtKill < 50, 'the leader died mid-storm')
  t.equal(done.filter((o) => condition(o, 'Cancelled')?.status === 'True').length, 50, 'every run has Cancelled=True')
  t.ok(done.every((o) => o.status?.finishedAt), 'every run has finishedAt')
  t.equal(await remainingJobs('storm'), 0, 'every Job deleted')
  const lease = await get(cp, `/apis/coordination.k8s.io/v1/namespaces/runguard-system/leases/runguard-reconciler`)
  t.ok(((lease?.spec?.leaseTransitions as number | undefined) ?? 0) >= 1, 'the Lease changed hands')
})

t.test('API server restarted while 50 runs are being cancelled: watches resume, nothing missed', async (t) => {
  await supervisor.start(2)
  const leaderBefore = await waitForLeader(supervisor.live(), 30_000)
  const runs = await makeRuns('restart', 60)
  const replacementsBefore = supervisor.replacements

  await mapLimit(runs.slice(0, 50), 50, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil('the first cancels to complete', { timeoutMs: 10_000, intervalMs: 20 }, async () => ((await cancelledCount('restart')) >= 2 ? true : undefined))
  const cancelledBefore = await cancelledCount('restart')
  const restartAt = Date.now()
  await cp.restartApiServer({ crash: true })
  t.comment(`kube-apiserver killed (SIGKILL) with ${cancelledBefore}/50 Cancelled and restarted in ${Date.now() - restartAt} ms; ${await cancelledCount('restart')}/50 Cancelled when it came back`)
  t.ok(cancelledBefore < 50, 'the API server went down in the middle of the cancels')
  // Cancels requested after the restart reach the reconciler only through a resumed (or re-listed) watch.
  await mapLimit(runs.slice(50), 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  const done = await waitAllCancelled('restart', 60, 60_000)
  t.comment(`all 60 Cancelled ${Date.now() - restartAt} ms after the restart began`)
  t.equal(done.filter((o) => condition(o, 'Cancelled')?.reason === 'CancelRequested').length, 60, 'all Cancelled with CancelRequested')
  t.equal(await remainingJobs('restart'), 0, 'every Job deleted')
  const leaderAfter = await waitForLeader(supervisor.live(), 30_000)
  t.comment(
    leaderAfter === leaderBefore
      ? `${leaderAfter.name} kept the lease through the restart (${supervisor.replacements - replacementsBefore} replacements)`
      : `leadership moved ${leaderBefore.name} → ${leaderAfter.name} (${supervisor.replacements - replacementsBefore} replacements)`,
  )
  const text = await leaderAfter.scrape()
  t.ok((metricValue(text, 'agents_run_outcomes_total', { kind: 'AgentRun', outcome: 'Cancelled', runtime: 'job' }) ?? 0) > 0, 'outcomes counted by the leader')
})

t.test('cancels requested while no reconciler runs are carried out when one comes back', async (t) => {
  const runs = await makeRuns('offline', 10)
  await supervisor.stopAll()
  t.equal(supervisor.live().length, 0, 'no reconciler running')
  await mapLimit(runs, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await sleep(2000)
  t.equal(await cancelledCount('offline'), 0, 'nothing happens while it is down')
  t.equal((await listRuns('offline')).filter((o) => condition(o, 'Cancelled')).length, 0)
  const backAt = Date.now()
  await supervisor.start(1)
  await waitAllCancelled('offline', 10, 30_000)
  t.comment(`all 10 Cancelled ${Date.now() - backAt} ms after the reconciler was started again`)
  t.equal(await remainingJobs('offline'), 0, 'every Job deleted')
})

t.test('losing the Lease ends the process with a non-zero exit (like controller-runtime)', async (t) => {
  await supervisor.stopAll()
  const lone = await startReconcilerProcess(cp, { name: 'reconciler-lone', env: ENV })
  t.teardown(() => lone.stop())
  await waitForLeader([lone], 30_000)
  // Someone else takes the Lease (as a partitioned peer with a skewed view might).
  const path = '/apis/coordination.k8s.io/v1/namespaces/runguard-system/leases/runguard-reconciler'
  const lease = await get(cp, path)
  const stolenAt = Date.now()
  const now = new Date().toISOString().replace('Z', '000Z')
  const r = await cp.request('PUT', path, { ...lease, spec: { ...lease?.spec, holderIdentity: 'intruder', renewTime: now, acquireTime: now } })
  t.equal(r.status, 200, 'Lease taken over')
  lone.process.child.ref() // keep the test alive until the exit is seen
  const status = await lone.process.exited
  t.comment(`exited ${Date.now() - stolenAt} ms after losing the Lease, status ${status}`)
  t.equal(status, 1, 'exit code 1')
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
