/**
 * The reconciler machinery against a real API server (test/harness/controlplane.ts):
 * - leader election on a coordination.k8s.io/v1 Lease: two electors, exactly one leads; the
 *   leader dies without releasing → the other takes over once the lease expires; a graceful stop
 *   releases the lease so a peer takes over at its next retry;
 * - an informer on batch/v1 Jobs with an "exists" label selector sees add/update/delete from
 *   kubectl, ignores unlabelled Jobs, and keeps working across a kube-apiserver restart;
 * - discovery: apiResourceExists().
 * All of it through the lean REST client, as the reconciler makes these calls.
 */
import t from 'tap'
import { LABEL_AGENT_RUN } from '../../src/kube/run-kinds.ts'
import type { KubeObject } from '../../src/kube/objects.ts'
import { createKubeInformer } from '../../src/controller/informer.ts'
import { startLeaseElection, type LeaderElectionConfig, type LeaderElector, type StoppedReason } from '../../src/controller/elector.ts'
import { restListWatchSources } from '../../src/controller/list-watch.ts'
import { restLeaseClient } from '../../src/controller/rest-lease-client.ts'
import { apiResourceExists, restApiResources } from '../../src/kube/discovery.ts'
import { createRestClient, createRestStreamer, loadRestConfig, type RestConfig } from '../../src/kube/rest.ts'
import { JOB_RESOURCE } from '../../src/kube/resources.ts'
import { startControlPlane, type ControlPlane } from '../harness/controlplane.ts'

const LEASE_NAMESPACE = 'runguard-system'
const config: LeaderElectionConfig = { namespace: LEASE_NAMESPACE, name: 'runguard-reconciler', durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 }
const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return Date.now() - started
}

function restConfigFor(cp: ControlPlane): RestConfig {
  return loadRestConfig({}, cp.kubeconfigPath)!
}

interface Candidate {
  name: string
  elector: LeaderElector
  stopped: StoppedReason[]
}

/** Each candidate has its own REST client (own HTTP agent), as separate processes would. */
function candidate(cp: ControlPlane, name: string): Candidate {
  const stopped: StoppedReason[] = []
  const elector = startLeaseElection({
    config,
    leaseClient: restLeaseClient(createRestClient(restConfigFor(cp), { timeoutMs: config.renewDeadlineSeconds * 1000 }), config.namespace, config.name),
    identity: `${name}_${Math.random().toString(16).slice(2, 10)}`,
    onStartedLeading: () => {},
    onStoppedLeading: (reason) => void stopped.push(reason),
  })
  return { name, elector, stopped }
}

interface LeaseSpec {
  holderIdentity?: string
  leaseDurationSeconds?: number
  acquireTime?: string
  renewTime?: string
  leaseTransitions?: number
}

