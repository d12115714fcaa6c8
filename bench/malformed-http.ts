/**
 * Malformed HTTP at volume (`npm run bench:malformed`, issue 14): MALFORMED_REQUESTS (default
 * 100 000) malformed and hostile requests — truncated JSON, wrong content types, oversize bodies
 * (declared and streamed), broken framing, request smuggling, HTTP/1.1 pipelining read and unread,
 * TLS garbage, slowloris headers, bodies and silent connections — against a real `runguard
 * webhook` process on loopback while valid AdmissionReviews keep flowing; then the same campaign
 * against the bare-Fastify floor server (bench/floor-server.ts) on the same certificate, so every
 * figure stands beside the floor's. Stops by itself: bounded in count, and each run by a deadline.
 *
 * Both servers run with the Node flags and environment of the image (the Dockerfile's final stage:
 * test/harness/image-runtime.ts), so the memory figures are those of what ships. Prints the figures and writes its section of BENCHMARKS.md
 * (BENCH_OUT), keeping every other section as it is.
 *
 * Env: MALFORMED_REQUESTS (100000), MALFORMED_SLOWLORIS (50), MALFORMED_SLOW_WAIT_MS (130000: past
 * Node's 120 s TLS handshake timeout), MALFORMED_DEADLINE_MS (1200000 per server), MALFORMED_SEED,
 * MALFORMED_NODE_ARGS (default the image's node flags), MALFORMED_SERVER_ENV (environment of both
 * servers on top of the image's, e.g. MALLOC_MMAP_THRESHOLD_=131072), BENCH_OUT (BENCHMARKS.md).
 */
import { spawn } from 'node:child_process'
import { cpus } from 'node:os'
import { freePorts } from '../test/harness/controlplane.ts'
import { imageEnv, imageNodeFlags } from '../test/harness/image-runtime.ts'
import { runCampaign, totals, type CampaignOptions, type CampaignResult } from '../test/property/malformed-campaign.ts'
import { getMetricsPort, makeCertificates, REPO_ROOT, startWebhook, type Certificates, type WebhookProcess } from '../test/property/webhook-process.ts'
import { writeSection } from './report.ts'

const SECTION = '## Malformed HTTP at volume (issue 14)'
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
/** The image's node flags (the Dockerfile's NODE_OPTIONS), unless MALFORMED_NODE_ARGS says otherwise. */
const nodeArgs = process.env.MALFORMED_NODE_ARGS === undefined ? imageNodeFlags() : process.env.MALFORMED_NODE_ARGS.split(' ').filter(Boolean)
/** The image's environment and MALFORMED_SERVER_ENV (`NAME=value` separated by spaces) on top: both servers get the same. */
const serverEnv: Record<string, string> = {
  ...imageEnv(),
  ...Object.fromEntries(
    (process.env.MALFORMED_SERVER_ENV ?? '')
      .split(' ')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  ),
}
const serverEnvText = Object.entries(serverEnv).map(([name, value]) => `${name}=${value}`).join(' ')

const options: CampaignOptions = {
  requests: Number(process.env.MALFORMED_REQUESTS ?? 100_000),
  attackers: 12,
  validClients: 2,
  slowloris: Number(process.env.MALFORMED_SLOWLORIS ?? 50),
  slowWaitMs: Number(process.env.MALFORMED_SLOW_WAIT_MS ?? 130_000),
  answerTimeoutMs: 15_000,
  deadlineMs: Number(process.env.MALFORMED_DEADLINE_MS ?? 1_200_000),
  oversizeStreams: 20,
  settleMs: 60_000,
  seed: Number(process.env.MALFORMED_SEED ?? 20_261_123),
  progress: (line) => process.stderr.write(`  ${line}\n`),
}

