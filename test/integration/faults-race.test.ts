/**
 * Issue 14, faults on the real control plane: a status writer racing the reconciler on 100 runs.
 * A plain client acting as upstream's Agents controller (its identity, a controller user per
 * RUNGUARD_CONTROLLER_USERS — see src/admission/writers.ts) merge-patches `phase: Succeeded` (with
 * a stale `startedAt` and its own `finishedAt`, as upstream does on Job success) while each run is
 * being cancelled and runguard's reconciler (as runguard's own ServiceAccount) writes `Cancelled`.
 * The runguard webhook is installed: it is what keeps a controller from leaving a terminal phase.
 *
 * A watch records every event on the runs from before the race. For every run:
 * - it ends in one terminal phase, and once a terminal phase is seen no later event shows another;
 * - `startedAt` never moves; `finishedAt`, once set, never moves;
 * - the Agents controller's writes are repaired, never refused (SPEC §2 Writers).
 * Orders and offsets come from a fixed seed, printed, so a failure replays.
 */
import { join } from 'node:path'
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { installRunguard, RUNGUARD_NAMESPACE } from '../harness/runguard.ts'
import { listResourceVersion, listRuns, makeRunningRuns, newestResourceVersion, recordWatch, seededRandom, shuffled } from './faults-common.ts'
import { cancel, condition, get, jobPath, mapLimit, metricValue, prepareCluster, runPath, sleep, startReconcilerProcess, waitForLeader } from './reconcile-harness.ts'

const NS = 'faults-race'
const RUNS = 100
const SEED = Number(process.env.FAULTS_RACE_SEED ?? 14)
const AGENTS_USER = 'system:serviceaccount:agents:agents-sa'
const RUNGUARD_USER = `system:serviceaccount:${RUNGUARD_NAMESPACE}:runguard`
const TERMINAL = new Set(['Succeeded', 'Failed', 'Cancelled'])
const testStarted = Date.now()

const cp = await startControlPlaneForTest(t)
const webhook = await installRunguard(cp, { env: { RUNGUARD_CONTROLLER_USERS: AGENTS_USER } })
t.teardown(() => webhook.stop())
await prepareCluster(cp, [NS])
// The reconciler writes as runguard's own ServiceAccount (a controller identity by default); the
// group gives it RBAC without installing the chart's roles.
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-race',
  kubeconfigPath: await cp.writeKubeconfig(join(cp.workDir, 'reconciler-race.kubeconfig'), { user: { commonName: RUNGUARD_USER, organizations: ['system:masters'] } }),
  env: { AGENTS_CONTROLLER_NAMESPACES: NS, AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '60000' },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler], 60_000)
const agentsController = await cp.issueClientCertificate({ commonName: AGENTS_USER, organizations: ['system:masters'] })

