/**
 * Issue 13 on the real control plane:
 *
 * 1. A watch resumes from a bookmark, not from its list: an informer whose selector matches
 *    nothing (the empty Job informer of the issue) gets the API server's BOOKMARK before the
 *    server ends its watch; the next watch starts from the bookmark's resourceVersion, and
 *    runguard_informer_relists_total stays at its initial list.
 * 2. The Lease survives resyncs of a few thousand cached objects with the product's Lease timings
 *    (15 s / 10 s / 2 s): no leader change, /livez answers throughout, and the work queue is seen
 *    non-empty from outside while a resync drains — i.e. the event loop turned in the middle of
 *    the backlog. Before the yield fix (workqueue.ts get() resolving at once) a resync ran as one
 *    macrotask, so no scrape could ever see a resync's backlog: that assertion fails without it.
 */
import { Agent, request } from 'node:https'
import t from 'tap'
import { Informer } from '../../src/controller/informer.ts'
import { restListWatchSource, type ListWatchSource } from '../../src/controller/list-watch.ts'
import { createRestClient, createRestStreamer, loadRestConfig } from '../../src/kube/rest.ts'
import { JOB_RESOURCE } from '../../src/kube/resources.ts'
import { createMetrics } from '../../src/metrics.ts'
import { startControlPlaneForTest, type ControlPlane } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { metricValue as registryValue } from '../helpers/fake-clock.ts'
import { indices, LEASE_NAMESPACE, mapLimit, metricValue, prepareCluster, startReconcilerProcess, waitForLeader } from './reconcile-harness.ts'

const NS = 'rc-scale'
const BOOKMARK_NS = 'rc-bookmark'
const LABEL = 'agents.proompteng.ai/agent-run'
/** A few thousand: enough that a resync's backlog takes many time slices to drain. */
const RUNS = Number(process.env.SCALE_TEST_RUNS ?? '2000')
const RESYNC_SECONDS = 15

const cp = await startControlPlaneForTest(t)
await prepareCluster(cp, [NS, BOOKMARK_NS])

/** A keep-alive client as the admin, for creating objects quickly. */
function bulkClient(cp: ControlPlane): { post(path: string, body: unknown): Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: cp.caPem, cert: cp.adminCertificate.certPem, key: cp.adminCertificate.keyPem })
  const once = (path: string, payload: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: cp.host, port: cp.ports.apiServer, method: 'POST', path, agent, timeout: 60_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer`)))
      req.on('error', reject)
      req.end(payload)
    })
  return {
    async post(path, body) {
      const payload = JSON.stringify(body)
      for (let attempt = 0; ; attempt++) {
        const status = await once(path, payload)
        if ((status >= 200 && status < 300) || status === 409) return
        if ((status === 429 || status >= 500) && attempt < 10) {
          await new Promise((resolve) => setTimeout(resolve, 500))
          continue
        }
        throw new Error(`POST ${path}: HTTP ${status}`)
      }
    },
    close: () => agent.destroy(),
  }
}


function suspendedJob(ns: string, name: string, labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns, labels },
    spec: { suspend: true, backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37', command: ['true'] }] } } },
  }
}

t.test('a quiet watch resumes from its bookmark: no relist', async (t) => {
  const restConfig = loadRestConfig({}, cp.kubeconfigPath)!
  const client = createRestClient(restConfig)
  const streamer = createRestStreamer(restConfig)
  t.teardown(() => {
    streamer.close()
    client.close()
  })
  // A short server-side timeout: the API server sends the bookmark 2 s before it ends the watch.
  const real = restListWatchSource(client, streamer, JOB_RESOURCE, { watchTimeoutSeconds: 6 })
  const listedAt: string[] = []
  const watchedFrom: string[] = []
  const bookmarks: string[] = []
  const source: ListWatchSource = {
    async list(scope) {
      const result = await real.list(scope)
      listedAt.push(result.resourceVersion)
      return result
    },
    watch(scope, onEvent) {
      watchedFrom.push(scope.resourceVersion)
      return real.watch(scope, (event) => {
        if (event.type === 'BOOKMARK') {
          const rv = (event.object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion
          if (rv) bookmarks.push(rv)
        }
        onEvent(event)
      })
    },
  }
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  // Nothing carries the label in this namespace: the informer stays empty, like the Job informer.
  const informer = new Informer({ name: 'jobs(bookmark)', source, namespaces: [BOOKMARK_NS], labelSelector: LABEL, metrics })
  informer.start()
  t.teardown(() => informer.stop())
  await informer.waitForSync()
  t.equal(informer.size(), 0)
  // Other Jobs change meanwhile: the resource's resourceVersion moves on without the informer seeing an event.
  const api = bulkClient(cp)
  await mapLimit(indices(5), 5, (i) => api.post(`/apis/batch/v1/namespaces/${BOOKMARK_NS}/jobs`, suspendedJob(BOOKMARK_NS, `unlabelled-${i}`, { app: 'other' })))
  api.close()
  await waitUntil('the server to end the first watch and the informer to watch again', { timeoutMs: 60_000, intervalMs: 100 }, async () => (watchedFrom.length >= 2 ? true : undefined))
  t.ok(bookmarks.length >= 1, `bookmarks received: ${bookmarks.join(', ')}`)
  t.equal(watchedFrom[1], bookmarks[bookmarks.length - 1], 'the second watch starts from the last bookmark')
  t.ok(Number(watchedFrom[1]) > Number(listedAt[0]), `a resourceVersion past the list's (${listedAt[0]} → ${watchedFrom[1]})`)
  t.equal(listedAt.length, 1, 'listed once')
  for (const reason of ['expired', 'watch_failures', 'list_failed']) {
    t.equal(await registryValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'jobs(bookmark)', reason }), 0, `no relist (${reason})`)
  }
  t.equal(await registryValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'jobs(bookmark)', reason: 'initial' }), 1)
})

