/**
 * runguard as shipped -- its image, the self-signed overlay, two replicas -- on two real nodes
 * (kubelet + containerd each), under load: ≥ 4 clients writing AgentRun status through the API
 * server and one creating and cancelling runs (test/harness/load.ts).
 *
 * 1. `kubectl rollout restart` → 0 failed writes, every write answered by runguard, and the
 *    reconciler's Lease moves to a new pod.
 * 2. `kubectl drain` evicts through the eviction API and honours the PDB: node-a drains (its pod
 *    moves to node-b), draining node-b as well is refused with 429 for the last replica, which
 *    keeps serving; 0 failed writes throughout.
 *
 * A write lost to a terminating webhook (a request racing the close of a keep-alive connection)
 * fails like any other: the webhook's lame duck (cmd/webhook.ts) keeps answering and closes each
 * connection only after an answer, so none is expected.
 *
 * Figures are printed as `# figure: ...` comments (BENCHMARKS.md quotes them).
 */
import t from 'tap'
import { deployRunguard, isReady, type Pod } from '../harness/deploy.ts'
import { grantControllerIdentity, startLoad, type LoadSummary } from '../harness/load.ts'
import { nodePreflight, startNodeClusterForTest } from '../harness/node.ts'
import { RUNGUARD_NAMESPACE } from '../harness/runguard.ts'

