/**
 * runguard's pods on a real node (kubelet + containerd + runc), observed rather than assumed:
 *
 * - the containers run as 65532 with no capabilities, no-new-privileges, seccomp and a read-only
 *   root filesystem -- read from the processes' /proc on the host and checked from inside;
 * - cold start of a new replica (pod created → webhook listening → Ready);
 * - the leader pod force-deleted (`--grace-period=0 --force`): a cancel written right after is
 *   carried out within the Lease duration + one reconcile, and no cancel is lost;
 * - the webhook container killed: the kubelet restarts it, readiness takes the pod out of the
 *   Service meanwhile, and the failurePolicy split behaves as the README says (people's writes
 *   refused, never admitted unjudged; the controller's admitted);
 * - graceful termination: preStop, SIGTERM → exit, and every request in flight at SIGTERM answered.
 *
 * Figures are printed as `# figure: ...` comments (BENCHMARKS.md quotes them).
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { deployRunguard, isReady, WEBHOOK_SERVICE_DNS, type Pod } from '../harness/deploy.ts'
import { agentRun, grantControllerIdentity, startLoad, type LoadSummary } from '../harness/load.ts'
import { nodePreflight, startNodeClusterForTest } from '../harness/node.ts'
import { REPO_ROOT, RUNGUARD_NAMESPACE } from '../harness/runguard.ts'

const LEASE_DURATION_MS = 15_000 // RUNGUARD_LEASE_DURATION_SECONDS default; the manifests keep it

const problem = nodePreflight()
if (problem !== undefined && process.getuid?.() !== 0) {
  t.plan(0, `no test node here: ${problem}`)
} else {
  const cluster = await startNodeClusterForTest(t, { nodes: 1, log: (m) => t.comment(m) })
  const { cp } = cluster
  const NS = 'load-pods'
  await cp.kubectl(['create', 'namespace', NS])
  const runguard = await deployRunguard(cp, join(cluster.dir, 'deploy'), { log: (m) => t.comment(m) })
  await grantControllerIdentity(cp)
  const kubectl = (args: string[], timeoutMs = 120_000) => cp.kubectl(args, { allowFailure: true, timeoutMs })
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  const describe = (s: LoadSummary): string =>
    `${s.attempted} writes (${s.byIdentity.person.attempted} as a person, ${s.byIdentity.controller.attempted} as the controller), ${s.failed} failed ` +
    `(person ${s.byIdentity.person.failed}, controller ${s.byIdentity.controller.failed}), admitted without runguard: person ${s.byIdentity.person.unstamped}, controller ${s.byIdentity.controller.unstamped}` +
    (Object.keys(s.errors).length > 0 ? `; errors: ${JSON.stringify(s.errors)}` : '')
  const container = (pod: Pod, name: string) => pod.status?.containerStatuses?.find((c) => c.name === name)
  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await cp.request('GET', `/api/v1/namespaces/${RUNGUARD_NAMESPACE}/pods/${name}`)
    return r.status === 200 ? (r.body as Pod) : undefined
  }
  const runPhase = async (name: string): Promise<string | undefined> => {
    const r = await cp.request('GET', `/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns/${name}`)
    return r.status === 200 ? ((r.body as { status?: { phase?: string } }).status?.phase ?? '') : undefined
  }
  /** Writes as a person until the API server accepts it (the webhook may be failing over); returns when it did. */
  const writeUntilAccepted = async (method: string, path: string, body: unknown, contentType?: string): Promise<{ at: number; attempts: number }> => {
    for (let attempts = 1; ; attempts++) {
      const r = await cp.request(method, path, body, contentType ? { contentType } : {})
      if (r.status >= 200 && r.status < 300) return { at: Date.now(), attempts }
      if (attempts > 100) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`)
      await sleep(100)
    }
  }
  const createAndCancel = async (name: string): Promise<{ cancelWrittenAt: number; attempts: number }> => {
    const created = await writeUntilAccepted('POST', `/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns`, agentRun(NS, name))
    const cancelled = await writeUntilAccepted('PATCH', `/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns/${name}`, { spec: { cancel: true } }, 'application/merge-patch+json')
    return { cancelWrittenAt: cancelled.at, attempts: created.attempts + cancelled.attempts }
  }
  const waitCancelled = async (name: string, timeoutMs: number): Promise<number | undefined> => {
    const until = Date.now() + timeoutMs
    while (Date.now() < until) {
      if ((await runPhase(name)) === 'Cancelled') return Date.now()
      await sleep(50)
    }
    return undefined
  }

  t.test('non-root, read-only root filesystem, all capabilities dropped: seen from /proc and from inside', async (t) => {
    const pods = await runguard.waitReady(2)
    for (const pod of pods) {
      for (const name of ['webhook', 'reconciler']) {
        const id = container(pod, name)?.containerID ?? ''
        const pid = await cluster.containerPid(id)
        const status = Object.fromEntries(
          readFileSync(`/proc/${pid}/status`, 'utf8')
            .split('\n')
            .map((l) => l.split(':\t'))
            .filter((kv) => kv.length === 2),
        ) as Record<string, string>
        const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[4] === '/')
        const what = `${pod.metadata.name}/${name} (host pid ${pid})`
        t.equal(status.Uid?.split('\t')[0], '65532', `${what}: uid 65532`)
        t.same(new Set(status.Uid?.split('\t')), new Set(['65532']), `${what}: real, effective, saved and fs uid all 65532`)
        t.same(new Set(status.Gid?.split('\t')), new Set(['65532']), `${what}: gids 65532`)
        for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) t.equal(status[set], '0000000000000000', `${what}: ${set} empty`)
        t.equal(status.NoNewPrivs, '1', `${what}: no_new_privs`)
        t.equal(status.Seccomp, '2', `${what}: seccomp filter (RuntimeDefault)`)
        t.match(root?.split(' ')[5] ?? '', /^ro\b/, `${what}: / mounted read-only (${root?.split(' ')[5]})`)
      }
    }
    const pod = pods[0]?.metadata.name ?? ''
    const inside = await kubectl([
      '-n', RUNGUARD_NAMESPACE, 'exec', pod, '-c', 'webhook', '--', 'node', '-e',
      `const fs = require('fs'); let root; try { fs.writeFileSync('/probe', 'x'); root = 'written' } catch (e) { root = e.code }
       fs.writeFileSync('/tmp/probe', 'x'); console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), root, tmp: fs.readFileSync('/tmp/probe', 'utf8') }))`,
    ])
    t.equal(inside.code, 0, inside.stderr)
    t.same(JSON.parse(inside.stdout), { uid: 65532, gid: 65532, root: 'EROFS', tmp: 'x' }, 'inside: uid/gid 65532, / is read-only (EROFS), /tmp (emptyDir) writable')
    t.comment(`figure: security: both containers of both pods uid/gid 65532, every capability set empty, no_new_privs, seccomp filter, / read-only (EROFS from inside)`)
  })

  t.test('cold start of a replica: pod created → webhook listening → Ready', async (t) => {
    const before = new Set((await runguard.waitReady(2)).map((p) => p.metadata.name))
    const scaleAt = Date.now()
    t.equal((await kubectl(['-n', RUNGUARD_NAMESPACE, 'scale', 'deployment/runguard', '--replicas=3'])).code, 0)
    let fresh: Pod | undefined
    let runningAt = 0
    let readyAt = 0
    while (Date.now() - scaleAt < 60_000 && readyAt === 0) {
      fresh = (await runguard.pods()).find((p) => !before.has(p.metadata.name))
      if (fresh && runningAt === 0 && container(fresh, 'webhook')?.state?.running) runningAt = Date.now()
      if (fresh && isReady(fresh)) readyAt = Date.now()
      await sleep(50)
    }
    t.ok(fresh && readyAt > 0, 'the third replica became Ready')
    const name = fresh?.metadata.name ?? ''
    const pid = await cluster.containerPid(container(fresh as Pod, 'webhook')?.containerID ?? '')
    const startedAt = processStartMs(pid)
    const logs = await kubectl(['-n', RUNGUARD_NAMESPACE, 'logs', name, '-c', 'webhook'])
    const listeningAt = Date.parse(logLine(logs.stdout, 'webhook server listening')?.time ?? '')
    t.ok(listeningAt > startedAt, 'webhook logged "listening" after its process started')
    // Floor: the same Node binary starting and exiting on the host, no container, no app.
    const floorRuns = [0, 1, 2].map(() => {
      const at = process.hrtime.bigint()
      spawnSync(join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node'), ['-e', '0'])
      return Number(process.hrtime.bigint() - at) / 1e6
    })
    const floor = Math.min(...floorRuns)
    t.comment(
      `figure: cold start: webhook process start → listening ${listeningAt - startedAt} ms (floor: node -e 0 on the host ${floor.toFixed(0)} ms); ` +
        `scale → container running ${runningAt - scaleAt} ms, → Ready ${readyAt - scaleAt} ms (readiness probe every 5 s)`,
    )
    t.equal((await kubectl(['-n', RUNGUARD_NAMESPACE, 'scale', 'deployment/runguard', '--replicas=2'])).code, 0)
    await runguard.waitReady(2, 90_000)
  })

  t.test('leader pod force-deleted: a cancel written right after is carried out within the Lease duration + one reconcile', async (t) => {
    await runguard.waitReady(2)
    const load = await startLoad(cp, { namespace: NS, writers: 4 })
    t.teardown(() => load.stop())
    await sleep(2_000)
    // Floor: the same cancel with a healthy leader.
    const floor = await createAndCancel('floor-cancel')
    const floorDone = await waitCancelled('floor-cancel', 30_000)
    t.ok(floorDone, 'a healthy leader cancels')
    const floorMs = (floorDone ?? 0) - floor.cancelWrittenAt

    let holder = ''
    for (const until = Date.now() + 30_000; holder === '' && Date.now() < until; await sleep(200)) holder = (await runguard.leaseHolder()) ?? ''
    const leader = holder.split('_')[0] ?? ''
    t.ok(leader !== '', `a leader (${holder})`)
    const deleteAt = Date.now()
    const del = await kubectl(['-n', RUNGUARD_NAMESPACE, 'delete', 'pod', leader, '--grace-period=0', '--force'])
    t.equal(del.code, 0, del.stderr)
    const written = await createAndCancel('failover-cancel')
    const done = await waitCancelled('failover-cancel', LEASE_DURATION_MS + 30_000)
    t.ok(done, 'the cancel was carried out')
    const cancelMs = (done ?? 0) - written.cancelWrittenAt
    let newHolder = ''
    while (Date.now() - deleteAt < 60_000) {
      newHolder = (await runguard.leaseHolder()) ?? ''
      if (newHolder !== '' && !newHolder.startsWith(`${leader}_`)) break
      await sleep(100)
    }
    const leaseMovedMs = Date.now() - deleteAt
    t.ok(newHolder !== '' && !newHolder.startsWith(`${leader}_`), `another pod leads (${newHolder})`)
    await runguard.waitReady(2, 90_000)
    const end = Date.now()
    await load.stop()
    const left = await load.uncancelled(LEASE_DURATION_MS + 30_000)
    const during = load.summary(deleteAt, end)
    t.comment(
      `figure: fail-over: leader ${leader} force-deleted; cancel written ${written.cancelWrittenAt - deleteAt} ms later (${written.attempts} attempt(s) for create + cancel), ` +
        `carried out ${cancelMs} ms after it was written (bound: Lease ${LEASE_DURATION_MS} ms + one reconcile; floor with a healthy leader ${floorMs} ms); Lease held by another pod after ${leaseMovedMs} ms`,
    )
    t.comment(`figure: fail-over load: ${describe(during)}; cycled runs ${load.cycled.length}, not Cancelled: ${left.length}`)
    t.ok(cancelMs <= LEASE_DURATION_MS + floorMs + 2_000, `cancel carried out in ${cancelMs} ms ≤ Lease duration + one reconcile (+2 s)`)
    t.same(left, [], 'nothing lost: every cancel accepted during the fail-over was carried out')
  })

  t.test('webhook container killed: restarted by the kubelet, out of the Service meanwhile, failurePolicy as documented', async (t) => {
    const pods = await runguard.waitReady(2)
    const victim = pods[0] as Pod
    const ip = victim.status?.podIP ?? ''
    const id = container(victim, 'webhook')?.containerID ?? ''
    const restartsBefore = container(victim, 'webhook')?.restartCount ?? 0
    const load = await startLoad(cp, { namespace: NS, writers: 4 })
    t.teardown(() => load.stop())
    await sleep(3_000)

    const killAt = Date.now()
    const kill = await cluster.ctr(cluster.nodes[0]!, ['tasks', 'kill', '--signal', 'SIGKILL', id.replace('containerd://', '')])
    t.equal(kill.code, 0, 'ctr tasks kill -s SIGKILL (the webhook process)')
    const seen: Record<string, number> = {}
    while (Date.now() - killAt < 90_000 && seen.readyAgain === undefined) {
      const pod = await getPod(victim.metadata.name)
      const c = pod && container(pod, 'webhook')
      const slices = await cp.request('GET', `/apis/discovery.k8s.io/v1/namespaces/${RUNGUARD_NAMESPACE}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Drunguard-webhook`)
      const endpoint = ((slices.body as { items?: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> }).items ?? [])
        .flatMap((s) => s.endpoints ?? [])
        .find((e) => e.addresses.includes(ip))
      const now = Date.now() - killAt
      if (pod && !isReady(pod)) seen.notReady ??= now
      if (endpoint?.conditions?.ready !== true) seen.outOfService ??= now
      if (c && c.restartCount > restartsBefore) seen.restarted ??= now
      if (seen.outOfService !== undefined && endpoint?.conditions?.ready === true) seen.backInService ??= now
      if (seen.notReady !== undefined && pod && isReady(pod)) seen.readyAgain ??= now
      await sleep(100)
    }
    t.ok(seen.notReady !== undefined, `the pod went not Ready (${seen.notReady} ms)`)
    t.ok(seen.outOfService !== undefined, `its endpoint left the runguard-webhook Service (${seen.outOfService} ms)`)
    t.ok(seen.restarted !== undefined, `the kubelet restarted the container (${seen.restarted} ms)`)
    t.ok(seen.readyAgain !== undefined, `Ready again (${seen.readyAgain} ms)`)
    await sleep(2_000)
    const end = Date.now()
    await load.stop()
    const during = load.summary(killAt, end)
    t.comment(
      `figure: webhook killed: pod not Ready after ${seen.notReady} ms, out of the Service after ${seen.outOfService} ms, container restarted after ${seen.restarted} ms, ` +
        `Ready again after ${seen.readyAgain} ms, back in the Service after ${seen.backInService} ms`,
    )
    t.comment(`figure: webhook killed, load: ${describe(during)}`)
    // README: people's run writes use failurePolicy Fail (refused with "failed calling webhook"
    // while runguard cannot answer, never admitted unjudged); the controllers' use Ignore.
    t.equal(during.byIdentity.person.unstamped, 0, 'no person write was admitted without runguard (failurePolicy Fail)')
    for (const error of Object.keys(during.errors)) t.match(error, /failed calling webhook/, `a refused write names the webhook call: ${error}`)
    t.equal(during.byIdentity.controller.failed, 0, "no controller write failed (failurePolicy Ignore for the controllers' identities)")
    await runguard.waitReady(2, 60_000)
  })

  t.test('graceful termination: preStop, then SIGTERM → drained exit; requests in flight at SIGTERM all answered', async (t) => {
    const pods = await runguard.waitReady(2)
    const victim = pods[1] as Pod
    const name = victim.metadata.name
    const ip = victim.status?.podIP ?? ''
    const webhookPid = await cluster.containerPid(container(victim, 'webhook')?.containerID ?? '')
    const reconcilerPid = await cluster.containerPid(container(victim, 'reconciler')?.containerID ?? '')
    const caFile = join(cluster.dir, 'runguard-ca.pem')
    writeFileSync(caFile, runguard.caPem)
    const out = join(cluster.dir, 'inflight.jsonl')

    // Everything the two containers log until they exit (kubectl logs -f ends with the container).
    const follow = (c: string) => {
      const child = spawn(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, '-n', RUNGUARD_NAMESPACE, 'logs', '-f', name, '-c', c], { stdio: ['ignore', 'pipe', 'ignore'] })
      let text = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      return { text: () => text, done: new Promise((r) => child.once('exit', r)), kill: () => child.kill() }
    }
    const webhookLog = follow('webhook')
    const reconcilerLog = follow('reconciler')
    t.teardown(() => {
      webhookLog.kill()
      reconcilerLog.kill()
    })
    const client = spawn('nsenter', [`--net=${cluster.netnsPath}`, '--', join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node'), join(REPO_ROOT, 'test', 'node', 'inflight-client.mjs'), ip, '8443', caFile, WEBHOOK_SERVICE_DNS, '8', '60000', out], { stdio: 'ignore' })
    const clientDone = new Promise((r) => client.once('exit', r))
    t.teardown(() => client.kill())
    const exitOf = (pid: number) =>
      (async () => {
        for (;;) {
          try {
            process.kill(pid, 0)
          } catch {
            return Date.now()
          }
          await sleep(5)
        }
      })()
    const webhookExit = exitOf(webhookPid)
    const reconcilerExit = exitOf(reconcilerPid)
    let exitCodes: Record<string, number | undefined> = {}
    await sleep(2_000)

    const deleteAt = Date.now()
    t.equal((await kubectl(['-n', RUNGUARD_NAMESPACE, 'delete', 'pod', name, '--wait=false'])).code, 0)
    const watchCodes = (async () => {
      for (;;) {
        const pod = await getPod(name)
        if (!pod) return
        for (const c of pod.status?.containerStatuses ?? []) if (c.state?.terminated) exitCodes = { ...exitCodes, [c.name]: c.state.terminated.exitCode }
        await sleep(100)
      }
    })()
    const webhookExitAt = await Promise.race([webhookExit, sleep(60_000).then(() => 0)])
    const reconcilerExitAt = await Promise.race([reconcilerExit, sleep(60_000).then(() => 0)])
    await Promise.race([Promise.all([webhookLog.done, reconcilerLog.done, clientDone, watchCodes]), sleep(30_000)])
    client.kill('SIGTERM')
    await clientDone

    const sigterm = Date.parse(logLine(webhookLog.text(), 'shutting down')?.time ?? '')
    const reconcilerSigterm = Date.parse(logLine(reconcilerLog.text(), 'shutting down')?.time ?? '')
    t.ok(sigterm > 0, 'the webhook logged SIGTERM ("shutting down: draining in-flight admission requests")')
    t.ok(webhookExitAt > 0, 'the webhook process exited')
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { start: number; end: number; status: number; allowed?: boolean; error?: string; close?: boolean })
    const inFlight = records.filter((r) => r.start <= sigterm && r.end >= sigterm)
    const after = records.filter((r) => r.start > sigterm)
    const outcome = (rs: typeof records): Record<string, number> =>
      rs.reduce<Record<string, number>>((acc, r) => {
        const key = r.error ?? `HTTP ${r.status}${r.allowed === true ? ' allowed' : ''}`
        acc[key] = (acc[key] ?? 0) + 1
        return acc
      }, {})
    t.ok(records.filter((r) => r.end < deleteAt).length > 50, 'the client had requests answered before the delete')
    t.ok(inFlight.length > 0, `requests were in flight at SIGTERM (${inFlight.length})`)
    // Every request in flight at SIGTERM gets its answer: the lame duck keeps serving and closes a
    // connection only after answering on it, so none may be reset or answered 503.
    t.same(outcome(inFlight), { 'HTTP 200 allowed': inFlight.length }, `every request in flight at SIGTERM got 200, allowed (${inFlight.length})`)
    t.ok(sigterm - deleteAt >= 4_500, `preStop (sleep 5 s) ran before SIGTERM: ${sigterm - deleteAt} ms`)
    t.ok(webhookExitAt - sigterm < 25_000, 'drained within the 25 s the server allows itself')
    t.equal(exitCodes.webhook, 0, 'the webhook exited 0')
    t.equal(exitCodes.reconciler, 0, 'the reconciler exited 0')
    t.comment(
      `figure: graceful: delete → SIGTERM ${sigterm - deleteAt} ms (preStop sleep 5 s); webhook SIGTERM → exit ${webhookExitAt - sigterm} ms (exit ${exitCodes.webhook}); ` +
        `reconciler SIGTERM → exit ${reconcilerExitAt - reconcilerSigterm} ms (exit ${exitCodes.reconciler}, no preStop: SIGTERM at delete +${reconcilerSigterm - deleteAt} ms)`,
    )
    t.comment(
      `figure: graceful: direct client, 8 keep-alive connections to the pod: ${records.length} requests; in flight at SIGTERM ${inFlight.length}: ${JSON.stringify(outcome(inFlight))}; ` +
        `sent after SIGTERM: ${JSON.stringify(outcome(after))}; ${secs(webhookExitAt - deleteAt)} from delete to exit`,
    )
    await runguard.waitReady(2, 90_000)
  })
}

/** A process's start time (ms since the epoch): /proc/<pid>/stat's start (clock ticks since boot) against /proc/uptime. */
function processStartMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const startTicks = Number(fields[19]) // field 22 of stat, counted from after the command name
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  const now = Date.now()
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
  return now - (uptimeSeconds - startTicks / ticksPerSecond) * 1000
}

/** The first pino JSON line whose msg contains `text`. */
function logLine(text: string, message: string): { time?: string; msg?: string } | undefined {
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { time?: string; msg?: string }
      if (entry.msg?.includes(message)) return entry
    } catch {
      // not JSON
    }
  }
  return undefined
}
