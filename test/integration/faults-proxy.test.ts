/**
 * Issue 14, faults on the real control plane: the path between the reconciler and the API server
 * made bad with a TCP proxy on loopback (test/harness/tcp-proxy.ts; the reconciler's kubeconfig
 * points at the proxy, everything else talks to the API server directly):
 *
 * 1. slow: 150 ms each way and 30 % of new connections cut — cancels still get carried out;
 * 2. broken: every connection, open or new, cut at once, for BROKEN_MS — the reconciler backs
 *    off instead of hot-looping: the connections it opens (each one an attempt: behind TLS the
 *    proxy cannot count requests, and a cut connection carries at most one) stay within bounds
 *    computed from its backoff settings: over the whole window, and over its second half (the
 *    rate must fall as the delays double); its memory stays bounded;
 * 3. healed — every pending cancel, including those requested while it was cut off, is carried
 *    out; the time to converge is printed (and recorded in BENCHMARKS.md, "Faults").
 *
 * Events are switched off here: they have their own per-object token bucket (tested with the
 * recorder), and this test bounds the reconciler's own list/watch, lease and reconcile traffic.
 */
import { join } from 'node:path'
import t from 'tap'
import { ExponentialBackoffRateLimiter } from '../../src/controller/rate-limiter.ts'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { countBetween, perSecond, startTcpProxy } from '../harness/tcp-proxy.ts'
import { cancelledCount, makeRunningRuns, OUTAGE_LEASE_ENV, rssBytes, waitCancelledAndJobsGone } from './faults-common.ts'
import { cancel, mapLimit, metricValue, prepareCluster, runPath, startReconcilerProcess, waitForLeader } from './reconcile-harness.ts'

const NS = 'faults-proxy'
const FIRST_BATCH = 20
const SECOND_BATCH = 10
const BROKEN_MS = 10_000
const testStarted = Date.now()

// The reconciler's backoff settings, which the bounds below are derived from:
// - work queue, per key: ExponentialBackoffRateLimiter's defaults (base · 2^n);
const keyBackoff = new ExponentialBackoffRateLimiter()
// - list/watch, per informer loop: 800 ms doubling to 30 s, ±25 % jitter (src/controller/informer.ts defaults);
const REFLECTOR_BACKOFF_INITIAL_MS = 800
const REFLECTOR_BACKOFF_MAX_MS = 30_000
const REFLECTOR_JITTER_LOW = 0.75
// - one informer loop per run kind and per Job label, one namespace watched, no Argo API;
const REFLECTORS = 3 + 2
// - the Lease: one renew (then one read) per retry period while renewals fail.
const LEASE_RETRY_MS = Number(OUTAGE_LEASE_ENV.RUNGUARD_LEASE_RETRY_PERIOD_SECONDS) * 1000

/** Most attempts a doubling backoff allows within `windowMs`: the first at 0, then after each delay. */
function maxAttempts(windowMs: number, firstDelayMs: number, maxDelayMs: number): number {
  let attempts = 1
  let elapsed = 0
  for (let delay = firstDelayMs; elapsed + delay <= windowMs; delay = Math.min(maxDelayMs, delay * 2)) {
    elapsed += delay
    attempts++
  }
  return attempts
}

const cp = await startControlPlaneForTest(t)
await prepareCluster(cp, [NS])
const proxy = await startTcpProxy({ port: cp.ports.apiServer })
t.teardown(() => proxy.close())
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-proxy',
  kubeconfigPath: await cp.writeKubeconfig(join(cp.workDir, 'reconciler-proxy.kubeconfig'), { server: proxy.url }),
  env: {
    ...OUTAGE_LEASE_ENV,
    AGENTS_CONTROLLER_NAMESPACES: NS,
    AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '120000',
    AGENTS_CONTROLLER_EVENTS_ENABLED: 'false',
    RUNGUARD_RECONCILE_CONCURRENCY: '1',
  },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler], 60_000)

