/**
 * Admission benchmark (`npm run bench`). Drives /validate and /mutate of a real `runguard webhook`
 * process over HTTPS with keep-alive, and the same bodies against a bare Fastify HTTPS echo server
 * (the floor), at concurrency 1 and 32; then 100k requests for memory. Writes BENCHMARKS.md.
 *
 * Env: BENCH_SECONDS (default 10) per measurement, BENCH_OUT (default BENCHMARKS.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { freePorts } from '../test/harness/controlplane.ts'
import { imageEnv, imageNodeFlags } from '../test/harness/image-runtime.ts'
import { writeCertificateBundle } from '../src/certs/write.ts'
import { DEFAULT_BODY_LIMIT } from '../src/server/limits.ts'
import { agentRun, largeAgentRun, reviewFor, statusWrite } from '../test/helpers/reviews.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'

async function waitReady(child: ChildProcess, port: number, ca: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/livez', ca, servername: 'localhost', method: 'GET' }, (res) => {
        res.resume()
        resolve(res.statusCode === 200 || res.statusCode === 404)
      })
      req.on('error', () => resolve(false))
      req.end()
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`server on ${port} not ready`)
}

interface Scenario {
  name: string
  path: string
  body: string
}

interface Measurement {
  server: string
  scenario: string
  connections: number
  rps: number
  p50ms: number
  p99ms: number
}

async function cannon(port: number, scenario: Scenario, connections: number): Promise<Measurement & { errors: number }> {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}${scenario.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: scenario.body,
    connections,
    pipelining: 1,
    duration: SECONDS,
  })
  return {
    server: '',
    scenario: scenario.name,
    connections,
    rps: result.requests.average,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  }
}

/** c=1 latency with microsecond resolution (autocannon rounds to whole milliseconds). */
async function sequentialLatency(port: number, ca: string, scenario: Scenario, count: number): Promise<{ p50ms: number; p99ms: number; rps: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const samples: number[] = []
  const body = Buffer.from(scenario.body)
  const started = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: scenario.path, method: 'POST', ca, servername: 'localhost', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.resume()
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  agent.destroy()
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  return { p50ms: at(0.5), p99ms: at(0.99), rps: count / elapsed }
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb / 1024
}

const dir = mkdtempSync(join(tmpdir(), 'runguard-bench-'))
const children: ChildProcess[] = []
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanup)

// Production runs the compiled output (see Dockerfile), so that is what is measured.
const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
if (build.status !== 0) throw new Error('build failed')
const bundle = await writeCertificateBundle(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
const [runguardPort = 0, metricsPort = 0, floorPort = 0] = await freePorts(3)
const nodeBin = process.execPath
const runguard = spawn(
  nodeBin,
  [...imageNodeFlags(), 'dist/src/cli.js', 'webhook', '--port', String(runguardPort), '--host', '127.0.0.1', '--tls-cert', bundle.certPath, '--tls-key', bundle.keyPath, '--metrics-port', String(metricsPort)],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...imageEnv(), PATH: process.env.PATH, RUNGUARD_LOG_LEVEL: 'warn' } },
)
const floor = spawn(nodeBin, ['bench/floor-server.ts', String(floorPort), bundle.certPath, bundle.keyPath], { stdio: ['ignore', 'ignore', 'inherit'] })
children.push(runguard, floor)
await waitReady(runguard, runguardPort, bundle.caPem)
await waitReady(floor, floorPort, bundle.caPem)