t.test(`${RUNS} runs: the Agents controller writes Succeeded while runguard writes Cancelled (seed ${SEED})`, async (t) => {
  const runs = await makeRunningRuns(cp, NS, 'race', RUNS)
  const collection = runPath('AgentRun', NS)
  const startRv = await listResourceVersion(cp, collection)
  const before = new Map((await listRuns(cp, NS, 'race')).map((o) => [o.metadata.name, o]))
  t.ok([...before.values()].every((o) => o.status?.phase === 'Running' && o.status.startedAt), 'all Running, startedAt stamped')
  const watch = recordWatch(cp, collection, startRv)
  t.teardown(() => watch.stop())

  const random = seededRandom(SEED)
  const order = shuffled(runs, random)
  // Milliseconds the Succeeded write trails the cancel (negative: it goes first). runguard needs a
  // watch event, a Job delete and a status write to finish a cancel, so most writes trail it, by
  // about that much, for both outcomes to be common.
  // How each run's Succeeded write meets runguard's cancel, drawn from the seed:
  // - together: at about the same time as the cancel request (±100 ms);
  // - mid-pass: as soon as runguard has deleted the Job, i.e. between its Job delete and its
  //   status write (that write then carries a stale resourceVersion);
  // - after: once the run is Cancelled — an attempt to resurrect a terminal run.
  const modes = order.map(() => (['together', 'mid-pass', 'after'] as const)[Math.floor(random() * 3)]!)
  const offsets = order.map(() => Math.floor(random() * 200) - 100)
  // Upstream overwrites startedAt with the Job's startTime on success: an older value than ours.
  const staleStartedAt = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z')
  const writerAnswers: number[] = []
  const raceStarted = Date.now()
  await mapLimit(order, 25, async (run, i) => {
    const mode = modes[i]!
    const offset = offsets[i]!
    const runUrl = runPath('AgentRun', NS, run.name)
    const writeSucceeded = async (): Promise<void> => {
      if (mode === 'together' && offset > 0) await sleep(offset)
      if (mode === 'mid-pass') {
        await waitUntil(`${run.name}-job deleted`, { timeoutMs: 30_000, intervalMs: 10 }, async () => {
          const job = await get(cp, jobPath(NS, `${run.name}-job`))
          return job === undefined || job.metadata.deletionTimestamp !== undefined ? true : undefined
        })
      }
      if (mode === 'after') await waitUntil(`${run.name} Cancelled`, { timeoutMs: 30_000, intervalMs: 20 }, async () => ((await get(cp, runUrl))?.status?.phase === 'Cancelled' ? true : undefined))
      const r = await cp.requestAs(agentsController, 'PATCH', `${runUrl}/status`, {
        status: { phase: 'Succeeded', startedAt: staleStartedAt, finishedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      }, { contentType: 'application/merge-patch+json' })
      writerAnswers.push(r.status)
    }
    const requestCancel = async (): Promise<void> => {
      if (mode === 'together' && offset < 0) await sleep(-offset)
      await cancel(cp, runUrl)
    }
    await Promise.all([writeSucceeded(), requestCancel()])
  })
  t.comment(`modes: ${['together', 'mid-pass', 'after'].map((m) => `${m} ${modes.filter((x) => x === m).length}`).join(', ')}`)
  t.comment(`race issued in ${Date.now() - raceStarted} ms`)
  t.same(writerAnswers.filter((s) => s !== 200), [], 'every write of the Agents controller admitted (repaired, never refused)')

  // Settled: every run terminal, and runguard has answered every cancel (Cancelled=True, or
  // Cancelled=False AlreadyTerminal when Succeeded came first).
  const settled = await waitUntil('every run terminal with its cancel answered', { timeoutMs: 60_000, intervalMs: 250 }, async () => {
    const list = await listRuns(cp, NS, 'race')
    return list.length === RUNS && list.every((o) => TERMINAL.has(o.status?.phase ?? '') && condition(o, 'Cancelled') !== undefined && condition(o, 'Cancelled')?.status !== 'Unknown') ? list : undefined
  })
  await watch.caughtUp(newestResourceVersion(settled))
  const phases = settled.map((o) => o.status?.phase)
  const cancelled = phases.filter((p) => p === 'Cancelled').length
  const succeeded = phases.filter((p) => p === 'Succeeded').length
  t.comment(`settled ${Date.now() - raceStarted} ms after the race began: ${cancelled} Cancelled, ${succeeded} Succeeded; ${watch.events.length} watch events`)
  t.equal(cancelled + succeeded, RUNS, 'every run ends Cancelled or Succeeded')
  const wrongReasons = settled.flatMap((o) => {
    const reason = condition(o, 'Cancelled')?.reason
    const expected = o.status?.phase === 'Cancelled' ? 'CancelRequested' : 'AlreadyTerminal'
    return reason === expected ? [] : [`${o.metadata.name}: ${o.status?.phase} with Cancelled reason ${reason}`]
  })
  t.same(wrongReasons, [], 'Cancelled runs say CancelRequested; runs that Succeeded first say AlreadyTerminal (the cancel was a no-op)')
  const cancelledByMode = (mode: string) => order.filter((_, i) => modes[i] === mode).filter((r) => settled.find((o) => o.metadata.name === r.name)?.status?.phase === 'Cancelled').length
  t.comment(`Cancelled per mode: together ${cancelledByMode('together')}, mid-pass ${cancelledByMode('mid-pass')}, after ${cancelledByMode('after')}`)
  t.equal(cancelledByMode('after'), modes.filter((m) => m === 'after').length, 'a Succeeded write on a Cancelled run never resurrects it')

  // The history, run by run. A timestamp "moves" when its instant does: rule 6 compares instants
  // (as the status policy's CEL does), so a controller's write of runguard's stamp
  // 16:13:55.000Z as 16:13:55Z is admitted as the same time (seen once in a CI run), while
  // anything else — absent, unparsable, another instant — still counts as moved. Compared to the
  // millisecond: no writer in this test writes finer.
  const sameTime = (a: unknown, b: unknown): boolean =>
    a === b || (typeof a === 'string' && typeof b === 'string' && !Number.isNaN(Date.parse(a)) && Date.parse(a) === Date.parse(b))
  const problems: string[] = []
  for (const [name, initial] of before) {
    const history = watch.events.filter((e) => e.object.metadata.name === name)
    let terminal: string | undefined
    let finishedAt: string | undefined
    const phasesSeen: string[] = []
    for (const event of history) {
      const status = event.object.status ?? {}
      const phase = status.phase ?? '(none)'
      if (phasesSeen.at(-1) !== phase) phasesSeen.push(phase)
      if (terminal !== undefined && phase !== terminal) problems.push(`${name}: terminal phase ${terminal} changed to ${phase} (rv ${event.object.metadata.resourceVersion})`)
      if (terminal === undefined && TERMINAL.has(phase)) terminal = phase
      if (!sameTime(status.startedAt, initial.status?.startedAt)) problems.push(`${name}: startedAt moved ${initial.status?.startedAt} → ${status.startedAt}`)
      if (finishedAt !== undefined && !sameTime(status.finishedAt, finishedAt)) problems.push(`${name}: finishedAt moved ${finishedAt} → ${status.finishedAt}`)
      finishedAt ??= status.finishedAt
    }
    if (terminal === undefined) problems.push(`${name}: no terminal phase seen in ${history.length} events`)
    else if (finishedAt === undefined) problems.push(`${name}: terminal without finishedAt`)
    if (phasesSeen.filter((p) => TERMINAL.has(p)).length > 1) problems.push(`${name}: phases seen ${phasesSeen.join(' → ')}`)
  }
  t.same(problems, [], 'no terminal phase ever changes; startedAt and finishedAt never move (every event of every run)')

  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'controller_runtime_reconcile_errors_total', { controller: 'agentrun' }) ?? 0, 0, 'no reconcile errors: the race costs conflicts, not failures')
  t.comment(`reconciler conflicts retried: ${metricValue(text, 'controller_runtime_reconcile_total', { controller: 'agentrun', result: 'conflict' }) ?? 0}`)
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
