/**
 * Issue 13 on the real control plane:
 *
 * 1. A watch resumes from a bookmark, not from its list: an informer whose selector matches
 *    nothing (the empty Job informer of the issue) gets the API server's BOOKMARK before the
 *    server ends its watch; the next watch starts from the bookmark's resourceVersion, and
 *    runguard_informer_relists_total stays at its initial list.
 * 2. The Lease survives resyncs of 30,000 cached objects (15,000 AgentRuns + 15,000 Jobs, the
 *    issue's scale) with the product's Lease timings (15 s / 10 s / 2 s): no leader change, the
 *    Lease's renewTime, sampled every 250 ms, never goes the renew deadline without moving on,
 *    /livez answers throughout, and the work queue is seen non-empty from outside while a resync
 *    drains — i.e. the event loop turned in the middle of the backlog. Before the yield fix
 *    (workqueue.ts get() resolving at once) a resync ran as one macrotask, so no scrape could ever
 *    see a resync's backlog: that assertion fails without it.
 *
 * SCALE_TEST_RUNS overrides the number of AgentRuns (as many Jobs).
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { Informer } from '../../src/controller/informer.ts'
import { restListWatchSource, type ListWatchSource } from '../../src/controller/list-watch.ts'
import { createRestClient, createRestStreamer, loadRestConfig } from '../../src/kube/rest.ts'
import { JOB_RESOURCE } from '../../src/kube/resources.ts'
import { createMetrics } from '../../src/metrics.ts'
import { callUntilAccepted, DEFAULT_CONTROLLERS, keepAliveApiClient, startControlPlaneForTest, type KeepAliveApiClient } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { metricValue as registryValue } from '../helpers/fake-clock.ts'
import {
  indices,
  jobPath,
  LEASE_NAMESPACE,
  mapLimit,
  metricValue,
  prepareCluster,
  runManifest,
  runPath,
  sleep,
  startReconcilerProcess,
  waitForLeader,
} from './reconcile-harness.ts'

const NS = 'rc-scale'
const BOOKMARK_NS = 'rc-bookmark'
const LABEL = 'agents.proompteng.ai/agent-run'
/** 15,000 AgentRuns + 15,000 Jobs: the 30,000 cached objects issue 13 names. */
const RUNS = Number(process.env.SCALE_TEST_RUNS ?? '15000')
const RESYNC_SECONDS = 15
/** The product's defaults (config.ts), not the fast ones the other reconcile tests use. */
const LEASE = { durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 }
const LEASE_SAMPLE_MS = 250
/**
 * In-flight creates while seeding, as the bench's. The API server and etcd share 2 cores with this
 * process: 8, 16 and 32 seeded at the same rate within the shared machine's noise (300–650/s).
 */
const SEED_CONCURRENCY = 16

// The file takes 1.5–2 min here, but on a starved machine seeding alone may take minutes and the
// waits below allow some 11 min together: past the package's 600 s per-file timeout, which would
// end the file without saying which step was slow.
t.setTimeout(20 * 60_000)

// No job-controller: every Job here is suspended, so all it would do is write each Job's Suspended
// condition (and an Event) through its own client, which kube-controller-manager limits to 20
// requests/s: some 17 Jobs/s measured, so for 15,000 Jobs a quarter of an hour of writes, still
// re-queueing runs through the Job informer long after the seeding, where a real cluster would
// have settled. No garbage collector: nothing here has an owner, and its graph would hold all
// 30,000 objects.
const cp = await startControlPlaneForTest(t, { controllers: DEFAULT_CONTROLLERS.filter((c) => c !== 'job-controller' && c !== 'garbage-collector-controller') })
await prepareCluster(cp, [NS, BOOKMARK_NS])

/** A POST retried after a 5xx whose first attempt was stored answers 409: the object is there. */
async function createOnce(call: KeepAliveApiClient['call'], path: string, body: Record<string, unknown>): Promise<void> {
  const alreadyStored: KeepAliveApiClient['call'] = async (method, url, payload, contentType) => {
    const answer = await call(method, url, payload, contentType)
    return answer.status === 409 ? { ...answer, status: 200 } : answer
  }
  await callUntilAccepted(alreadyStored, 'POST', path, body)
}

