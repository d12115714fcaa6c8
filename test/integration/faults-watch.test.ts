/**
 * Issue 14, faults on the real control plane: the reconciler's watches cut mid-stream, and
 * `410 Gone` when it resumes from a resourceVersion far in the past. The reconciler talks to the
 * API server through a TCP proxy (test/harness/tcp-proxy.ts); the tests talk to it directly.
 *
 * How 410 is forced: kube-apiserver runs with `--watch-cache=false`, so every watch is served by
 * etcd itself, and etcd is compacted (ControlPlane.compactEtcd) while the reconciler is cut off. A
 * watch resumed from any resourceVersion older than the compaction is then answered `410 Gone`
 * ("too old resource version") for certain. With the watch cache on, whether a resumed watch
 * gets 410 depends on how many events the cache still holds (its size is dynamic and cannot be
 * set for CRDs: --watch-cache-sizes applies to built-in resources only), so the outcome would
 * depend on timing.
 *
 * 1. Cut mid-stream: every open connection of the reconciler is reset, several times, while a
 *    cancel storm's watch events are flowing: watches resume from their last resourceVersion and
 *    no cancel is lost.
 * 2. 410 Gone: the reconciler cut off (its connections reset, new ones held), cancels requested,
 *    a second Job created for every run, etcd compacted past everything it has seen; on heal
 *    every informer that resumes gets 410, relists, and every cancel is carried out — and no run
 *    is Cancelled before every one of its Jobs is gone, the ones its cache missed included (while
 *    the Job cache is not current the reconciler lists a cancelled run's Jobs from the API server).
 */
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import t from 'tap'
import { startControlPlaneForTest, type ControlPlane } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { startTcpProxy } from '../harness/tcp-proxy.ts'
import { listResourceVersion, listRuns, liveJobs, makeRunningRuns, newestResourceVersion, OUTAGE_LEASE_ENV, recordWatch, waitCancelledAndJobsGone, type WatchedEvent } from './faults-common.ts'
import { cancel, create, jobManifest, jobPath, mapLimit, metricValue, prepareCluster, runPath, sleep, startReconcilerProcess, waitForLeader } from './reconcile-harness.ts'

const NS = 'faults-watch'
const testStarted = Date.now()

const cp = await startControlPlaneForTest(t, { apiServerArgs: ['--watch-cache=false'] })
await prepareCluster(cp, [NS])
const proxy = await startTcpProxy({ port: cp.ports.apiServer })
t.teardown(() => proxy.close())
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-watch',
  kubeconfigPath: await cp.writeKubeconfig(join(cp.workDir, 'reconciler-watch.kubeconfig'), { server: proxy.url }),
  env: { ...OUTAGE_LEASE_ENV, AGENTS_CONTROLLER_NAMESPACES: NS, AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '120000', RUNGUARD_LOG_LEVEL: 'debug' },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler], 60_000)

interface LogLine {
  msg?: string
  informer?: string
  level?: number
}

function reconcilerLog(): LogLine[] {
  return readFileSync(reconciler.logPath, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine
      } catch {
        return {}
      }
    })
}

/** What the API server answers a watch from `resourceVersion`: the HTTP status, or the code of an ERROR event. */
function watchAnswer(api: ControlPlane, collectionPath: string, resourceVersion: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: api.host,
        port: api.ports.apiServer,
        path: `${collectionPath}?watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=5`,
        ca: api.caPem,
        cert: api.adminCertificate.certPem,
        key: api.adminCertificate.keyPem,
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          return resolve(res.statusCode ?? 0)
        }
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
          const first = text.split('\n')[0] ?? ''
          if (!text.includes('\n')) return
          const event = JSON.parse(first) as { type: string; object: { code?: number } }
          req.destroy()
          resolve(event.type === 'ERROR' ? (event.object.code ?? 0) : 200)
        })
        res.on('end', () => resolve(200))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

t.test('watches cut mid-stream during a cancel storm: they resume and no cancel is lost', async (t) => {
  const runs = await makeRunningRuns(cp, NS, 'cut', 20)
  const connectionsBefore = proxy.connectionTimes.length
  let cuts = 0
  let storming = true
  // Cut every connection of the reconciler every 150 ms while the cancels (and their watch events) flow.
  const cutter = (async () => {
    while (storming) {
      await sleep(150)
      if (!storming) break
      proxy.resetAll()
      cuts++
    }
  })()
  // Spread the cancels over a second or so, so the cuts fall among their watch events.
  await mapLimit(runs, 2, async (r) => {
    await cancel(cp, runPath('AgentRun', NS, r.name))
    await sleep(100)
  })
  storming = false
  await cutter
  t.comment(`${cuts} cuts during the storm; the reconciler opened ${proxy.connectionTimes.length - connectionsBefore} connections meanwhile`)
  t.ok(cuts >= 3, 'the connections were cut several times while the cancels came in')
  const done = await waitCancelledAndJobsGone(cp, NS, 'cut', runs.map((r) => r.name), 60_000)
  t.equal(done.length, runs.length, 'every cancel carried out')
  t.ok(reconciler.process.running, 'the reconciler kept running')
})