const big = largeAgentRun('bench-run', 12 * 1024)
const running = agentRun('bench-status', {}, { status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z', updatedAt: '2026-11-23T10:00:00Z' } })
const scenarios: Scenario[] = [
  { name: `AgentRun CREATE (${(JSON.stringify(reviewFor(big)).length / 1024).toFixed(1)} KB review) → /validate`, path: '/validate', body: JSON.stringify(reviewFor(big)) },
  {
    name: 'status update Running → Succeeded → /mutate',
    path: '/mutate',
    body: JSON.stringify(statusWrite(running, { phase: 'Succeeded', startedAt: '2026-11-23T10:00:00Z' })),
  },
  {
    name: `status update of that AgentRun → /mutate`,
    path: '/mutate',
    body: JSON.stringify(statusWrite({ ...big, status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z' } }, { phase: 'Succeeded', startedAt: '2026-11-23T10:00:00Z' })),
  },
  {
    name: 'status update Running → Succeeded → /validate',
    path: '/validate',
    body: JSON.stringify(statusWrite(running, { phase: 'Succeeded', startedAt: '2026-11-23T10:00:00Z', finishedAt: '2026-11-23T10:05:00Z' })),
  },
]

// Warm both servers (JIT, TLS session set-up) before measuring.
for (const port of [runguardPort, floorPort]) for (const s of scenarios) await sequentialLatency(port, bundle.caPem, s, 300)

const rows: string[] = []
const checks: string[] = []
for (const scenario of scenarios) {
  const c1 = await sequentialLatency(runguardPort, bundle.caPem, scenario, 3000)
  const c1floor = await sequentialLatency(floorPort, bundle.caPem, scenario, 3000)
  const c32 = await cannon(runguardPort, scenario, 32)
  const c32floor = await cannon(floorPort, scenario, 32)
  const ratio = c32.rps / c32floor.rps
  rows.push(
    `| ${scenario.name} | ${c1.p50ms.toFixed(3)} | ${c1.p99ms.toFixed(3)} | ${c1floor.p50ms.toFixed(3)} | ${Math.round(c32.rps)} | ${Math.round(c32floor.rps)} | ${ratio.toFixed(2)} | ${c32.p99ms} | ${c32floor.p99ms} | ${c32.errors} |`,
  )
  checks.push(
    `- ${scenario.name}: throughput ratio ${ratio.toFixed(2)} (target ≥ 0.77) ${ratio >= 0.77 ? 'met' : 'NOT met'}; ` +
      `p99 at c=32 ${c32.p99ms} ms (target ≤ 5) ${c32.p99ms <= 5 ? 'met' : 'NOT met'}; p50 at c=1 ${c1.p50ms.toFixed(3)} ms (target ≤ 0.5) ${c1.p50ms <= 0.5 ? 'met' : 'NOT met'}`,
  )
  process.stderr.write(`${rows.at(-1)}\n`)
}

// In-process cost per request (Fastify inject: no TLS, no sockets, no load generator on the same
// cores), which isolates what runguard's own work adds on top of the framework.
const inProcess: string[] = []
{
  const { buildWebhookApp } = (await import(new URL('../dist/src/server/webhook-app.js', import.meta.url).href)) as typeof import('../src/server/webhook-app.ts')
  const { WEBHOOKS } = (await import(new URL('../dist/webhooks/index.js', import.meta.url).href)) as typeof import('../webhooks/index.ts')
  const { loadConfig } = await import('../src/config.ts')
  const { createMetrics } = await import('../src/metrics.ts')
  const { silentLogger } = await import('../src/log.ts')
  const Fastify = (await import('fastify')).default
  const app = await buildWebhookApp({ config: loadConfig({}), logger: silentLogger(), metrics: createMetrics({ component: 'webhook', version: 'bench', processMetrics: false }), events: undefined, webhooks: WEBHOOKS })
  const floorApp = Fastify({ bodyLimit: DEFAULT_BODY_LIMIT })
  for (const path of ['/validate', '/mutate']) {
    floorApp.post(path, async (request) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (request.body as { request?: { uid?: string } }).request?.uid ?? '', allowed: true } }))
  }
  const perRequestMicros = async (target: typeof app, scenario: Scenario, n: number): Promise<number> => {
    const send = () => target.inject({ method: 'POST', url: scenario.path, headers: { 'content-type': 'application/json' }, payload: scenario.body })
    for (let i = 0; i < 2000; i++) await send()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await send()
    return Number(process.hrtime.bigint() - t0) / n / 1000
  }
  for (const scenario of scenarios) {
    const ours = await perRequestMicros(app, scenario, 10_000)
    const bare = await perRequestMicros(floorApp as unknown as typeof app, scenario, 10_000)
    inProcess.push(`| ${scenario.name} | ${ours.toFixed(1)} | ${bare.toFixed(1)} | ${(ours - bare).toFixed(1)} |`)
  }
}

// Memory: 100k requests across the scenarios, then RSS of the runguard process.
const rssBefore = rssMiB(runguard.pid as number)
for (const scenario of scenarios) {
  await autocannon({ url: `https://127.0.0.1:${runguardPort}${scenario.path}`, method: 'POST', headers: { 'content-type': 'application/json' }, body: scenario.body, connections: 32, amount: Math.ceil(100_000 / scenarios.length) })
}
const rssAfter = rssMiB(runguard.pid as number)
checks.push(`- RSS after 100k requests: ${rssAfter.toFixed(1)} MiB (before: ${rssBefore.toFixed(1)} MiB; target ≤ 100) ${rssAfter <= 100 ? 'met' : 'NOT met'}`)

const report = `# Benchmarks

Admission webhook cost, measured by \`npm run bench\` (bench/admission.ts) on ${new Date().toISOString().slice(0, 10)},
${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}.

Method: one \`runguard webhook\` process (compiled output and \`${imageNodeFlags().join(' ')}\`, as in the
image; no kube access, so Events are off) and one bare Fastify HTTPS server that only parses the body
and answers a fixed "allowed" review (the floor), both on loopback with the same certificate.
c=1 latencies come from a sequential keep-alive client timed with \`process.hrtime\` (3000
requests after 300 warm-up); c=32 throughput and p99 from autocannon (${SECONDS} s, keep-alive,
32 connections; autocannon reports whole milliseconds). The load generator runs on the same 2 cores.

| scenario | runguard p50 c=1 (ms) | runguard p99 c=1 (ms) | floor p50 c=1 (ms) | runguard req/s c=32 | floor req/s c=32 | ratio | runguard p99 c=32 (ms) | floor p99 c=32 (ms) | errors |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

In-process cost per request (Fastify \`inject\`, 10 000 requests after 2000 warm-up; no TLS, no
sockets, no load generator competing for the cores) — what runguard's own work adds:

| scenario | runguard (µs) | bare Fastify (µs) | added by runguard (µs) |
|---|---|---|---|
${inProcess.join('\n')}

Targets (issue 3): throughput at c=32 ≥ 0.77× the floor, p99 ≤ 5 ms at c=32, p50 ≤ 0.5 ms at c=1,
RSS ≤ 100 MiB after 100k requests.

${checks.join('\n')}

Reading the figures: the floor does nothing but parse and answer, so for small status writes it
spends only tens of microseconds per request, TLS included; runguard's decode, shape guards, rules,
patch and metrics add the in-process figure above on top, which caps the c=32 ratio for small
bodies below the 0.77 target on this machine. For the 13.6 KB AgentRun, where parsing dominates
both, the ratio is close to the target. The load generator shares the same 2 cores, so c=32 figures
move by ±15 % between runs; the in-process table is the steadier comparison. RSS is dominated by
loaded code (about 85 MiB at start: Fastify, prom-client, pino, ajv, the YAML parser).

Reproduce: \`npm ci && npm run bench\` (BENCH_SECONDS=30 for steadier figures).
`
// This benchmark owns the top of the file, up to the first `## ` section; the other benchmarks'
// sections (node, fuzz, malformed HTTP) are kept as they are.
const previous = (() => {
  try {
    return readFileSync(OUT, 'utf8')
  } catch {
    return ''
  }
})()
const otherSections = previous.indexOf('\n## ')
writeFileSync(OUT, otherSections === -1 ? report : `${report.trimEnd()}\n${previous.slice(otherSections)}`)
process.stdout.write(report)
cleanup()
process.exit(0)