const problem = nodePreflight()
if (problem !== undefined && process.getuid?.() !== 0) {
  t.plan(0, `no test node here: ${problem}`)
} else {
  const cluster = await startNodeClusterForTest(t, { nodes: 2, log: (m) => t.comment(m) })
  const { cp } = cluster
  const NS = 'load-rollout'
  await cp.kubectl(['create', 'namespace', NS])
  const runguard = await deployRunguard(cp, `${cluster.dir}/deploy`, { log: (m) => t.comment(m) })
  await grantControllerIdentity(cp)
  t.comment(`figure: deploy: 2 replicas Ready ${runguard.rolloutMs} ms after kubectl apply`)

  const describe = (s: LoadSummary): string =>
    `${s.attempted} writes (${s.byIdentity.person.attempted} as a person, ${s.byIdentity.controller.attempted} as the controller; ${s.byOp.create.attempted} creates, ${s.byOp.cancel.attempted} cancels), ` +
    `${s.failed} failed, ${s.unstamped} admitted without runguard, p99 ${s.p99LatencyMs} ms, max ${s.maxLatencyMs} ms` +
    (Object.keys(s.errors).length > 0 ? `; errors: ${JSON.stringify(s.errors)}` : '')
  const offsets = (s: LoadSummary, from: number): string => s.failedAt.map((at) => `+${((at - from) / 1000).toFixed(1)} s`).join(', ')
  const podNames = (pods: Pod[]): string[] => pods.map((p) => p.metadata.name).sort()
  const kubectl = (args: string[], timeoutMs = 150_000) => cp.kubectl(args, { allowFailure: true, timeoutMs })

  t.test('rolling restart under load: 0 failed writes, the Lease moves to a new pod', async (t) => {
    const before = await runguard.waitReady(2)
    let holderBefore: string | undefined
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      holderBefore = await runguard.leaseHolder()
      if (holderBefore) break // a fresh deployment's reconciler may still be acquiring it
    }
    t.ok(holderBefore !== undefined && podNames(before).some((n) => holderBefore.startsWith(`${n}_`)), `a runguard pod leads (${holderBefore})`)

    const load = await startLoad(cp, { namespace: NS, writers: 4 })
    t.teardown(() => load.stop())
    // Floor: the same load with nothing happening, same cluster, same run.
    const floorFrom = Date.now()
    await new Promise((r) => setTimeout(r, 8_000))
    const restartAt = Date.now()
    const floor = load.summary(floorFrom, restartAt)

    const restart = await kubectl(['-n', RUNGUARD_NAMESPACE, 'rollout', 'restart', 'deployment/runguard'])
    t.equal(restart.code, 0, restart.stderr)
    let leaseMovedMs: number | undefined
    const leaseWatch = (async () => {
      while (Date.now() - restartAt < 120_000) {
        const holder = await runguard.leaseHolder()
        // A leader that steps down leaves holderIdentity empty; wait for a new pod to hold it.
        if (holder !== undefined && holder !== '' && holder !== holderBefore && !podNames(before).some((n) => holder.startsWith(`${n}_`))) {
          leaseMovedMs = Date.now() - restartAt
          return holder
        }
        await new Promise((r) => setTimeout(r, 100))
      }
      return undefined
    })()
    const status = await kubectl(['-n', RUNGUARD_NAMESPACE, 'rollout', 'status', 'deployment/runguard', '--timeout=120s'])
    t.equal(status.code, 0, `rollout status: ${status.stdout}${status.stderr}`)
    const after = await runguard.waitReady(2, 90_000) // old pods gone too
    const rolledMs = Date.now() - restartAt
    await new Promise((r) => setTimeout(r, 3_000)) // writes keep going on the new pods
    const end = Date.now()
    await load.stop()
    const holderAfter = await leaseWatch

    const during = load.summary(restartAt, end)
    t.comment(`figure: rollout restart: ${describe(during)}; old pods gone after ${rolledMs} ms`)
    t.comment(`figure: rollout floor (8 s, nothing happening): ${describe(floor)}`)
    t.ok(during.attempted >= 100, `enough writes during the restart (${during.attempted})`)
    t.equal(during.failed, 0, `no failed write during the restart: ${JSON.stringify(during.errors)} at ${offsets(during, restartAt)}`)
    t.equal(during.unstamped, 0, 'every write was answered by runguard (none admitted by failurePolicy Ignore)')
    t.equal(floor.failed, 0, 'no failed write in the floor window')
    t.same(
      podNames(after).filter((n) => podNames(before).includes(n)),
      [],
      'both pods replaced',
    )
    t.ok(holderAfter !== undefined && podNames(after).some((n) => holderAfter.startsWith(`${n}_`)), `the Lease moved to a new pod (${holderBefore} → ${holderAfter})`)
    t.comment(`figure: rollout restart: Lease held by a new pod ${leaseMovedMs} ms after the restart`)
    const left = await load.uncancelled(30_000)
    t.same(left, [], `every cancel carried out (${load.cycled.length} runs)`)
  })

  t.test('drain: eviction honours the PDB (429 for the last replica), 0 failed writes', async (t) => {
    let pods = await runguard.waitReady(2)
    const nodesOf = (ps: Pod[]): string[] => ps.map((p) => p.spec.nodeName ?? '').sort()
    t.same(nodesOf(pods), ['node-a', 'node-b'], 'one replica per node (topology spread)')

    const load = await startLoad(cp, { namespace: NS, writers: 4 })
    t.teardown(() => load.stop())
    await new Promise((r) => setTimeout(r, 2_000))
    const drainAt = Date.now()
    const drainA = await kubectl(['drain', 'node-a', '--ignore-daemonsets', '--delete-emptydir-data', '--pod-selector=app.kubernetes.io/name=runguard', '--timeout=120s'])
    const drainAMs = Date.now() - drainAt
    t.equal(drainA.code, 0, `drain node-a: ${drainA.stdout}${drainA.stderr}`)
    t.match(drainA.stdout, /evicted/, 'the pod on node-a was evicted')
    pods = await runguard.waitReady(2, 90_000)
    t.same(nodesOf(pods), ['node-b', 'node-b'], 'the evicted replica was replaced on node-b')
    const movedMs = Date.now() - drainAt

    // Draining node-b too would leave no webhook: the first eviction is allowed, the second is not.
    const drainBAt = Date.now()
    const drainB = await kubectl(['drain', 'node-b', '--ignore-daemonsets', '--delete-emptydir-data', '--pod-selector=app.kubernetes.io/name=runguard', '--timeout=25s'])
    const drainBMs = Date.now() - drainBAt
    const refusals = (drainB.stderr.match(/Cannot evict pod as it would violate the pod's disruption budget/g) ?? []).length
    t.not(drainB.code, 0, 'drain of node-b does not complete')
    t.ok(refusals >= 1, `the eviction of the last replica was refused ${refusals} time(s)`)
    const remaining = (await runguard.pods()).filter(isReady)
    t.equal(remaining.length, 1, 'one replica left, Ready')
    const last = remaining[0]
    const eviction = await cp.request('POST', `/api/v1/namespaces/${RUNGUARD_NAMESPACE}/pods/${last?.metadata.name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: last?.metadata.name, namespace: RUNGUARD_NAMESPACE },
    })
    t.equal(eviction.status, 429, `the eviction API answers 429 for the last replica: ${eviction.text.slice(0, 300)}`)
    t.match(eviction.text, /disruption budget/)
    const pending = (await runguard.pods()).filter((p) => p.status?.phase === 'Pending')
    t.equal(pending.length, 1, 'its replacement waits for a schedulable node')

    await new Promise((r) => setTimeout(r, 2_000))
    const uncordonAt = Date.now()
    for (const node of ['node-a', 'node-b']) t.equal((await kubectl(['uncordon', node])).code, 0, `uncordon ${node}`)
    await runguard.waitReady(2, 90_000)
    const recoveredMs = Date.now() - uncordonAt
    const end = Date.now()
    await load.stop()

    const during = load.summary(drainAt, end)
    t.comment(`figure: drain node-a: completed in ${drainAMs} ms (pod evicted, replacement Ready on node-b ${movedMs} ms after the drain began)`)
    t.comment(`figure: drain node-b: ${refusals} eviction(s) refused by the PDB (HTTP 429) in ${drainBMs} ms; kubectl drain exit ${drainB.code}; last replica kept serving`)
    t.comment(`figure: drain: back to 2 Ready replicas ${recoveredMs} ms after uncordon`)
    t.comment(`figure: drain (both drains + recovery): ${describe(during)}`)
    t.comment(`drain timeline: node-b drain began +${((drainBAt - drainAt) / 1000).toFixed(1)} s, uncordon +${((uncordonAt - drainAt) / 1000).toFixed(1)} s`)
    t.equal(during.failed, 0, `no failed write during the drains: ${JSON.stringify(during.errors)} at ${offsets(during, drainAt)}`)
    t.equal(during.unstamped, 0, 'every write was answered by runguard')
    const left = await load.uncancelled(30_000)
    t.same(left, [], `every cancel carried out (${load.cycled.length} runs)`)
  })
}