interface LeaseSpec {
  holderIdentity?: string
  leaseTransitions?: number
}

async function readLease(): Promise<LeaseSpec> {
  const response = await cp.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/runguard-reconciler`)
  if (response.status !== 200) throw new Error(`GET lease: HTTP ${response.status} ${response.text}`)
  return (response.body as { spec: LeaseSpec }).spec
}

async function livez(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(5_000) })
    return response.status
  } catch {
    return 0
  }
}

t.test(`the Lease survives resyncs of ${RUNS} AgentRuns + ${RUNS} Jobs with the product's Lease timings`, async (t) => {
  const api = bulkClient(cp)
  await mapLimit(indices(RUNS), 16, async (i) => {
    const name = `run-${String(i).padStart(5, '0')}`
    await api.post(`/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns`, {
      apiVersion: 'agents.proompteng.ai/v1alpha1',
      kind: 'AgentRun',
      metadata: { name, namespace: NS },
      spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'scale' }, runtime: { type: 'job' } },
    })
    await api.post(`/apis/batch/v1/namespaces/${NS}/jobs`, suspendedJob(NS, `${name}-job`, { [LABEL]: name }))
  })
  api.close()

  const reconciler = await startReconcilerProcess(cp, {
    name: 'reconciler-scale',
    env: {
      AGENTS_CONTROLLER_NAMESPACES: NS,
      // The product's defaults, not the fast ones the other tests use.
      RUNGUARD_LEASE_DURATION_SECONDS: '15',
      RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: '10',
      RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: '2',
      RUNGUARD_RESYNC_SECONDS: String(RESYNC_SECONDS),
    },
  })
  t.teardown(() => reconciler.stop())
  await waitForLeader([reconciler], 60_000)
  const adds = (text: string): number => metricValue(text, 'workqueue_adds_total', { name: 'agentrun' }) ?? 0
  const depth = (text: string): number => metricValue(text, 'workqueue_depth', { name: 'agentrun' }) ?? 0
  await waitUntil('the start-up backlog to drain', { timeoutMs: 120_000, intervalMs: 200 }, async () => {
    const text = await reconciler.scrape()
    return adds(text) >= RUNS && depth(text) === 0 ? true : undefined
  })
  const lease = await readLease()
  const baseline = adds(await reconciler.scrape())

  // Watch two resyncs from outside: scrape and probe /livez back to back until the agentrun queue
  // has taken at least three more rounds of every run (one resync adds each run once or twice:
  // from its own informer and from its Job's), so at least two resyncs.
  let deepest = 0
  let probes = 0
  const unanswered: number[] = []
  await waitUntil('two resyncs', { timeoutMs: (RESYNC_SECONDS * 3 + 60) * 1000, intervalMs: 1 }, async () => {
    const status = await livez(reconciler.metricsPort)
    probes++
    if (status !== 200) unanswered.push(status)
    const text = await reconciler.scrape()
    if (adds(text) > baseline) deepest = Math.max(deepest, depth(text))
    return adds(text) >= baseline + 3 * RUNS && depth(text) === 0 ? true : undefined
  })

  t.same(unanswered, [], `/livez answered every one of ${probes} probes during the resyncs`)
  t.ok(deepest > 0, `a scrape saw a resync's backlog waiting (deepest ${deepest}): the event loop turned while it drained`)
  const after = await readLease()
  t.equal(after.holderIdentity, lease.holderIdentity, 'the same holder')
  t.equal(after.leaseTransitions, lease.leaseTransitions, 'no leader change')
  t.ok(reconciler.process.running, 'the reconciler is still running')
  t.equal(metricValue(await reconciler.scrape(), 'runguard_leader'), 1, 'and still leading')
  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'runguard_informer_relists_total', { resource: 'agentruns', reason: 'expired' }), 0, 'no relist during the test')
})
