/**
 * Issue 14, faults on the real control plane: the Lease lost while a reconcile is in flight.
 *
 * Two `runguard reconcile` processes, each with its own client certificate (users
 * runguard-reconciler-a / -b), each through its own TCP proxy; the leader's path has 50 ms of
 * latency each way so that it always has a call in flight. In the middle of a 30-run cancel
 * storm the leader is frozen (SIGSTOP) for longer than the Lease, the other replica takes the
 * Lease over and carries on, and then the old leader is thawed (SIGCONT) — with whatever it was
 * doing still in flight, the way a paused VM or a long GC pause resumes. It must stop writing
 * before the new leader starts: nothing written by the old leader after the new one took the
 * Lease, and no run's status written by the old leader after the new one wrote it.
 *
 * Then the other way to lose a Lease: the (new) leader's path to the API server black-holed by
 * its proxy mid-storm, renewals and writes held. It must give up at its renew deadline and exit
 * before a third replica can take the Lease (renew deadline 3 s < Lease 4 s), with the same
 * checks on who wrote what.
 *
 * Both processes write with the same field manager (one binary, one name), so who wrote what
 * is taken from the API server's audit log (user per request, at RequestResponse level, so each
 * write carries the resourceVersion it produced). A watch records every run event with its
 * `metadata.managedFields` manager and time; each status change it saw is matched by
 * resourceVersion to the audited write that made it. Order is judged by resourceVersion (etcd's
 * revision: a total order of writes), not by clocks.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { stringify } from 'yaml'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.ts'
import { cancelledCount, listResourceVersion, makeRunningRuns, newestResourceVersion, recordWatch, waitCancelledAndJobsGone, type WatchRecorder } from './faults-common.ts'
import { cancel, mapLimit, prepareCluster, runPath, startReconcilerProcess, waitForLeader, type ReconcilerProcess } from './reconcile-harness.ts'

const NS = 'faults-lease'
const RUNS = 30
const LEASE_DURATION_MS = 4_000 // FAST_ENV in reconcile-harness.ts: 4 s Lease, 3 s renew deadline, 1 s retry
const testStarted = Date.now()

const auditDir = await mkdtemp(join(tmpdir(), 'runguard-faults-audit-'))
t.teardown(() => rm(auditDir, { recursive: true, force: true }))
const auditLog = join(auditDir, 'audit.log')
const auditPolicy = join(auditDir, 'policy.yaml')
// Writes to the runs (with the objects, for their resourceVersions) and to Leases; Job deletions
// as metadata; nothing else.
await writeFile(auditPolicy, stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'RequestResponse', verbs: ['create', 'update', 'patch'], resources: [{ group: 'agents.proompteng.ai', resources: ['agentruns', 'agentruns/status'] }, { group: 'coordination.k8s.io', resources: ['leases'] }] },
    { level: 'Metadata', verbs: ['delete'], resources: [{ group: 'batch', resources: ['jobs'] }] },
    { level: 'None' },
  ],
}))

const cp = await startControlPlaneForTest(t, { apiServerArgs: [`--audit-policy-file=${auditPolicy}`, `--audit-log-path=${auditLog}`, '--audit-log-mode=blocking'] })
await prepareCluster(cp, [NS])

const replicas: Array<ReconcilerProcess & { proxy: TcpProxy }> = []

async function startReplica(name: string, latencyMs: number): Promise<ReconcilerProcess & { proxy: TcpProxy }> {
  const proxy = await startTcpProxy({ port: cp.ports.apiServer })
  t.teardown(() => proxy.close())
  proxy.setLatency(latencyMs)
  const replica = await startReconcilerProcess(cp, {
    name,
    kubeconfigPath: await cp.writeKubeconfig(join(cp.workDir, `${name}.kubeconfig`), { server: proxy.url, user: { commonName: name, organizations: ['system:masters'] } }),
    env: { AGENTS_CONTROLLER_NAMESPACES: NS, AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '60000', RUNGUARD_RECONCILE_CONCURRENCY: '1' },
  })
  t.teardown(async () => {
    if (replica.process.running) process.kill(replica.process.pid, 'SIGCONT') // never leave it frozen
    await replica.stop()
  })
  const started = Object.assign(replica, { proxy })
  replicas.push(started)
  return started
}

interface AuditEvent {
  stage: string
  verb: string
  user: { username: string }
  objectRef?: { resource?: string; subresource?: string; name?: string; namespace?: string }
  responseStatus?: { code?: number }
  responseObject?: { metadata?: { resourceVersion?: string } }
  requestReceivedTimestamp: string
  stageTimestamp: string
}

async function auditEvents(): Promise<AuditEvent[]> {
  const text = await readFile(auditLog, 'utf8')
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AuditEvent).filter((e) => e.stage === 'ResponseComplete')
}

const ok = (e: AuditEvent) => (e.responseStatus?.code ?? 0) >= 200 && (e.responseStatus?.code ?? 0) < 300
const rvOf = (e: AuditEvent) => BigInt(e.responseObject?.metadata?.resourceVersion ?? '0')

interface Handover {
  oldUser: string
  newUser: string
  runs: readonly string[]
  watch: WatchRecorder
  /** When the old leader could act again (thawed), or was gone for good (exited). */
  resumedAt: number
}