/** bench/floor-server.ts as a WebhookProcess (no metrics port: heap and series figures stay empty). */
async function startFloor(certificates: Certificates): Promise<WebhookProcess> {
  const [port = 0] = await freePorts(1)
  const child = spawn(process.execPath, [...nodeArgs, 'bench/floor-server.ts', String(port), certificates.certPath, certificates.keyPath], { cwd: REPO_ROOT, env: { ...process.env, ...serverEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr.setEncoding('utf8').on('data', (c: string) => stderr.push(c))
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}: ${stderr.join('')}`)))
  })
  let exitCode: number | null = null
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exitCode = code))))
  return {
    port,
    metricsPort: 0,
    pid: child.pid as number,
    ca: certificates.ca,
    child,
    stdout: [],
    stderr,
    exitCode: () => exitCode,
    async stop() {
      if (exitCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

/** Where the webhook's memory sits beyond the heap in use: V8 heap committed and external (Buffer) memory, in MiB. */
interface HeapFigures {
  committedMiB: number
  externalMiB: number
  /** Idle memory collections so far (src/idle-memory.ts) and their pauses' total. */
  idleCollections: number
  idleCollectionSeconds: number
}

/** From the process's own /metrics (prom-client's default process metrics). */
async function heapFigures(server: WebhookProcess): Promise<HeapFigures> {
  const metrics = (await getMetricsPort(server, '/metrics')).body
  const mib = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? 0) / 2 ** 20
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? 0)
  return {
    committedMiB: mib('nodejs_heap_size_total_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
    idleCollections: value('runguard_idle_memory_collection_seconds_count'),
    idleCollectionSeconds: value('runguard_idle_memory_collection_seconds_sum'),
  }
}

const certificates = makeCertificates()
const results: Array<{ name: string; result: CampaignResult; heap?: { before: HeapFigures; settled: HeapFigures } }> = []
for (const [name, start] of [
  ['runguard webhook', () => startWebhook({ certificates, nodeArgs, env: serverEnv })],
  ['floor (bare Fastify)', () => startFloor(certificates)],
] as const) {
  process.stderr.write(`${name}: ${options.requests.toLocaleString('en')} hostile requests…\n`)
  const server = await start()
  try {
    const before = server.metricsPort > 0 ? await heapFigures(server) : undefined
    const result = await runCampaign(server, options)
    // Read when the campaign has let the server idle (settleMs), before it is stopped.
    const settled = before && result.serverAlive ? await heapFigures(server) : undefined
    results.push({ name, result, ...(before && settled ? { heap: { before, settled } } : {}) })
  } finally {
    await server.stop()
  }
}

const fmt = (n: number, d = 1) => n.toFixed(d)
const slowSummary = (r: CampaignResult): string =>
  r.slow
    .map((s) => {
      const closed = s.closedAfterMs.filter((ms): ms is number => ms !== undefined)
      const open = s.closedAfterMs.length - closed.length
      const range = closed.length > 0 ? `closed after ${fmt(Math.min(...closed) / 1000, 0)}–${fmt(Math.max(...closed) / 1000, 0)} s` : ''
      return `${s.kind}: ${[range, open > 0 ? `${open} of ${s.closedAfterMs.length} still open after ${fmt(options.slowWaitMs / 1000, 0)} s` : ''].filter(Boolean).join(', ')}`
    })
    .join('; ')

const [runguard, floor] = results.map((r) => r.result) as [CampaignResult, CampaignResult]
const runguardHeap = results[0]?.heap
const row = (label: string, get: (r: CampaignResult) => string) => `| ${label} | ${get(runguard)} | ${get(floor)} |`
const lines = [
  SECTION,
  '',
  `Measured by \`npm run bench:malformed\` (bench/malformed-http.ts) on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, seed ${options.seed}.`,
  '',
  `One \`runguard webhook\` process (no kube access, Events off) and, in the same run, the bare-Fastify floor server (bench/floor-server.ts, same certificate and body limit, Fastify's own JSON body parser), both started with the Node flags \`${nodeArgs.join(' ')}\`${serverEnvText ? ` and the environment \`${serverEnvText}\`` : ''}, each get ${options.requests.toLocaleString('en')} hostile requests on loopback from ${options.attackers} connections at a time, while ${options.validClients} keep-alive clients send valid AdmissionReviews throughout. The load generator shares the cores.`,
  '',
  '| | runguard | floor (bare Fastify) |',
  '|---|---|---|',
  row('hostile requests sent', (r) => r.hostileRequests.toLocaleString('en')),
  row('answered 4xx', (r) => totals(r).answered4xx.toLocaleString('en')),
  row('answered 200 (well-formed JSON with hostile content)', (r) => totals(r).answered2xx.toLocaleString('en')),
  row('connection closed (framing errors, TLS garbage, after a refused pipelined request)', (r) => totals(r).closed.toLocaleString('en')),
  row('answered 5xx', (r) => `${totals(r).answered5xx}${r === floor && totals(r).answered5xx > 0 ? ' ¹' : ''}`),
  row('neither answered nor closed within 15 s', (r) => String(totals(r).timeouts)),
  row('wrong answer (5xx, 2xx to a bad request, no answer)', (r) => `${totals(r).wrong}${r === floor ? ' ¹' : ''}`),
  row('crashes (server exited or stopped answering)', (r) => (r.serverAlive ? '0' : '1')),
  row('valid reviews answered / failed', (r) => `${r.valid.ok.toLocaleString('en')} / ${r.valid.failed}`),
  row('valid review latency p50 / p99 / max (ms) under attack', (r) => `${fmt(r.valid.p50ms)} / ${fmt(r.valid.p99ms)} / ${fmt(r.valid.maxMs)}`),
  row('RSS before → peak → right after → after idling (MiB)', (r) => `${fmt(r.rss.beforeMiB)} → ${fmt(r.rss.peakMiB)} → ${fmt(r.rss.afterMiB)} → ${fmt(r.rss.settledMiB)}`),
  row('V8 heap in use before → after idling (MiB)', (r) => (r.rss.heapBeforeMiB > 0 ? `${fmt(r.rss.heapBeforeMiB)} → ${fmt(r.rss.heapSettledMiB)}` : 'n/a (no metrics port)')),
  row('V8 heap committed before → after idling (MiB)', (r) => (r === runguard && runguardHeap ? `${fmt(runguardHeap.before.committedMiB)} → ${fmt(runguardHeap.settled.committedMiB)}` : 'n/a')),
  row('external (Buffer) memory before → after idling (MiB)', (r) => (r === runguard && runguardHeap ? `${fmt(runguardHeap.before.externalMiB)} → ${fmt(runguardHeap.settled.externalMiB)}` : 'n/a')),
  row('idle memory collections during the campaign and its idling (mean pause)', (r) => {
    if (r !== runguard || !runguardHeap) return 'n/a'
    const count = runguardHeap.settled.idleCollections - runguardHeap.before.idleCollections
    return count > 0 ? `${count} (${fmt(((runguardHeap.settled.idleCollectionSeconds - runguardHeap.before.idleCollectionSeconds) / count) * 1000, 0)} ms)` : '0'
  }),
  row('request metric series afterwards', (r) => (r.rss.heapBeforeMiB > 0 ? String(r.requestMetricSeries) : 'n/a')),
  row('duration (s)', (r) => `${fmt(r.durationMs / 1000, 0)}${r.stoppedByDeadline ? ' (stopped by the deadline)' : ''}`),
  '',
  '¹ The floor judges nothing: it answers every body that parses with a fixed "allowed" review (so its 200s to bad envelopes count as wrong), and a body of JSON `null` makes its one-line handler throw (its 5xx). Its column is the resource floor — memory, latency, connection handling — not a reference for answers.',
  '',
  `Slowloris (${options.slowloris} connections, held from the start for up to ${fmt(options.slowWaitMs / 1000, 0)} s):`,
  '',
  `- runguard: ${slowSummary(runguard)}`,
  `- floor: ${slowSummary(floor)}`,
  '',
  'Per scenario (runguard): requests → answers',
  '',
  ...Object.entries(runguard.byScenario)
    .sort((a, b) => b[1].sent - a[1].sent)
    .map(([name, s]) => `- ${name}: ${s.sent.toLocaleString('en')} → ${Object.entries(s.answers).map(([code, n]) => `${n} × ${code}`).join(', ')}${s.closed > 0 ? `${Object.keys(s.answers).length > 0 ? ', ' : ''}${s.closed} closed` : ''}${s.wrong > 0 ? ` (${s.wrong} wrong: ${s.examples[0]})` : ''}`),
  '',
  'Reproduce: `npm run bench:malformed` (MALFORMED_REQUESTS, MALFORMED_SLOWLORIS, MALFORMED_SLOW_WAIT_MS, MALFORMED_DEADLINE_MS, MALFORMED_SEED, MALFORMED_NODE_ARGS, MALFORMED_SERVER_ENV).',
]
process.stdout.write(`${lines.join('\n')}\n`)
writeSection(OUT, SECTION, lines.join('\n'))
const failed = [runguard].some((r) => !r.serverAlive || r.valid.failed > 0 || totals(r).wrong > 0)
process.exitCode = failed ? 1 : 0
