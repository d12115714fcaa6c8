/**
 * The webhook where users feel it (issue 13, goal 6) — `npm run bench:webhook-cost`.
 *
 * On one real control plane, in one run, status-write throughput through the API server with:
 *   none         no admission webhook, no policy
 *   floor        a bare Fastify webhook (bench/floor-server.ts, answers "allowed") registered with
 *                runguard's rules and writer split but no status-write matchConditions: what any
 *                webhook called on every status write costs (an HTTPS call per webhook the write
 *                meets: two for a person's status write, one for a controller's)
 *   unfiltered   runguard as it was before the status-write matchConditions (its status policy too)
 *   runguard     runguard as shipped: webhooks/ rendered by renderAdmission, status policy included
 *   structure    the same configurations and policy with every webhook's own condition `false`:
 *                what the writer split and the policy cost the API server when runguard is never called
 *   policy       a ValidatingAdmissionPolicy implementing the CEL-expressible status rules (6, 7,
 *                8, 9's phase and order), no webhook
 * The workload: BENCH_WRITERS (16) status writers, each on its own keep-alive connection and its
 * own AgentRun, half as a person (the admin) and half as upstream's controller ServiceAccount
 * (impersonated), making upstream-like writes — conditions updated, observedGeneration, updatedAt
 * set by the writer — back to back, in BENCH_SECONDS (10) slices, BENCH_ROUNDS (8) per case, each
 * slice of a case between two no-webhook slices so that drift on a shared machine is compared
 * away. Beside each case, the API server's own admission metrics for the same intervals.
 *
 * Then memory: BENCH_RSS_REQUESTS (100 000) admission requests straight to the runguard webhook
 * process and the same to the floor process (same bodies, same node flags as the image), and the
 * RSS of each after.
 *
 * Writes its section of BENCHMARKS.md (BENCH_OUT), keeping every other section as it is.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request as httpsRequest } from 'node:https'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import autocannon from 'autocannon'
import ts from 'typescript'
import type { MatchCondition, WebhookDefinition } from '../src/admission/definition.ts'
import { renderAdmission, renderStatusPolicy, STATUS_POLICY_RULES, writerIdentities, type RenderOptions } from '../src/admission/manifests.ts'
import { writeCertificateBundle } from '../src/certs/write.ts'
import { loadConfig } from '../src/config.ts'
import type { Condition } from '../src/kube/objects.ts'
import { phasesOf, RUN_KINDS } from '../src/kube/run-kinds.ts'
import { freePorts, startControlPlane, type ControlPlane } from '../test/harness/controlplane.ts'
import { imageEnv, imageNodeFlags } from '../test/harness/image-runtime.ts'
import { CONTROLLER_USER, grantControllerIdentity } from '../test/harness/load.ts'
import { installCrds, RUNGUARD_NAMESPACE, waitForHttpReady } from '../test/harness/runguard.ts'
import { agentRun as reviewRun, reviewFor, statusWrite } from '../test/helpers/reviews.ts'
import { EXCLUDED_NAMESPACES, WEBHOOKS } from '../webhooks/index.ts'
import { writeSection } from './report.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)
const RSS_REQUESTS = Number(process.env.BENCH_RSS_REQUESTS ?? 100_000)
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
const SECTION = '## The webhook where users feel it (issue 13)'
const REPO = resolve(import.meta.dirname, '..')
const NS = 'bench'
const RUNS = `/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns`
const CONTROLLER_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated']
/** The image runs node with these (Dockerfile NODE_OPTIONS); both webhook processes get them. */
const NODE_FLAGS = imageNodeFlags()
const STATUS_CONDITION = /^status-write-/
/** BENCH_PROFILE_DIR: also take a CPU profile of kube-apiserver (its /debug/pprof) during each case's first slice. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR

const log = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// --- processes ------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'runguard-webhook-cost-'))
const children: ChildProcess[] = []
let controlPlane: ControlPlane | undefined
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

/** Production runs the compiled output (see Dockerfile), so that is what is measured. */
function build(): void {
  const result = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (result.status !== 0) throw new Error('tsc -p tsconfig.build.json failed')
  // The floor compiled the same way, so neither process pays for Node's TypeScript loader.
  const source = readFileSync(join(REPO, 'bench/floor-server.ts'), 'utf8')
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, rewriteRelativeImportExtensions: true } }).outputText
  mkdirSync(join(REPO, 'dist/bench'), { recursive: true })
  writeFileSync(join(REPO, 'dist/bench/floor-server.js'), js)
}