/**
 * From the audit log and the watch: the old leader wrote nothing after the new one took the
 * Lease, its last run write precedes the new leader's first (by resourceVersion), and no run's
 * status was written by the old leader after the new one.
 */
async function checkHandover(t: Test, handover: Handover): Promise<void> {
  // Who wrote what, in etcd's order.
  const events = await auditEvents()
  const { oldUser, newUser } = handover
  const names = new Set(handover.runs)
  const runWrites = events.filter((e) => e.objectRef?.resource === 'agentruns' && e.objectRef.namespace === NS && names.has(e.objectRef.name ?? '') && ['update', 'patch'].includes(e.verb) && [oldUser, newUser].includes(e.user.username))
  const leaseWrites = events.filter((e) => e.objectRef?.resource === 'leases' && e.verb === 'update' && ok(e))
  const takeover = leaseWrites.find((e) => e.user.username === newUser)
  t.ok(takeover, 'the audit log has the new leader’s takeover of the Lease')
  const takeoverRv = takeover ? rvOf(takeover) : 0n
  const oldWrites = runWrites.filter((e) => e.user.username === oldUser && ok(e))
  const newWrites = runWrites.filter((e) => e.user.username === newUser && ok(e))
  t.ok(oldWrites.length > 0 && newWrites.length > 0, `both wrote run statuses (old ${oldWrites.length}, new ${newWrites.length})`)
  const lateOld = oldWrites.filter((e) => rvOf(e) > takeoverRv)
  const attemptsAfter = runWrites.filter((e) => e.user.username === oldUser && Date.parse(e.requestReceivedTimestamp) >= handover.resumedAt)
  t.comment(`the old leader’s writes received after it resumed or exited: ${attemptsAfter.map((e) => `${e.verb} ${e.objectRef?.name}/${e.objectRef?.subresource ?? ''} → ${e.responseStatus?.code}`).join(', ') || 'none'}`)
  t.same(lateOld.map((e) => `${e.objectRef?.name} rv ${rvOf(e)}`), [], 'the old leader wrote nothing after the new one took the Lease')
  const firstNew = newWrites.reduce((min, e) => (rvOf(e) < min ? rvOf(e) : min), BigInt(Number.MAX_SAFE_INTEGER))
  const lastOld = oldWrites.reduce((max, e) => (rvOf(e) > max ? rvOf(e) : max), 0n)
  t.ok(lastOld < firstNew, `the old leader’s last write (rv ${lastOld}) precedes the new one’s first (rv ${firstNew})`)

  // The watch: every status change matched to its writer; no run written by the old leader after the new one.
  const writerByRv = new Map(runWrites.filter(ok).map((e) => [String(rvOf(e)), e.user.username]))
  const problems: string[] = []
  const managers = new Set<string>()
  for (const name of handover.runs) {
    const history = handover.watch.events.filter((e) => e.object.metadata.name === name)
    let previousStatus = ''
    const writers: string[] = []
    for (const event of history) {
      const status = JSON.stringify(event.object.status ?? {})
      if (status === previousStatus) continue
      previousStatus = status
      const rv = event.object.metadata.resourceVersion ?? ''
      const entry = event.object.metadata.managedFields?.filter((f) => f.subresource === 'status').sort((x, y) => (x.time ?? '').localeCompare(y.time ?? '')).at(-1)
      if (entry?.manager) managers.add(`${entry.manager} (${entry.operation})`)
      const writer = writerByRv.get(rv)
      if (writer) writers.push(writer === oldUser ? 'old' : 'new')
    }
    if (writers.join(' ').includes('new old')) problems.push(`${name}: status written by ${writers.join(' → ')}`)
  }
  t.comment(`status field managers seen on the watch: ${[...managers].join(', ')}`)
  t.same(problems, [], 'no run status written by the old leader after the new one (watch events matched to audited writers)')
}