t.test('slow, then cut off, then healed: backs off, memory bounded, catches up', async (t) => {
  const first = await makeRunningRuns(cp, NS, 'first', FIRST_BATCH)
  const second = await makeRunningRuns(cp, NS, 'second', SECOND_BATCH)

  const rss: Array<{ at: number; bytes: number }> = []
  const sampler = setInterval(() => {
    const bytes = rssBytes(reconciler.process.pid)
    if (bytes !== undefined) rss.push({ at: Date.now(), bytes })
  }, 250)
  t.teardown(() => clearInterval(sampler))
  await waitUntil('a few RSS samples', { timeoutMs: 10_000, intervalMs: 100 }, async () => (rss.length >= 4 ? true : undefined))
  const baselineRss = Math.max(...rss.map((s) => s.bytes))

  // 1. Slow: latency and dropped connections; the first batch is cancelled meanwhile.
  proxy.setLatency(150)
  proxy.setDropProbability(0.3)
  const slowAt = Date.now()
  await mapLimit(first, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil('the reconciler to make progress on a slow path', { timeoutMs: 60_000, intervalMs: 50 }, async () => ((await cancelledCount(cp, NS, 'first')) >= 3 ? true : undefined))
  const doneWhenSlow = await cancelledCount(cp, NS, 'first')
  t.comment(`slow path (150 ms each way, 30 % of connections cut): ${doneWhenSlow}/${FIRST_BATCH} cancels done ${Date.now() - slowAt} ms after they were requested`)

  // 2. Broken: every connection cut, open or new. The second batch is cancelled meanwhile —
  // the reconciler cannot see it until the path heals.
  proxy.refuse()
  const brokenAt = Date.now()
  const pendingKeys = FIRST_BATCH - (await cancelledCount(cp, NS, 'first'))
  await mapLimit(second, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  await waitUntil(`${BROKEN_MS} ms of a broken path`, { timeoutMs: BROKEN_MS + 5_000, intervalMs: 100 }, async () => (Date.now() - brokenAt >= BROKEN_MS ? true : undefined))
  const healedAt = Date.now()
  const windowMs = healedAt - brokenAt
  proxy.setLatency(0)
  proxy.setDropProbability(0)
  proxy.heal()

  const attempts = countBetween(proxy.connectionTimes, brokenAt, healedAt)
  const bins = perSecond(proxy.connectionTimes, brokenAt, healedAt)
  // Every reconcile attempt of a pending key makes at most two calls (delete the Job, write the
  // status); every list/watch iteration at most two (relist, watch); every lease attempt two.
  const keyAttempts = maxAttempts(windowMs, keyBackoff.baseDelayMs, keyBackoff.maxDelayMs)
  const reflectorAttempts = maxAttempts(windowMs, REFLECTOR_BACKOFF_INITIAL_MS * REFLECTOR_JITTER_LOW, REFLECTOR_BACKOFF_MAX_MS * REFLECTOR_JITTER_LOW)
  const leaseAttempts = Math.ceil(windowMs / LEASE_RETRY_MS) + 1
  const totalBound = pendingKeys * keyAttempts * 2 + REFLECTORS * reflectorAttempts * 2 + leaseAttempts * 2
  // The decay: every pending key fails its first pass early in the window (they are all queued
  // when it starts, and a failing pass takes milliseconds), so by its second half each key's
  // delay has doubled past a second: two more attempts at most (its 10th and 11th, at ~5 s and
  // ~10 s), plus one for an earlier attempt that a busy worker pushed late. Each list/watch loop
  // two, the Lease one per retry period. A hot loop would keep its first-second rate all along.
  const halfMs = windowMs / 2
  const secondHalf = countBetween(proxy.connectionTimes, brokenAt + halfMs, healedAt)
  const secondHalfBound = pendingKeys * 3 * 2 + REFLECTORS * 2 * 2 + (Math.ceil(halfMs / LEASE_RETRY_MS) + 1) * 2
  t.comment(`broken for ${windowMs} ms with ${pendingKeys} cancels pending: ${attempts} connection attempts; per second: ${bins.join(' ')}`)
  t.comment(`bounds from the backoff settings: ${totalBound} in the window (${pendingKeys} keys × ${keyAttempts} attempts × 2 calls + ${REFLECTORS} list/watch loops × ${reflectorAttempts} × 2 + ${leaseAttempts} lease attempts × 2); ${secondHalfBound} in its second half (${(secondHalfBound / (halfMs / 1000)).toFixed(1)}/s)`)
  t.ok(attempts > 0, 'it kept trying')
  t.ok(attempts <= totalBound, `backs off: ${attempts} attempts ≤ ${totalBound}`)
  t.ok(secondHalf <= secondHalfBound, `no hot loop: ${secondHalf} attempts in the second half (${(secondHalf / (halfMs / 1000)).toFixed(1)}/s) ≤ ${secondHalfBound}`)
  t.ok(reconciler.process.running, 'still running (the Lease outlives the outage)')

  // 3. Healed: everything pending is carried out.
  const everything = [...first, ...second].map((r) => r.name)
  await waitCancelledAndJobsGone(cp, NS, 'first', first.map((r) => r.name), 90_000)
  await waitCancelledAndJobsGone(cp, NS, 'second', second.map((r) => r.name), 90_000)
  const convergedMs = Date.now() - healedAt
  t.comment(`converged ${convergedMs} ms after the heal: all ${everything.length} runs Cancelled, their Jobs gone`)
  t.pass('caught up: every pending cancel carried out')

  clearInterval(sampler)
  const peakRss = Math.max(...rss.filter((s) => s.at >= slowAt).map((s) => s.bytes))
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
  t.comment(`RSS: ${mib(baselineRss)} MiB before, peak ${mib(peakRss)} MiB while slow, broken and catching up`)
  t.ok(peakRss <= baselineRss + 128 * 1024 * 1024, `memory bounded: peak ${mib(peakRss)} MiB ≤ baseline ${mib(baselineRss)} + 128 MiB`)
  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'runguard_leader'), 1, 'still the leader')
  t.comment(`reconcile errors retried with backoff: ${metricValue(text, 'controller_runtime_reconcile_errors_total', { controller: 'agentrun' }) ?? 0}; workqueue retries: ${metricValue(text, 'workqueue_retries_total', { name: 'agentrun' }) ?? 0}`)
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