/** A CPU profile of kube-apiserver over `seconds`, written to PROFILE_DIR/<name>.pprof (read it with `go tool pprof`). */
function profileApiServer(cp: ControlPlane, name: string, seconds: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      { host: cp.host, port: cp.ports.apiServer, path: `/debug/pprof/profile?seconds=${seconds}`, ca: cp.caPem, cert: cp.adminCertificate.certPem, key: cp.adminCertificate.keyPem },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`pprof: HTTP ${res.statusCode}`))
          writeFileSync(join(PROFILE_DIR ?? '.', `${name}.pprof`), Buffer.concat(chunks))
          resolvePromise()
        })
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    // Fields after the command (which may hold spaces), counted from its closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ
  } catch {
    return 0
  }
}

function rss(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 }
}

async function waitForLine(child: ChildProcess, text: string): Promise<void> {
  await new Promise<void>((resolveReady, reject) => {
    let seen = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      seen += chunk
      if (seen.includes(text)) resolveReady()
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${text}`)))
  })
}

// --- the API server -------------------------------------------------------------------------

interface Answer {
  status: number
  body: { message?: string; metadata?: { resourceVersion?: string } }
}

type Identity = 'person' | 'controller'

async function apiCall(cp: ControlPlane, agent: Agent | false, method: string, path: string, body: unknown, identity: Identity): Promise<Answer> {
  const answer = await cp.request(method, path, body, {
    timeoutMs: 30_000,
    contentType: method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
    ...(agent ? { agent } : {}),
    ...(identity === 'controller' ? { headers: { 'Impersonate-User': CONTROLLER_USER, 'Impersonate-Group': CONTROLLER_GROUPS } } : {}),
  })
  return { status: answer.status, body: typeof answer.body === 'object' && answer.body !== null ? (answer.body as Answer['body']) : { message: answer.text } }
}

/** Prometheus text → value by `name{labels}` (labels as the API server prints them). */
async function scrape(cp: ControlPlane): Promise<Map<string, number>> {
  const response = await cp.request('GET', '/metrics', undefined, { timeoutMs: 30_000 })
  const samples = new Map<string, number>()
  for (const line of response.text.split('\n')) {
    if (!line.startsWith('apiserver_admission')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

interface Family {
  /** label set (as printed) → count and sum deltas */
  [labels: string]: { count: number; sum: number }
}

/** Histogram deltas of `name` between two scrapes, grouped by the labels `keep` names. */
function histogramDelta(before: Map<string, number>, after: Map<string, number>, name: string, keep: string[]): Family {
  const family: Family = {}
  for (const [key, value] of after) {
    const match = new RegExp(`^${name}_(count|sum)\\{(.*)\\}$`).exec(key)
    if (!match) continue
    const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    const group = keep.map((k) => `${k}=${labels[k] ?? ''}`).join(',')
    const entry = (family[group] ??= { count: 0, sum: 0 })
    const delta = value - (before.get(key) ?? 0)
    if (match[1] === 'count') entry.count += delta
    else entry.sum += delta
  }
  for (const [group, entry] of Object.entries(family)) if (entry.count === 0) delete family[group]
  return family
}

/** The change of every series of `name` (a counter, or a histogram's `_sum`), added up. */
function sumDelta(before: Map<string, number>, after: Map<string, number>, name: string): number {
  return counterDelta(before, after, name)
}

function counterDelta(before: Map<string, number>, after: Map<string, number>, name: string): number {
  let total = 0
  for (const [key, value] of after) if (key.startsWith(`${name}{`) || key === name) total += value - (before.get(key) ?? 0)
  return total
}

// --- the cases ------------------------------------------------------------------------------

type CaseName = 'none' | 'floor' | 'unfiltered' | 'runguard' | 'structure' | 'policy'

interface Setup {
  name: CaseName
  describe: string
  objects: object[]
  /** The probe's verdict once this setup is in force. */
  ready(probe: ProbeResult): boolean
}

interface ProbeResult {
  status: number
  message: string
  webhookCalls: number
}

/**
 * The webhook's own matchConditions replaced by one that is always false: the API server still
 * matches every write against the webhook and evaluates its conditions, but never calls it.
 */
const neverCalled = (definition: WebhookDefinition): WebhookDefinition => ({ ...definition, matchConditions: [{ name: 'never', expression: 'false' }] })

const withoutStatusConditions = (definition: WebhookDefinition): WebhookDefinition => ({
  ...definition,
  matchConditions: (definition.matchConditions ?? []).filter((c: MatchCondition) => !STATUS_CONDITION.test(c.name)),
})

/**
 * The CEL-expressible status rules as one policy (validation only: a policy cannot repair a
 * controller's write or stamp a timestamp, so rules 10–12 and the repairs have no counterpart):
 * the shipped backstop's rules 6, 7 and 8 (decrease), plus rule 8's upper bound, rule 9's phase
 * list and finishedAt not before startedAt, each ratcheted as the webhook ratchets them.
 */
function statusRulesPolicy(options: RenderOptions): object[] {
  const phases = [...new Set(RUN_KINDS.flatMap((kind) => phasesOf(kind.kind)))].map((p) => `'${p}'`).join(', ')
  const has = (object: string, field: string) => `has(${object}.status) && has(${object}.status.${field})`
  return renderStatusPolicy({ ...options, namePrefix: 'runguard-bench' }, [
    ...STATUS_POLICY_RULES,
    {
      expression: `!(${has('object', 'observedGeneration')}) || object.status.observedGeneration <= object.metadata.generation || (${has('oldObject', 'observedGeneration')} && object.status.observedGeneration == oldObject.status.observedGeneration)`,
      message: 'status.observedGeneration may not exceed metadata.generation',
    },
    {
      expression: `!(${has('object', 'phase')}) || object.status.phase in [${phases}] || (${has('oldObject', 'phase')} && object.status.phase == oldObject.status.phase)`,
      message: 'status.phase is not a phase of these runs',
    },
    {
      expression:
        `!(${has('object', 'startedAt')} && ${has('object', 'finishedAt')}) || object.status.finishedAt >= object.status.startedAt` +
        ` || (${has('oldObject', 'startedAt')} && ${has('oldObject', 'finishedAt')} && object.status.startedAt == oldObject.status.startedAt && object.status.finishedAt == oldObject.status.finishedAt)`,
      message: 'status.finishedAt may not precede status.startedAt',
    },
  ])
}

function setups(runguardPort: number, floorPort: number, caPem: string): Record<CaseName, Setup> {
  const identities = writerIdentities(loadConfig({ RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE }))
  const options = (port: number): RenderOptions => ({
    target: { url: `https://127.0.0.1:${port}`, caBundlePem: caPem },
    excludedNamespaces: [...EXCLUDED_NAMESPACES, RUNGUARD_NAMESPACE],
    ...identities,
  })
  const floorDefinitions = WEBHOOKS.map(withoutStatusConditions).map((d) => ({ ...d, name: `floor.${d.name}` }))
  const webhookConfigurations = (objects: object[]) => objects.filter((o) => (o as { kind: string }).kind.endsWith('WebhookConfiguration'))
  const deniedBy = (probe: ProbeResult, text: string) => probe.status === 422 && probe.message.includes(text)
  return {
    none: { name: 'none', describe: 'no webhook', objects: [], ready: (p) => p.status === 200 && p.webhookCalls === 0 },
    floor: {
      name: 'floor',
      describe: 'bare Fastify webhook, called on every write',
      objects: webhookConfigurations(renderAdmission(floorDefinitions, { ...options(floorPort), namePrefix: 'runguard-floor' })),
      ready: (p) => p.status === 200 && p.webhookCalls >= 2,
    },
    unfiltered: {
      name: 'unfiltered',
      describe: 'runguard without the status-write matchConditions (before)',
      objects: renderAdmission(WEBHOOKS.map(withoutStatusConditions), options(runguardPort)),
      ready: (p) => deniedBy(p, 'admission webhook "mutate.runguard'),
    },
    runguard: {
      name: 'runguard',
      describe: 'runguard as shipped',
      objects: renderAdmission(WEBHOOKS, options(runguardPort)),
      ready: (p) => deniedBy(p, 'admission webhook "mutate.runguard'),
    },
    structure: {
      name: 'structure',
      describe: "runguard's webhooks and status policy, every webhook's own condition replaced by `false`",
      objects: renderAdmission(WEBHOOKS.map(neverCalled), options(runguardPort)),
      ready: (p) => p.webhookCalls === 0 && deniedBy(p, "ValidatingAdmissionPolicy 'runguard-status-invariants'"),
    },
    policy: {
      name: 'policy',
      describe: 'ValidatingAdmissionPolicy with the CEL-expressible rules',
      objects: statusRulesPolicy(options(runguardPort)),
      ready: (p) => deniedBy(p, "ValidatingAdmissionPolicy 'runguard-bench-status-invariants'"),
    },
  }
}

const ADMISSION_KINDS = 'mutatingwebhookconfigurations,validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings'

/** Replaces whatever admission objects are installed with `setup`'s and waits until the API server enforces them. */
async function install(cp: ControlPlane, setup: Setup, probeRun: string): Promise<void> {
  await cp.kubectl(['delete', ADMISSION_KINDS, '-l', 'app.kubernetes.io/part-of=runguard', '--ignore-not-found', '--wait'])
  if (setup.objects.length > 0) await cp.apply(setup.objects)
  const deadline = Date.now() + 120_000
  // A person lowering observedGeneration (a dry run): admitted without admission, refused by runguard or the policy.
  for (;;) {
    const before = await scrape(cp)
    const answer = await apiCall(cp, false, 'PATCH', `${RUNS}/${probeRun}/status?dryRun=All`, { status: { observedGeneration: 0, message: 'probe' } }, 'person')
    const after = await scrape(cp)
    const webhookCalls = Object.values(histogramDelta(before, after, 'apiserver_admission_webhook_admission_duration_seconds', ['name'])).reduce((n, e) => n + e.count, 0)
    const probe = { status: answer.status, message: answer.body.message ?? '', webhookCalls }
    if (setup.ready(probe)) return
    if (Date.now() > deadline) throw new Error(`${setup.name}: not in force after 120 s (last probe: ${JSON.stringify(probe)})`)
    await sleep(250)
  }
}

// --- the workload ---------------------------------------------------------------------------

const STARTED_AT = '2026-01-01T00:00:00.000Z'

function conditions(step: number): Condition[] {
  return [
    { type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: STARTED_AT },
    { type: 'InProgress', status: 'True', reason: 'Running', message: `step ${step} of the workflow`, lastTransitionTime: STARTED_AT },
  ]
}

interface Measured {
  writes: number
  failed: number
  errors: Map<string, number>
  latencies: number[]
  seconds: number
}

/** WRITERS writers, each on its own run and keep-alive connection, for `seconds`. */
async function writeStatuses(cp: ControlPlane, runs: string[], seconds: number): Promise<Measured> {
  const measured: Measured = { writes: 0, failed: 0, errors: new Map(), latencies: [], seconds }
  const until = Date.now() + seconds * 1000
  await Promise.all(
    runs.map(async (name, i) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const identity: Identity = i % 2 === 0 ? 'person' : 'controller'
      let last = 0
      let step = 0
      try {
        while (Date.now() < until) {
          // The writer's own clock, strictly increasing per run: upstream writes new Date().toISOString().
          last = Math.max(Date.now(), last + 1)
          step++
          const status = { observedGeneration: 1, conditions: conditions(step), updatedAt: new Date(last).toISOString() }
          const start = performance.now()
          const answer = await apiCall(cp, agent, 'PATCH', `${RUNS}/${name}/status`, { status }, identity).catch((error: Error) => ({ status: 0, body: { message: error.message } }))
          measured.latencies.push(performance.now() - start)
          if (answer.status === 200) measured.writes++
          else {
            measured.failed++
            const key = `HTTP ${answer.status}: ${(answer.body.message ?? '').slice(0, 160)}`
            measured.errors.set(key, (measured.errors.get(key) ?? 0) + 1)
          }
        }
      } finally {
        agent.destroy()
      }
    }),
  )
  return measured
}