/** A Job that never runs (no node, no pods): as small as the API server accepts. */
function suspendedJob(ns: string, name: string, labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns, labels },
    spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37' }] } } },
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
  // A short server-side timeout: the API server schedules the bookmark 2 s before it ends the
  // watch. On a loaded machine a watch can end before its bookmark is sent; the informer then
  // watches again from the last resourceVersion it knows, still without a relist. So the test
  // follows several watches, until one has started from a bookmark.
  const real = restListWatchSource(client, streamer, JOB_RESOURCE, { watchTimeoutSeconds: 6 })
  const listedAt: string[] = []
  /** Watch starts and bookmarks, in the order they happened. */
  const timeline: Array<{ what: 'watch' | 'bookmark'; resourceVersion: string }> = []
  const source: ListWatchSource = {
    async list(scope) {
      const result = await real.list(scope)
      listedAt.push(result.resourceVersion)
      return result
    },
    watch(scope, onEvent) {
      timeline.push({ what: 'watch', resourceVersion: scope.resourceVersion })
      return real.watch(scope, (event) => {
        if (event.type === 'BOOKMARK') {
          const rv = (event.object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion
          if (rv) timeline.push({ what: 'bookmark', resourceVersion: rv })
        }
        onEvent(event)
      })
    },
  }
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  // Nothing carries the label in this namespace: the informer stays empty, like the issue's Job informer.
  const informer = new Informer({ name: 'jobs(bookmark)', source, namespaces: [BOOKMARK_NS], labelSelector: LABEL, metrics })
  informer.start()
  t.teardown(() => informer.stop())
  await informer.waitForSync()
  t.equal(informer.size(), 0)
  // Other Jobs change meanwhile: the resource's resourceVersion moves on without the informer seeing an event.
  const api = keepAliveApiClient(cp, 5)
  await mapLimit(indices(5), 5, (i) => createOnce(api.call, jobPath(BOOKMARK_NS), suspendedJob(BOOKMARK_NS, `unlabelled-${i}`, { app: 'other' })))
  api.close()
  const listed = listedAt[0] ?? ''
  /** Each later watch, with the resourceVersion the informer knew when it started: the last bookmark's, else the list's. */
  const resumed = (): Array<{ from: string; known: string }> => {
    const starts: Array<{ from: string; known: string }> = []
    let known = listed
    let first = true
    for (const entry of timeline) {
      if (entry.what === 'bookmark') known = entry.resourceVersion
      else if (first) first = false
      else starts.push({ from: entry.resourceVersion, known })
    }
    return starts
  }
  await waitUntil('a watch that starts from a bookmark', { timeoutMs: 120_000, intervalMs: 100 }, async () => (resumed().some((w) => w.from !== listed) ? true : undefined))
  const starts = resumed()
  const bookmarks = timeline.filter((e) => e.what === 'bookmark').map((e) => e.resourceVersion)
  t.ok(bookmarks.length >= 1, `bookmarks received: ${bookmarks.join(', ')} over ${starts.length + 1} watches`)
  t.same(
    starts.map((w) => w.from),
    starts.map((w) => w.known),
    'every watch starts from the last resourceVersion the informer knew: the last bookmark, or the list before any',
  )
  const fromBookmark = starts.find((w) => w.from !== listed)
  t.ok(fromBookmark && Number(fromBookmark.from) > Number(listed), `a resourceVersion past the list's (${listed} → ${fromBookmark?.from})`)
  t.equal(listedAt.length, 1, 'listed once')
  for (const reason of ['expired', 'watch_failures', 'list_failed']) {
    t.equal(await registryValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'jobs(bookmark)', reason }), 0, `no relist (${reason})`)
  }
  t.equal(await registryValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'jobs(bookmark)', reason: 'initial' }), 1)
})

/**
 * Stores `runs` AgentRuns, each with a suspended Job labelled for it, over keep-alive connections;
 * returns the seconds it took.
 */
async function seed(runs: number): Promise<number> {
  const api = keepAliveApiClient(cp, SEED_CONCURRENCY)
  const startedAt = performance.now()
  try {
    await mapLimit(indices(runs), SEED_CONCURRENCY, async (i) => {
      const name = `run-${String(i).padStart(5, '0')}`
      await createOnce(api.call, runPath('AgentRun', NS), runManifest('AgentRun', NS, name))
      await createOnce(api.call, jobPath(NS), suspendedJob(NS, `${name}-job`, { [LABEL]: name }))
    })
  } finally {
    api.close()
  }
  return (performance.now() - startedAt) / 1000
}

interface LeaseSpec {
  holderIdentity?: string
  leaseTransitions?: number
  renewTime?: string
}