t.test('410 Gone: cut off, etcd compacted past its resourceVersion; informers relist and no cancel is lost', async (t) => {
  const runs = await makeRunningRuns(cp, NS, 'gone', 10)
  // Wait until the reconciler has seen the runs (its Jobs informer too): the resourceVersions it
  // holds are then at least the runs' newest, which the compaction below leaves far behind.
  const seenRv = newestResourceVersion(await listRuns(cp, NS, 'gone'))
  await waitUntil('the reconciler to be idle', { timeoutMs: 30_000, intervalMs: 200 }, async () => {
    const text = await reconciler.scrape()
    return (metricValue(text, 'workqueue_depth', { name: 'agentrun' }) ?? 1) === 0 ? true : undefined
  })
  const relistsBefore = reconcilerLog().filter((l) => l.msg?.includes('410 Gone')).length

  proxy.blackHole()
  proxy.resetAll() // the watches end; new connections (the informers' retries) are held until heal()
  const cutAt = Date.now()
  // A second Job for every run, which the reconciler's Job cache cannot know of until it relists.
  await mapLimit(runs, 10, (r) => create(cp, jobPath(NS), jobManifest(NS, `${r.name}-job-late`, r.name, { ownerUid: r.uid })))
  await mapLimit(runs, 10, (r) => cancel(cp, runPath('AgentRun', NS, r.name)))
  // Move etcd on, then compact everything before now.
  for (let i = 0; i < 5; i++) await cp.request('PATCH', runPath('AgentRun', NS, runs[0]!.name), { metadata: { annotations: { 'faults.test/bump': String(i) } } }, { contentType: 'application/merge-patch+json' })
  const compactedTo = await cp.compactEtcd()
  t.comment(`etcd compacted to revision ${compactedTo}; the reconciler last saw ${seenRv} or later`)
  t.equal(await watchAnswer(cp, runPath('AgentRun', NS), seenRv), 410, `a watch from resourceVersion ${seenRv} is now answered 410 Gone`)
  t.equal(await cancelledCountNow(), 0, 'nothing cancelled while the reconciler is cut off')

  // The test's own record of every run and Job change from here on (after the compaction, so
  // these watches never need a revision it removed), straight from the API server.
  const runEvents = recordWatch(cp, runPath('AgentRun', NS), await listResourceVersion(cp, runPath('AgentRun', NS)))
  const jobEvents = recordWatch(cp, jobPath(NS), await listResourceVersion(cp, jobPath(NS)))
  t.teardown(() => {
    runEvents.stop()
    jobEvents.stop()
  })

  proxy.heal()
  t.comment(`cut off for ${Date.now() - cutAt} ms`)
  const healedAt = Date.now()
  const done = await waitCancelledAndJobsGone(cp, NS, 'gone', runs.map((r) => r.name), 60_000)
  t.comment(`all ${done.length} cancels carried out ${Date.now() - healedAt} ms after the heal`)
  await waitUntil('the late Jobs gone too', { timeoutMs: 30_000, intervalMs: 250 }, async () => ((await liveJobs(cp, NS, 'gone')).length === 0 ? true : undefined))

  // Order from the API server's own resourceVersions (one etcd: its revisions, which order every
  // write to it): each Job's deletion must come before its run's first Cancelled.
  const revision = (e: WatchedEvent): bigint => BigInt(e.object.metadata.resourceVersion ?? '0')
  const firstCancelled = (name: string): WatchedEvent | undefined => runEvents.events.find((e) => e.object.metadata.name === name && e.object.status?.phase === 'Cancelled')
  const jobDeleted = (name: string): WatchedEvent | undefined => jobEvents.events.find((e) => e.type === 'DELETED' && e.object.metadata.name === name)
  const jobNames = (name: string): string[] => [`${name}-job`, `${name}-job-late`]
  await waitUntil('the test watches to show every run Cancelled and every Job deleted', { timeoutMs: 30_000, intervalMs: 100 }, async () =>
    runs.every((r) => firstCancelled(r.name) && jobNames(r.name).every((j) => jobDeleted(j))) ? true : undefined,
  )
  const early: string[] = []
  for (const r of runs) {
    const cancelled = firstCancelled(r.name)!
    for (const jobName of jobNames(r.name)) {
      const deleted = jobDeleted(jobName)!
      if (revision(deleted) > revision(cancelled)) early.push(`${r.name} (${jobName} deleted at ${revision(deleted)}, the run Cancelled at ${revision(cancelled)})`)
    }
  }
  t.same(early, [], 'no run was Cancelled before all its Jobs were gone, the late ones included')
  const relists = reconcilerLog().filter((l) => l.msg?.includes('410 Gone')).slice(relistsBefore)
  t.comment(`informers that got 410 and relisted: ${relists.map((l) => l.informer).join(', ')}`)
  t.ok(relists.some((l) => l.informer === 'agentruns'), 'the AgentRun informer got 410 Gone and relisted')
  t.ok(reconciler.process.running, 'the reconciler kept running')

  async function cancelledCountNow(): Promise<number> {
    return (await listRuns(cp, NS, 'gone')).filter((o) => o.status?.phase === 'Cancelled').length
  }
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