interface CaseResult {
  name: CaseName
  round: number
  measured: Measured
  /** Per webhook name: calls and mean ms, from apiserver_admission_webhook_admission_duration_seconds. */
  webhooks: Family
  /** apiserver_admission_step_admission_duration_seconds for UPDATE, per step type (admit, validate). */
  steps: Family
  exclusions: number
  /** Seconds the API server spent evaluating matchConditions (every webhook's, and the policies'). */
  matchConditionSeconds: number
  /** CPU seconds of the serving side over the slice: kube-apiserver, etcd and both webhook processes. */
  serverCpuSeconds: number
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

// --- memory ---------------------------------------------------------------------------------

interface Body {
  path: string
  body: string
}

function rssBodies(): Body[] {
  const stored = reviewRun('bench-status', {}, { status: { phase: 'Running', startedAt: STARTED_AT, updatedAt: STARTED_AT, observedGeneration: 1, conditions: conditions(1) } })
  const upstreamLike = { ...(stored.status as object), conditions: conditions(2), updatedAt: '2026-01-01T00:00:01.000Z' }
  const identities = { username: CONTROLLER_USER, groups: CONTROLLER_GROUPS }
  return [
    { path: '/mutate', body: JSON.stringify(statusWrite(stored, upstreamLike, identities)) },
    { path: '/validate', body: JSON.stringify(statusWrite(stored, upstreamLike, identities)) },
    { path: '/mutate', body: JSON.stringify(statusWrite(stored, { ...upstreamLike, phase: 'Succeeded', updatedAt: undefined })) },
    { path: '/validate', body: JSON.stringify(reviewFor(reviewRun('bench-create'))) },
  ]
}

async function hammer(port: number, bodies: Body[], total: number): Promise<number> {
  let errors = 0
  for (const { path, body } of bodies) {
    const result = await autocannon({
      url: `https://127.0.0.1:${port}${path}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      connections: 16,
      amount: Math.ceil(total / bodies.length),
    })
    errors += result.errors + result.non2xx
  }
  return errors
}

// --- the run --------------------------------------------------------------------------------

async function main(): Promise<void> {
  log('building dist/ (production runs the compiled output)')
  build()
  log('starting the control plane')
  const cp = await startControlPlane({ controllerManager: false, log })
  controlPlane = cp
  await installCrds(cp)
  await cp.kubectl(['create', 'namespace', NS])
  await cp.kubectl(['create', 'namespace', RUNGUARD_NAMESPACE])
  await grantControllerIdentity(cp)

  const certs = await writeCertificateBundle(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const [runguardPort = 0, metricsPort = 0, floorPort = 0] = await freePorts(3)
  const runguard = spawn(
    process.execPath,
    [...NODE_FLAGS, join(REPO, 'dist/src/cli.js'), 'webhook', '--port', String(runguardPort), '--host', '127.0.0.1', '--tls-cert', certs.certPath, '--tls-key', certs.keyPath, '--metrics-port', String(metricsPort), '--kubeconfig', cp.kubeconfigPath],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...imageEnv(), PATH: process.env.PATH ?? '', RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE, RUNGUARD_POD_NAME: 'runguard-webhook-0' } },
  )
  const floor = spawn(process.execPath, [...NODE_FLAGS, join(REPO, 'dist/bench/floor-server.js'), String(floorPort), certs.certPath, certs.keyPath], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...imageEnv() } })
  children.push(runguard, floor)
  await waitForHttpReady(metricsPort, 'runguard webhook')
  await waitForLine(floor, 'ready')

  // One AgentRun per writer with an upstream-like stored status, and one for the readiness probe.
  const runs = Array.from({ length: WRITERS }, (_, i) => `writer-${i}`)
  for (const name of [...runs, 'probe']) {
    const created = await apiCall(cp, false, 'POST', RUNS, { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name }, spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'bench' }, runtime: { type: 'job' } } }, 'person')
    if (created.status !== 201) throw new Error(`create ${name}: HTTP ${created.status} ${created.body.message ?? ''}`)
    const status = { phase: 'Running', startedAt: STARTED_AT, updatedAt: STARTED_AT, observedGeneration: 1, conditions: conditions(0) }
    const set = await apiCall(cp, false, 'PATCH', `${RUNS}/${name}/status`, { status }, 'person')
    if (set.status !== 200) throw new Error(`status of ${name}: HTTP ${set.status} ${set.body.message ?? ''}`)
  }

  const all = setups(runguardPort, floorPort, certs.caPem)
  const order: CaseName[] = ['none', 'floor', 'unfiltered', 'runguard', 'structure', 'policy']
  log('warm-up: 5 s of writes with no webhook and 5 s with runguard')
  for (const name of ['none', 'runguard'] as const) {
    await install(cp, all[name], 'probe')
    await writeStatuses(cp, runs, 5)
  }

  // Each case between two no-webhook slices (none, floor, none, unfiltered, none, …), its order
  // reversed every other round: the load of the other jobs on this machine drifts within a minute,
  // so each case is compared with the no-webhook throughput measured just before and just after it.
  const schedule: Array<{ name: CaseName; round: number }> = []
  const cases = order.filter((name) => name !== 'none')
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of round % 2 === 1 ? cases : [...cases].reverse()) schedule.push({ name: 'none', round }, { name, round })
  }
  schedule.push({ name: 'none', round: ROUNDS })
  const results: CaseResult[] = []
  for (const { name, round } of schedule) {
    await install(cp, all[name], 'probe')
    const before = await scrape(cp)
    const servers = [...cp.pids(), runguard.pid as number, floor.pid as number]
    const cpuBefore = servers.reduce((n, pid) => n + cpuSeconds(pid), 0)
    const profiling = PROFILE_DIR && round === 1 && !results.some((r) => r.name === name) ? profileApiServer(cp, name, Math.max(1, SECONDS - 1)) : undefined
    const measured = await writeStatuses(cp, runs, SECONDS)
    await profiling
    const serverCpuSeconds = servers.reduce((n, pid) => n + cpuSeconds(pid), 0) - cpuBefore
    const after = await scrape(cp)
    const result: CaseResult = {
      name,
      round,
      measured,
      webhooks: histogramDelta(before, after, 'apiserver_admission_webhook_admission_duration_seconds', ['name', 'type']),
      steps: histogramDelta(before, after, 'apiserver_admission_step_admission_duration_seconds', ['type', 'operation']),
      exclusions: counterDelta(before, after, 'apiserver_admission_match_condition_exclusions_total'),
      matchConditionSeconds: sumDelta(before, after, 'apiserver_admission_match_condition_evaluation_seconds_sum'),
      serverCpuSeconds,
    }
    results.push(result)
    log(`round ${round} ${name}: ${measured.writes} writes (${(measured.writes / SECONDS).toFixed(0)}/s), ${measured.failed} failed, ${Object.values(result.webhooks).reduce((n, e) => n + e.count, 0)} webhook calls, ${result.exclusions} skipped by matchConditions`)
  }

  log(`memory: ${RSS_REQUESTS} requests straight to each webhook process`)
  const bodies = rssBodies()
  const idle = { runguard: rss(runguard.pid as number), floor: rss(floor.pid as number) }
  const errors = { runguard: await hammer(runguardPort, bodies, RSS_REQUESTS), floor: await hammer(floorPort, bodies, RSS_REQUESTS) }
  await sleep(2000)
  const loaded = { runguard: rss(runguard.pid as number), floor: rss(floor.pid as number) }

  writeReport(results, { idle, loaded, errors })
  await cp.stop()
}

// --- the report -----------------------------------------------------------------------------

interface Memory {
  idle: Record<'runguard' | 'floor', { rssMiB: number; peakMiB: number }>
  loaded: Record<'runguard' | 'floor', { rssMiB: number; peakMiB: number }>
  errors: Record<'runguard' | 'floor', number>
}

function writeReport(results: CaseResult[], memory: Memory): void {
  const byCase = (name: CaseName) => results.filter((r) => r.name === name)
  const rate = (rs: CaseResult[]) => rs.reduce((n, r) => n + r.measured.writes, 0) / rs.reduce((n, r) => n + r.measured.seconds, 0)
  /** The mean writes/s of the no-webhook slices just before and just after slice `i`. */
  const bracket = (i: number): number => {
    const around = [results[i - 1], results[i + 1]].filter((r): r is CaseResult => r?.name === 'none')
    return around.reduce((n, r) => n + r.measured.writes / r.measured.seconds, 0) / Math.max(1, around.length)
  }
  const slices = (name: CaseName) => results.map((r, i) => ({ r, i })).filter(({ r }) => r.name === name)
  /** Writes over the writes the bracketing no-webhook slices would have made in the same time. */
  const pooledRatio = (name: CaseName): number => {
    if (name === 'none') return 1
    const s = slices(name)
    return s.reduce((n, { r }) => n + r.measured.writes, 0) / s.reduce((n, { r, i }) => n + bracket(i) * r.measured.seconds, 0)
  }
  /** Each slice's writes/s over its bracketing no-webhook writes/s, in the order they ran. */
  const sliceRatios = (name: CaseName): number[] => slices(name).map(({ r, i }) => r.measured.writes / r.measured.seconds / bracket(i))
  /** The median over slices of each slice's writes/s over its bracketing no-webhook writes/s. */
  const medianRoundRatio = (name: CaseName): number => {
    if (name === 'none') return 1
    const ratios = sliceRatios(name).sort((a, b) => a - b)
    const mid = Math.floor(ratios.length / 2)
    return ratios.length % 2 === 1 ? ratios[mid]! : ((ratios[mid - 1] ?? 0) + (ratios[mid] ?? 0)) / 2
  }
  /** The bench's reading of a case's throughput: the lower of the pooled ratio and the median of per-slice ratios. */
  const throughputRatio = (name: CaseName): number => Math.min(pooledRatio(name), medianRoundRatio(name))
  /** Serving-side CPU per successful write, over every slice of the case. */
  const cpuPerWriteMs = (name: CaseName): number => {
    const rs = byCase(name)
    return (rs.reduce((n, r) => n + r.serverCpuSeconds, 0) * 1000) / Math.max(1, rs.reduce((n, r) => n + r.measured.writes, 0))
  }
  /** The no-webhook case's CPU per write over the case's. */
  const cpuRatio = (name: CaseName): number => cpuPerWriteMs('none') / cpuPerWriteMs(name)
  const describe = setups(0, 0, '')
  const cases: CaseName[] = ['none', 'floor', 'unfiltered', 'runguard', 'structure', 'policy']

  const rows = cases.map((name) => {
    const rs = byCase(name)
    const latencies = rs.flatMap((r) => r.measured.latencies).sort((a, b) => a - b)
    const writes = rs.reduce((n, r) => n + r.measured.writes, 0)
    const failed = rs.reduce((n, r) => n + r.measured.failed, 0)
    const calls = rs.reduce((n, r) => n + Object.values(r.webhooks).reduce((m, e) => m + e.count, 0), 0)
    const skipped = rs.reduce((n, r) => n + r.exclusions, 0)
    const perRound = rs.map((r) => (r.measured.writes / r.measured.seconds).toFixed(0)).join(' / ')
    const celMs = (seconds: number) => ((seconds * 1000) / Math.max(1, writes + failed)).toFixed(2)
    return `| ${name} — ${describe[name].describe} | ${writes} | ${perRound} | ${rate(rs).toFixed(0)} | ${pooledRatio(name).toFixed(2)} | ${medianRoundRatio(name).toFixed(2)} | ${percentile(latencies, 0.5).toFixed(1)} | ${percentile(latencies, 0.99).toFixed(1)} | ${(calls / Math.max(1, writes + failed)).toFixed(2)} | ${skipped} | ${celMs(rs.reduce((n, r) => n + r.matchConditionSeconds, 0))} | ${cpuPerWriteMs(name).toFixed(2)} | ${cpuRatio(name).toFixed(2)} | ${failed} |`
  })

  const webhookRows = cases.flatMap((name) => {
    const merged: Family = {}
    for (const r of byCase(name)) for (const [group, e] of Object.entries(r.webhooks)) {
      const entry = (merged[group] ??= { count: 0, sum: 0 })
      entry.count += e.count
      entry.sum += e.sum
    }
    return Object.entries(merged)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([group, e]) => `| ${name} | ${group.replace('name=', '').replace(',type=', ' (')}) | ${e.count} | ${((e.sum / e.count) * 1000).toFixed(2)} |`)
  })

  const stepRows = cases.map((name) => {
    const cell = (type: string) => {
      let count = 0
      let sum = 0
      for (const r of byCase(name)) {
        const e = r.steps[`type=${type},operation=UPDATE`]
        count += e?.count ?? 0
        sum += e?.sum ?? 0
      }
      return count === 0 ? '–' : ((sum / count) * 1000).toFixed(2)
    }
    return `| ${name} | ${cell('admit')} | ${cell('validate')} |`
  })

  const failures = results.flatMap((r) => [...r.measured.errors].map(([message, n]) => `- round ${r.round} ${r.name}: ${n} × ${message}`))
  const runguardRatio = throughputRatio('runguard')
  const runguardCpuRatio = cpuRatio('runguard')
  const rssRatio = memory.loaded.runguard.rssMiB / memory.loaded.floor.rssMiB

  const section = `${SECTION}

Status-write throughput through a real API server, measured by \`npm run bench:webhook-cost\`
(bench/webhook-cost.ts) on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version},
the kube-apiserver of test/controlplane (etcd with \`--unsafe-no-fsync\`, no controller manager). The
load generator, the API server, etcd and the webhook processes share those cores, as do other jobs
on this machine: compare figures within this table, not with other runs.

Workload: ${WRITERS} status writers, each on its own keep-alive connection and its own AgentRun, half
as a person (the admin) and half as upstream's controller ServiceAccount (impersonated), making
upstream-like writes back to back — a merge patch of \`status\` with the conditions updated,
\`observedGeneration\` and \`updatedAt\` set by the writer to its own clock (\`toISOString()\`, newer
each time) — ${SECONDS} s slices, ${ROUNDS} per case: every slice of a case sits between two no-webhook
slices (none, floor, none, unfiltered, none, …, the order reversed every other round), and its ratio
is to the mean of those two, because the load of the other jobs on this machine drifts within a
minute. Every case runs on the same control plane, the same runs, the same writers. Cases:
none (no webhook, no policy); floor (bench/floor-server.ts, a bare Fastify HTTPS server answering
"allowed", registered with runguard's rules and writer split but no status-write matchConditions —
any webhook called on every write); unfiltered (runguard before issue 13: its webhooks without the
status-write matchConditions, its status policy); runguard (as shipped: webhooks/ rendered by
renderAdmission, the status policy included); structure (the same webhook configurations and status
policy, but each webhook's own condition replaced by \`false\`: the API server matches every status
write against the same three run webhooks — both writers' copies of the mutating one and the
people's copy of the validating one (the controllers' copy leaves status writes out), as SPEC §2's
writer split requires — and runs the same policy, but never calls a webhook; the least any
status-write condition can cost with that structure); policy (a ValidatingAdmissionPolicy with the
CEL-expressible status rules 6, 7, 8 and 9's phase list and timestamp order, no webhook: the shipped
status policy's rules and three more, as one validation; it can neither stamp nor repair, so it is a
cost reference, not a replacement — and about what the shipped status policy alone costs).

| case | writes | writes/s per slice | writes/s | ratio to the bracketing none slices | median of per-slice ratios | p50 (ms) | p99 (ms) | webhook calls per write | matchCondition exclusions | matchConditions (ms per write) | serving CPU per write (ms) | CPU ratio (none ÷ case) | failed |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Each slice's ratio to the no-webhook slices just before and after it, in the order they ran — how
far one slice moves with the machine's other load:

| case | per-slice ratios |
|---|---|
${cases.filter((name) => name !== 'none').map((name) => `| ${name} | ${sliceRatios(name).map((r) => r.toFixed(2)).join(' / ')} |`).join('\n')}

Serving CPU per write: the CPU time (user + system, /proc/<pid>/stat) that kube-apiserver, etcd and
both webhook processes used over the case's slices, over its successful writes; the CPU ratio is the
no-webhook case's CPU per write over the case's. The writers saturate the cores, so throughput goes
as the inverse of the CPU each write costs: this ratio is what the throughput ratio estimates, and
it moves far less with the other jobs' load, which takes wall time but not these processes' CPU.

Webhook calls per write counts every call the API server made (its admission metrics) over the
writes that succeeded: the API server re-runs admission when it retries a write internally (its
cached copy of the run was older than etcd's), so a webhook called on every write shows a little
over one call per write per webhook. Exclusions (\`apiserver_admission_match_condition_exclusions_total\`)
count webhooks a matchCondition skipped: the writer split excludes each write from the other
writer's copy of every run webhook; runguard's status-write conditions also from its own. The
API server's own time evaluating them, per write: \`apiserver_admission_match_condition_evaluation_seconds\`
(every matchCondition of every webhook and policy, the writer split's included; this API server
exports no per-policy validation time, which the admission step table below includes).

Per webhook, from the API server's own \`apiserver_admission_webhook_admission_duration_seconds\`
over the same intervals (all rounds):

| case | webhook (type) | calls | mean per call (ms) |
|---|---|---|---|
${webhookRows.join('\n') || '| – | – | – | – |'}

The whole admission step per status UPDATE (\`apiserver_admission_step_admission_duration_seconds\`,
mean ms; webhooks, policies and the built-in plugins together):

| case | admit (mutating) | validate |
|---|---|---|
${stepRows.join('\n')}

${failures.length > 0 ? `Failed writes:\n${failures.join('\n')}\n` : 'No write failed in any case.\n'}
Memory: ${RSS_REQUESTS.toLocaleString('en')} admission requests straight to each webhook process (autocannon, 16
connections, four bodies in equal shares: an upstream-like status write to /mutate and to /validate,
a phase transition to /mutate, an AgentRun CREATE to /validate), both compiled and run with the
image's node flags (\`${NODE_FLAGS.join(' ')}\`) and environment, after the API-server cases above:

| process | RSS idle (MiB) | RSS after (MiB) | peak RSS (MiB) | errors |
|---|---|---|---|---|
| runguard webhook | ${memory.idle.runguard.rssMiB.toFixed(1)} | ${memory.loaded.runguard.rssMiB.toFixed(1)} | ${memory.loaded.runguard.peakMiB.toFixed(1)} | ${memory.errors.runguard} |
| bare Fastify floor | ${memory.idle.floor.rssMiB.toFixed(1)} | ${memory.loaded.floor.rssMiB.toFixed(1)} | ${memory.loaded.floor.peakMiB.toFixed(1)} | ${memory.errors.floor} |

Targets (issue 13, goal 6):
- status-write throughput with runguard installed ≥ 0.95× no webhook (the lower of the pooled ratio and the median of per-slice ratios): ${runguardRatio.toFixed(2)}× — ${runguardRatio >= 0.95 ? 'met' : 'NOT met'}; by serving CPU per write: ${runguardCpuRatio.toFixed(2)}× — ${runguardCpuRatio >= 0.95 ? 'met' : 'NOT met'}
- the same structure with conditions that cost nothing ('structure'): ${throughputRatio('structure').toFixed(2)}× throughput, ${cpuRatio('structure').toFixed(2)}× by CPU per write — the fixed cost of the three run webhooks a status write meets (SPEC §2's writer split) and the status policy, to compare runguard's row with
- a status policy alone, no webhook ('policy'): ${throughputRatio('policy').toFixed(2)}× throughput, ${cpuRatio('policy').toFixed(2)}× by CPU per write
- webhook RSS after ${RSS_REQUESTS.toLocaleString('en')} requests ≤ 1.25× the floor's: ${memory.loaded.runguard.rssMiB.toFixed(1)} / ${memory.loaded.floor.rssMiB.toFixed(1)} MiB = ${rssRatio.toFixed(2)}× — ${rssRatio <= 1.25 ? 'met' : 'NOT met'}

What remains: on these writes runguard's webhooks are not called at all (0 calls per write); what
it still costs is the API server's own CEL — the matchConditions of its three run webhooks (the
writer split's and the status-write conditions: the matchConditions column, against the writer
split's alone in the unfiltered row) and the status policy backstop (in the admission step's
validate column). Those run in-process, a fraction of a millisecond per write in the admission
step table rather than an HTTPS round trip, but they are not free on 2 shared cores; a single
slice's ratio moves by ±0.1 and more with the other jobs' load.

How the skip works: the status-write matchConditions (webhooks/status-skip.ts) let the API server
call runguard only for a status write some rule could change or refuse — a protected field
touched, a phase transition, an observedGeneration out of bounds, an updatedAt not already advanced
by the writer; the validating webhook also skips what the mutating one settled. That every rule
still fires with them in place, and that a settled write never reaches runguard, is tested on a
real API server by test/integration/match-conditions.test.ts.

Reproduce: \`npm ci && npm run bench:webhook-cost\` (BENCH_SECONDS, BENCH_ROUNDS, BENCH_WRITERS,
BENCH_RSS_REQUESTS to change the defaults; BENCH_PROFILE_DIR to also write a CPU profile of kube-apiserver per case,
from its first slice, for \`go tool pprof\` ${SECONDS}, ${ROUNDS}, ${WRITERS}, ${RSS_REQUESTS}).
`
  writeSection(OUT, SECTION, section)
  process.stdout.write(section)
}

try {
  await main()
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  await controlPlane?.stop()
  process.exit(1)
}
process.exit(0)