async function readLease(cp: ControlPlane): Promise<LeaseSpec> {
  const response = await cp.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${config.name}`)
  if (response.status !== 200) throw new Error(`GET lease: HTTP ${response.status} ${response.text}`)
  return (response.body as { spec: LeaseSpec }).spec
}

const testStarted = Date.now()

t.test('leader election and informers on a real control plane', async (t) => {
  const startedAt = Date.now()
  const cp = await startControlPlane({ controllerManager: false })
  t.comment(`control plane start: ${Date.now() - startedAt} ms`)
  const electors: LeaderElector[] = []
  t.teardown(async () => {
    await Promise.all(electors.map((e) => e.stop({ release: false })))
    await cp.stop()
  })
  await cp.kubectl(['create', 'namespace', LEASE_NAMESPACE])

  await t.test('two electors: exactly one leads; on its death the other takes over; a graceful stop releases', async (t) => {
    const a = candidate(cp, 'a')
    const b = candidate(cp, 'b')
    electors.push(a.elector, b.elector)
    const leaders = () => [a, b].filter((c) => c.elector.isLeader())
    const acquireMs = await waitUntil('a leader', () => leaders().length > 0, 15_000)
    t.comment(`first acquisition: ${acquireMs} ms`)
    for (let i = 0; i < 12; i++) {
      t.equal(leaders().length, 1, `exactly one leader (sample ${i})`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const leader = leaders()[0]!
    const follower = leader === a ? b : a
    let lease = await readLease(cp)
    t.equal(lease.holderIdentity, leader.elector.identity, 'the Lease names the leader')
    t.equal(lease.leaseDurationSeconds, 4)
    t.equal(lease.leaseTransitions, 0)
    t.match(lease.acquireTime, MICROTIME, 'acquireTime is a MicroTime')
    t.match(lease.renewTime, MICROTIME, 'renewTime is a MicroTime')
    t.ok(Date.parse(lease.renewTime!) > Date.parse(lease.acquireTime!), 'renewed since acquisition')
    t.equal(follower.elector.observedLeader(), leader.elector.identity, 'the follower sees who leads')

    // Death: no release. The follower must wait for the lease to expire, then take it.
    await leader.elector.stop({ release: false })
    const diedAt = Date.now()
    t.equal((await readLease(cp)).holderIdentity, leader.elector.identity, 'not released')
    const takeoverMs = await waitUntil('the follower to take over', () => follower.elector.isLeader(), 20_000)
    t.comment(`takeover after the leader died: ${takeoverMs} ms (leaseDuration 4 s, retryPeriod 1 s)`)
    t.ok(Date.now() - diedAt >= 1_000, 'not before the lease could have expired')
    // Expiry is judged on the follower's clock from when it last saw the record change (up to one
    // retry period after the last renewal), then it needs one more retry to notice: ≤ duration + 2×retry.
    // The slack is for a loaded CI machine (timers and API calls late by seconds); the figure itself
    // is printed above. A follower that never noticed would take the full 20 s wait.
    t.ok(takeoverMs <= 4_000 + 2 * 1_100 + 5_000, `within leaseDuration + 2 × retryPeriod (+ 5 s slack): ${takeoverMs} ms`)
    lease = await readLease(cp)
    t.equal(lease.holderIdentity, follower.elector.identity)
    t.equal(lease.leaseTransitions, 1, 'the takeover counted a transition')
    t.ok(Date.parse(lease.acquireTime!) >= diedAt - 1_000, 'acquireTime is the takeover time')
    t.same(leader.stopped, ['stopped'])

    // Graceful stop: release, and a new candidate takes over at its next retry.
    const c = candidate(cp, 'c')
    electors.push(c.elector)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    t.notOk(c.elector.isLeader(), 'c waits while the lease is held')
    await follower.elector.stop()
    const releasedAt = Date.now()
    lease = await readLease(cp)
    t.ok(lease.holderIdentity === '' || lease.holderIdentity === c.elector.identity, 'released (or already taken by c)')
    const handoverMs = await waitUntil('c to take the released lease', () => c.elector.isLeader(), 10_000)
    t.comment(`takeover after a graceful release: ${handoverMs} ms`)
    t.ok(Date.now() - releasedAt <= 1_100 + 750, `taken within one retry period (+ slack), not a lease duration: ${handoverMs} ms`)
    lease = await readLease(cp)
    t.equal(lease.holderIdentity, c.elector.identity)
    t.equal(lease.leaseTransitions, 2)
    t.equal(lease.leaseDurationSeconds, 4, 'the new holder writes its own duration')
    t.same(follower.stopped, ['stopped'])
    await c.elector.stop()
    lease = await readLease(cp)
    t.equal(lease.holderIdentity ?? '', '', 'released on stop')
    t.equal(lease.leaseDurationSeconds, 1)
  })

  await t.test('discovery', async (t) => {
    const client = createRestClient(restConfigFor(cp))
    t.teardown(() => client.close())
    const kc = restApiResources(client)
    t.equal(await apiResourceExists(kc, 'batch', 'v1', 'jobs'), true, 'batch/v1 jobs')
    t.equal(await apiResourceExists(kc, 'batch', 'v1', 'cronjobs'), true)
    t.equal(await apiResourceExists(kc, 'batch', 'v1', 'nonsense'), false, 'unknown plural')
    t.equal(await apiResourceExists(kc, 'argoproj.io', 'v1alpha1', 'workflows'), false, 'Argo is not installed')
  })

  await t.test('a Job informer sees kubectl changes and survives an API-server restart', async (t) => {
    const namespace = 'informer-test'
    await cp.kubectl(['create', 'namespace', namespace])
    const job = (name: string, labels: Record<string, string>) => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace, labels },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37', command: ['true'] }] } } },
    })
    await cp.apply(job('before-start', { [LABEL_AGENT_RUN]: 'run-0' }))

    const events: string[] = []
    const client = createRestClient(restConfigFor(cp), { timeoutMs: 60_000 })
    const streamer = createRestStreamer(restConfigFor(cp))
    t.teardown(() => {
      streamer.close()
      client.close()
    })
    const informer = createKubeInformer<KubeObject>(restListWatchSources(client, streamer), JOB_RESOURCE, {
      labelSelector: LABEL_AGENT_RUN,
      namespaces: [namespace],
      resyncMs: 0,
    })
    informer.addHandlers({
      onAdd: (o) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (before, after) => {
        if (before.metadata?.resourceVersion !== after.metadata?.resourceVersion) events.push(`update ${after.metadata?.name}`)
      },
      onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
    })
    t.teardown(() => informer.stop())
    informer.start()
    const syncMs = await waitUntil('the informer to sync', () => informer.hasSynced(), 15_000)
    t.comment(`informer sync: ${syncMs} ms`)
    t.same(events, ['add before-start'], 'the initial list')

    const seen = (event: string) => waitUntil(event, () => events.includes(event), 15_000)
    await cp.apply(job('labelled', { [LABEL_AGENT_RUN]: 'run-1' }))
    await cp.apply(job('unlabelled', { app: 'other' }))
    const addMs = await seen('add labelled')
    t.comment(`watch latency (add): ${addMs} ms`)
    await cp.kubectl(['-n', namespace, 'annotate', 'job', 'labelled', 'runguard.proompteng.ai/touched=yes'])
    await seen('update labelled')
    t.equal(informer.get(namespace, 'labelled')?.metadata?.annotations?.['runguard.proompteng.ai/touched'], 'yes', 'the cache has the new state')
    await cp.kubectl(['-n', namespace, 'delete', 'job', 'labelled', '--wait=false'])
    await seen('delete labelled')
    t.equal(informer.get(namespace, 'labelled'), undefined)
    t.notOk(events.some((e) => e.includes('unlabelled')), 'the selector keeps unlabelled Jobs out')
    t.same(informer.list(namespace).map((o) => o.metadata?.name), ['before-start'])

    const restartedAt = Date.now()
    await cp.restartApiServer()
    t.comment(`kube-apiserver restart: ${Date.now() - restartedAt} ms`)
    await cp.apply(job('after-restart', { [LABEL_AGENT_RUN]: 'run-2' }))
    const recoverMs = await seen('add after-restart')
    t.comment(`event seen ${recoverMs} ms after the post-restart create`)
    await cp.kubectl(['-n', namespace, 'delete', 'job', 'before-start', '--wait=false'])
    await seen('delete before-start')
    t.same(informer.list(namespace).map((o) => o.metadata?.name), ['after-restart'], 'cache matches the cluster after the restart')
    t.equal(events.filter((e) => e === 'add before-start').length, 1, 'no duplicate add after reconnecting (resumed, not re-added)')
  })
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