t.test('the leader frozen mid-reconcile past its Lease: it stops writing before the new leader starts', async (t) => {
  const a = await startReplica('runguard-reconciler-a', 50)
  await waitForLeader([a], 30_000)
  const b = await startReplica('runguard-reconciler-b', 0)
  t.notOk(await b.isLeader(), 'b waits while a leads')

  const runs = await makeRunningRuns(cp, NS, 'lease', RUNS)
  const collection = runPath('AgentRun', NS)
  const watch = recordWatch(cp, collection, await listResourceVersion(cp, collection))
  t.teardown(() => watch.stop())

  await mapLimit(runs, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil('a to be busy', { timeoutMs: 30_000, intervalMs: 20 }, async () => ((await cancelledCount(cp, NS, 'lease')) >= 3 ? true : undefined))
  process.kill(a.process.pid, 'SIGSTOP')
  const frozenAt = Date.now()
  const doneAtFreeze = await cancelledCount(cp, NS, 'lease')
  t.comment(`a frozen (SIGSTOP) with ${doneAtFreeze}/${RUNS} runs Cancelled`)
  t.ok(doneAtFreeze < RUNS, 'frozen in the middle of the storm')

  await waitForLeader([b], 30_000)
  t.comment(`b leads ${Date.now() - frozenAt} ms after a was frozen (Lease ${LEASE_DURATION_MS} ms)`)
  // Thaw a only once b has written run statuses of its own: a's stale in-flight work then meets them.
  await waitUntil('b to write run statuses', { timeoutMs: 30_000, intervalMs: 50 }, async () => {
    const writesOfB = (await auditEvents()).filter((e) => e.user.username === 'runguard-reconciler-b' && e.objectRef?.resource === 'agentruns' && ok(e))
    return writesOfB.length >= 2 ? true : undefined
  })
  process.kill(a.process.pid, 'SIGCONT')
  const thawedAt = Date.now()
  a.process.child.ref()
  const exit = await Promise.race([a.process.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 30_000).unref())])
  t.comment(`a thawed after ${thawedAt - frozenAt} ms; it ended ${Date.now() - thawedAt} ms later: ${exit}`)
  t.equal(exit, 1, 'the thawed leader sees the Lease lost and exits 1')

  const done = await waitCancelledAndJobsGone(cp, NS, 'lease', runs.map((r) => r.name), 60_000)
  t.equal(done.length, RUNS, `all ${RUNS} cancels carried out`)
  await watch.caughtUp(newestResourceVersion(done))

  await checkHandover(t, { oldUser: 'runguard-reconciler-a', newUser: 'runguard-reconciler-b', runs: runs.map((r) => r.name), watch, resumedAt: thawedAt })
})

t.test('the leader cut off from the API server (black hole): it exits before the new leader can take the Lease', async (t) => {
  // The new leader of the first test leads on; a third replica stands by.
  const leading = await waitForLeader(replicas, 30_000)
  const oldLeader = replicas.find((r) => r === leading)
  if (!oldLeader) throw new Error('the leader is not one of this test’s replicas')
  const standby = await startReplica('runguard-reconciler-c', 0)
  const runs = await makeRunningRuns(cp, NS, 'cutoff', 20)
  const collection = runPath('AgentRun', NS)
  const watch = recordWatch(cp, collection, await listResourceVersion(cp, collection))
  t.teardown(() => watch.stop())
  oldLeader.proxy.setLatency(50)
  await mapLimit(runs, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil('the leader to be busy', { timeoutMs: 30_000, intervalMs: 20 }, async () => ((await cancelledCount(cp, NS, 'cutoff')) >= 3 ? true : undefined))
  // Its calls in flight, renewals included, are held; so are new ones.
  oldLeader.proxy.blackHole()
  const cutAt = Date.now()
  oldLeader.process.child.ref()
  const exit = await Promise.race([oldLeader.process.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 30_000).unref())])
  const exitedAt = Date.now()
  t.comment(`${oldLeader.name} cut off; it ended ${exitedAt - cutAt} ms later (renew deadline 3 s): ${exit}`)
  t.equal(exit, 1, 'the cut-off leader gives up at its renew deadline and exits 1')
  await waitForLeader([standby], 30_000)
  t.comment(`${standby.name} leads ${Date.now() - cutAt} ms after the cut`)
  const lease = (await cp.request('GET', '/apis/coordination.k8s.io/v1/namespaces/runguard-system/leases/runguard-reconciler')).body as { spec?: { acquireTime?: string } }
  const acquiredAt = Date.parse(lease.spec?.acquireTime ?? '')
  t.ok(acquiredAt > exitedAt - 250, `the Lease changed hands (${new Date(acquiredAt).toISOString()}) only after the old leader had exited (${new Date(exitedAt).toISOString()}; 250 ms for polling)`)
  oldLeader.proxy.heal() // whatever it still had in flight died with it

  const done = await waitCancelledAndJobsGone(cp, NS, 'cutoff', runs.map((r) => r.name), 60_000)
  t.equal(done.length, runs.length, 'every cancel carried out')
  await watch.caughtUp(newestResourceVersion(done))
  await checkHandover(t, { oldUser: oldLeader.name, newUser: standby.name, runs: runs.map((r) => r.name), watch, resumedAt: exitedAt })
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
