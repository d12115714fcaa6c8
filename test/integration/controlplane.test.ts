/**
 * The real control plane the other integration tests stand on: etcd + kube-apiserver +
 * kube-controller-manager. Proves that a Job driven to Succeeded by the harness is marked Complete
 * by the real Job controller, that the TTL-after-finished controller deletes it once a TTL is set
 * afterwards (what runguard's reconciler does, SPEC §3) and the garbage collector removes its pod,
 * that the API server restarts on the same data, and that stop() leaves no process or port behind.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { controlPlaneGone, portIsFree, startControlPlane } from '../harness/controlplane.ts'
import { completeJobPods, waitForGone, waitForJobCondition } from '../harness/pods.ts'

/** PIDs of processes whose command line mentions `text` (e.g. the work directory). */
function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.includes(text)) pids.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return pids.filter((pid) => pid !== process.pid)
}

const testStarted = Date.now()

t.test('control plane runs Jobs, TTL and garbage collection, restarts, and stops cleanly', async (t) => {
  const startedAt = Date.now()
  const cp = await startControlPlane()
  const startMs = Date.now() - startedAt
  t.comment(`control plane cold start (cached binaries): ${startMs} ms`)
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await cp.stop()
  })
  const pids = cp.pids()
  t.equal(pids.length, 3, 'etcd, kube-apiserver and kube-controller-manager run')

  const namespace = 'controlplane-test'
  await t.test('a Job completes and is removed by its TTL', async (t) => {
    await cp.kubectl(['create', 'namespace', namespace])
    await cp.apply({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'hello', namespace, labels: { 'agents.proompteng.ai/agent-run': 'hello' } },
      spec: {
        backoffLimit: 0,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37', command: ['true'] }] } },
      },
    })

    const pods = await completeJobPods(cp, namespace, 'hello', 'Succeeded', { timeoutMs: 30_000 })
    t.equal(pods.length, 1, 'the Job controller created one pod')
    const job = await waitForJobCondition(cp, namespace, 'hello', 'Complete', { timeoutMs: 30_000 })
    t.equal(job.status?.succeeded, 1, 'counted as succeeded')
    t.equal(job.spec?.ttlSecondsAfterFinished, undefined, 'no TTL yet: the Job stays')

    const pod = await cp.request('GET', `/api/v1/namespaces/${namespace}/pods/${pods[0]}`)
    t.equal(pod.status, 200, 'the finished pod is still there')
    t.same((pod.body as { metadata: { finalizers?: string[] } }).metadata.finalizers ?? [], [], 'the job-tracking finalizer was removed')

    await cp.kubectl(['-n', namespace, 'patch', 'job', 'hello', '--type=merge', '-p', '{"spec":{"ttlSecondsAfterFinished":1}}'])
    await waitForGone(cp, `/apis/batch/v1/namespaces/${namespace}/jobs/hello`, { timeoutMs: 30_000 })
    t.pass('the TTL-after-finished controller deleted the Job')
    await waitForGone(cp, `/api/v1/namespaces/${namespace}/pods/${pods[0]}`, { timeoutMs: 30_000 })
    t.pass('the garbage collector deleted its pod')
  })

  await t.test('the API server restarts on the same etcd', async (t) => {
    const before = cp.pids()
    const restartedAt = Date.now()
    await cp.restartApiServer()
    t.comment(`kube-apiserver restart: ${Date.now() - restartedAt} ms`)
    t.not(cp.pids().join(), before.join(), 'a new kube-apiserver process')
    const ns = await cp.request('GET', `/api/v1/namespaces/${namespace}`)
    t.equal(ns.status, 200, 'data survived the restart')
    const { stdout } = await cp.kubectl(['auth', 'can-i', '*', '*'])
    t.equal(stdout.trim(), 'yes', 'the kubeconfig is an admin identity')
  })

  const allPids = [...new Set([...pids, ...cp.pids()])]
  const ports = Object.values(cp.ports)
  const stopAt = Date.now()
  await cp.stop()
  stopped = true
  t.comment(`stop: ${Date.now() - stopAt} ms`)
  t.ok(controlPlaneGone(allPids), 'every process group is gone')
  t.same(processesMentioning(cp.workDir), [], 'no process mentions the work directory')
  t.notOk(existsSync(cp.workDir), 'the temporary work directory was removed')
  for (const port of ports) t.ok(await portIsFree(port), `port ${port} is free`)
  await cp.stop() // idempotent
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