async function readLease(call: KeepAliveApiClient['call'] = (method, path) => cp.request(method, path)): Promise<LeaseSpec> {
  const response = await call('GET', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/runguard-reconciler`)
  if (response.status !== 200) throw new Error(`GET lease: HTTP ${response.status} ${response.text}`)
  return (response.body as { spec: LeaseSpec }).spec
}

interface LeaseSample {
  /** This process's wall clock: the reconciler stamps renewTime from the same machine's. */
  atMs: number
  spec: LeaseSpec
}

/** Reads the Lease every `everyMs` until stopped; a failed read is skipped, not a sample. */
function sampleLease(everyMs: number): { samples: LeaseSample[]; failedReads: () => number; stop(): Promise<void> } {
  const api = keepAliveApiClient(cp, 1, { timeoutMs: 5_000 })
  const samples: LeaseSample[] = []
  let failed = 0
  let stopping = false
  const loop = (async () => {
    while (!stopping) {
      try {
        const spec = await readLease(api.call)
        samples.push({ atMs: Date.now(), spec })
      } catch {
        failed++
      }
      await sleep(everyMs)
    }
  })()
  return {
    samples,
    failedReads: () => failed,
    async stop() {
      stopping = true
      await loop
      api.close()
    },
  }
}

interface RenewalGaps {
  renewals: number
  /** The longest the Lease went without a renewal, ms; Infinity with fewer than two samples. */
  maxGapMs: number
  holders: string[]
  transitions: number[]
}

/**
 * The longest time between successive renewTimes seen, and from the last one to the last sample,
 * so that renewals which stop count too. A renewal missed between two samples only lengthens a gap.
 */
function renewalGaps(samples: readonly LeaseSample[]): RenewalGaps {
  const holders = new Set<string>()
  const transitions = new Set<number>()
  let renewals = 0
  let maxGapMs = samples.length < 2 ? Infinity : 0
  let last: number | undefined
  for (const sample of samples) {
    holders.add(sample.spec.holderIdentity ?? '')
    transitions.add(sample.spec.leaseTransitions ?? 0)
    const renewedAt = Date.parse(sample.spec.renewTime ?? '')
    if (Number.isNaN(renewedAt)) maxGapMs = Infinity
    else if (renewedAt !== last) {
      if (last !== undefined) maxGapMs = Math.max(maxGapMs, renewedAt - last)
      last = renewedAt
      renewals++
    }
  }
  const end = samples.at(-1)
  if (end && last !== undefined) maxGapMs = Math.max(maxGapMs, end.atMs - last)
  return { renewals, maxGapMs, holders: [...holders], transitions: [...transitions] }
}

t.test('the renewal-gap check fails when renewals stop, and names every holder', async (t) => {
  const at = (s: number, holder = 'a'): LeaseSample => ({ atMs: Date.UTC(2026, 0, 1, 0, 0, s), spec: { holderIdentity: holder, leaseTransitions: 0, renewTime: new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString().replace('Z', '123Z') } })
  const still = (sample: LeaseSample, s: number): LeaseSample => ({ ...sample, atMs: Date.UTC(2026, 0, 1, 0, 0, s) })
  t.equal(renewalGaps([at(0), at(2), at(4)]).maxGapMs, 2_000, 'renewals every 2 s')
  t.equal(renewalGaps([at(0), at(2), still(at(2), 14)]).maxGapMs, 12_000, 'renewals that stop: the gap runs to the last sample')
  t.same(renewalGaps([at(0), at(2, 'b')]).holders, ['a', 'b'], 'a new holder is seen')
  t.equal(renewalGaps([at(0)]).maxGapMs, Infinity, 'one sample proves nothing')
})

/** What each informer listed in NS when it last synced, from the reconciler's 'informer synced' log lines. */
async function syncedObjects(logPath: string): Promise<Map<string, number>> {
  const objects = new Map<string, number>()
  for (const line of (await readFile(logPath, 'utf8')).split('\n')) {
    if (!line.includes('"informer synced"')) continue
    const entry = JSON.parse(line) as { informer?: string; namespace?: string; objects?: number }
    if (entry.namespace === NS && entry.informer !== undefined) objects.set(entry.informer, entry.objects ?? 0)
  }
  return objects
}

async function livez(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(5_000) })
    return response.status
  } catch {
    return 0
  }
}

t.test(`the Lease survives resyncs of ${2 * RUNS} cached objects (${RUNS} AgentRuns + ${RUNS} Jobs) with the product's Lease timings`, async (t) => {
  const seedSeconds = await seed(RUNS)
  t.comment(`seeded ${2 * RUNS} objects in ${seedSeconds.toFixed(0)} s (${((2 * RUNS) / seedSeconds).toFixed(0)}/s at concurrency ${SEED_CONCURRENCY})`)

  const reconcilerStartedAt = performance.now()
  const reconciler = await startReconcilerProcess(cp, {
    name: 'reconciler-scale',
    // Listing 30,000 objects took seconds here, but may take longer than the 60 s default on a starved machine.
    readyTimeoutMs: 240_000,
    env: {
      AGENTS_CONTROLLER_NAMESPACES: NS,
      RUNGUARD_LEASE_DURATION_SECONDS: String(LEASE.durationSeconds),
      RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: String(LEASE.renewDeadlineSeconds),
      RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: String(LEASE.retryPeriodSeconds),
      RUNGUARD_RESYNC_SECONDS: String(RESYNC_SECONDS),
    },
  })
  t.teardown(() => reconciler.stop())
  await waitForLeader([reconciler], 60_000)
  const lease = await readLease()
  // From the start-up backlog on (the informers have listed by now): besides a resync, the other
  // time a whole cache's worth of work competes with the renewals.
  const sampler = sampleLease(LEASE_SAMPLE_MS)
  t.teardown(() => sampler.stop())
  const adds = (text: string): number => metricValue(text, 'workqueue_adds_total', { name: 'agentrun' }) ?? 0
  const depth = (text: string): number => metricValue(text, 'workqueue_depth', { name: 'agentrun' }) ?? 0
  await waitUntil('the start-up backlog to drain', { timeoutMs: 240_000, intervalMs: 200 }, async () => {
    const text = await reconciler.scrape()
    return adds(text) >= RUNS && depth(text) === 0 ? true : undefined
  })
  const drainedS = (performance.now() - reconcilerStartedAt) / 1000
  // The title's count, from the reconciler itself: every AgentRun and every Job in its cache.
  const cached = await syncedObjects(reconciler.logPath)
  const cachedTotal = [...cached.values()].reduce((sum, n) => sum + n, 0)
  t.equal(cachedTotal, 2 * RUNS, `the reconciler's informers cached ${cachedTotal} objects (${[...cached].map(([name, n]) => `${name}: ${n}`).join(', ')})`)
  const baseline = adds(await reconciler.scrape())
  const startUpSamples = sampler.samples.length
  const resyncsStartedAt = performance.now()

  // Watch two resyncs from outside: scrape and probe /livez back to back until the agentrun queue
  // has taken at least three more rounds of every run (one resync adds each run once or twice:
  // from its own informer and from its Job's), so at least two resyncs.
  let deepest = 0
  let probes = 0
  const unanswered: number[] = []
  await waitUntil('two resyncs', { timeoutMs: (RESYNC_SECONDS * 3 + 120) * 1000, intervalMs: 1 }, async () => {
    const status = await livez(reconciler.metricsPort)
    probes++
    if (status !== 200) unanswered.push(status)
    const text = await reconciler.scrape()
    if (adds(text) > baseline) deepest = Math.max(deepest, depth(text))
    return adds(text) >= baseline + 3 * RUNS && depth(text) === 0 ? true : undefined
  })
  const resyncsS = (performance.now() - resyncsStartedAt) / 1000
  await sampler.stop()
  t.comment(`reconciler: start-up backlog drained ${drainedS.toFixed(1)} s after start; two resyncs watched for ${resyncsS.toFixed(1)} s`)

  t.same(unanswered, [], `/livez answered every one of ${probes} probes during the resyncs`)
  t.ok(deepest > 0, `a scrape saw a resync's backlog waiting (deepest ${deepest}): the event loop turned while it drained`)
  const after = await readLease()
  t.equal(after.holderIdentity, lease.holderIdentity, 'the same holder')
  t.equal(after.leaseTransitions, lease.leaseTransitions, 'no leader change')

  // The sample that closes one window opens the next, so no gap falls between them.
  const startUp = renewalGaps(sampler.samples.slice(0, startUpSamples + 1))
  const resyncs = renewalGaps(sampler.samples.slice(Math.max(0, startUpSamples - 1)))
  const all = renewalGaps(sampler.samples)
  const s = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'too short to sample')
  t.same(all.holders, [lease.holderIdentity], `every one of ${sampler.samples.length} Lease samples names the same holder (${sampler.failedReads()} reads failed)`)
  t.same(all.transitions, [lease.leaseTransitions ?? 0], 'and the same leaseTransitions')
  t.ok(
    all.maxGapMs < LEASE.renewDeadlineSeconds * 1000,
    `the longest the Lease went unrenewed, ${s(all.maxGapMs)}, is under the ${LEASE.renewDeadlineSeconds} s renew deadline ` +
      `(during the resyncs ${s(resyncs.maxGapMs)} over ${resyncs.renewals} renewals; start-up backlog ${s(startUp.maxGapMs)} over ${startUp.renewals}; retry period ${LEASE.retryPeriodSeconds} s)`,
  )
  t.ok(reconciler.process.running, 'the reconciler is still running')
  t.equal(metricValue(await reconciler.scrape(), 'runguard_leader'), 1, 'and still leading')
  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'runguard_informer_relists_total', { resource: 'agentruns', reason: 'expired' }), 0, 'no relist during the test')
})
