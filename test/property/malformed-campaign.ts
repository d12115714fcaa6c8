/**
 * Malformed and hostile HTTP at volume against a running `runguard webhook` (issue 14), shared by
 * the benchmark (bench/malformed-http.ts, 100k requests) and the CI test (2k): truncated JSON, wrong
 * content types, oversize bodies, broken HTTP framing, request smuggling, HTTP/1.1 pipelining (read
 * and unread), TLS garbage, slowloris headers and bodies — all on loopback — while valid
 * AdmissionReviews keep flowing on their own keep-alive connections. Bounded in count and time.
 *
 * Each hostile request has an expected answer: a 4xx, a 200 AdmissionReview (well-formed JSON with
 * hostile content), or the connection closed (framing the server cannot answer, TLS garbage). A
 * request that gets neither within `answerTimeoutMs` (slowloris aside) is a failure; so is a 5xx.
 */
import { randomBytes } from 'node:crypto'
import { Agent } from 'node:https'
import fc from 'fast-check'
import { hostileEnvelope, type Json } from './arbitraries.ts'
import { RawConnection, rawPost, type Reply, type Target } from './raw-http.ts'
import { getMetricsPort, post, rssOf, type WebhookProcess } from './webhook-process.ts'

export interface CampaignOptions {
  /** Hostile requests to send in all. */
  requests: number
  /** Hostile connections at a time. */
  attackers: number
  /** Clients sending valid reviews throughout, each on its own keep-alive connection. */
  validClients: number
  /** Slowloris connections (slow headers, slow body, silent TCP, silent TLS), held open concurrently. */
  slowloris: number
  /** How long a slow connection may stay open before it counts as "not closed by the server". */
  slowWaitMs: number
  /** A non-slow hostile request neither answered nor closed within this is a failure. */
  answerTimeoutMs: number
  /** The whole campaign stops by then, whatever is left. */
  deadlineMs: number
  /** Actually stream 17 MiB bodies (over any body limit the bench sets) this many times. */
  oversizeStreams: number
  /** After the campaign, how long the idle server may take to give memory back. */
  settleMs: number
  seed: number
  progress?: (line: string) => void
}

export type Expect = '4xx' | 'review' | 'close' | 'any'

export interface ScenarioStats {
  sent: number
  answers: Record<string, number>
  closed: number
  timeouts: number
  /** Requests whose outcome was not the expected one (5xx, 2xx for a bad request, no answer). */
  wrong: number
  examples: string[]
  maxMs: number
}

export interface SlowStats {
  kind: string
  /** Milliseconds until the server closed it; undefined = still open after slowWaitMs. */
  closedAfterMs: Array<number | undefined>
}

export interface CampaignResult {
  hostileRequests: number
  byScenario: Record<string, ScenarioStats>
  slow: SlowStats[]
  valid: { sent: number; ok: number; failed: number; failures: string[]; p50ms: number; p99ms: number; maxMs: number }
  rss: { beforeMiB: number; peakMiB: number; afterMiB: number; settledMiB: number; heapBeforeMiB: number; heapSettledMiB: number }
  serverAlive: boolean
  serverExitCode: number | null
  /** Distinct label sets of controller_runtime_webhook_requests_total after the campaign. */
  requestMetricSeries: number
  durationMs: number
  stoppedByDeadline: boolean
}

// --- the catalogue of hostile requests ----------------------------------------------------------

interface Hostile {
  scenario: string
  bytes: Buffer
  expect: Expect
}

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'hostile',
    kind: { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' },
    resource: { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' },
    name: 'x',
    namespace: 'agents',
    operation: 'CREATE',
    userInfo: { username: 'mallory' },
    object: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name: 'x', namespace: 'agents' }, spec: { agentRef: { name: 'a' }, runtime: { type: 'job' }, implementationSpecRef: { name: 'i' } } },
  },
})

function deepJson(depth: number): string {
  return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${REVIEW.slice(REVIEW.indexOf('"request":') + 10, -1).replace('"spec":{', `"spec":{"runtime":{"type":"job","config":${'['.repeat(depth)}1${']'.repeat(depth)}},`)}}`
}

/** Requests with a well-framed HTTP body the server must answer (4xx, or a review for well-formed JSON). */
function contentRequests(random: () => number, envelopes: Json[]): Hostile[] {
  const cut = Math.max(1, Math.floor(random() * (REVIEW.length - 1)))
  const envelope = envelopes[Math.floor(random() * envelopes.length)]
  const secretQuery = `/validate?token=ghp_${randomBytes(12).toString('hex')}`
  return [
    { scenario: 'truncated JSON', bytes: rawPost('/validate', REVIEW.slice(0, cut)), expect: '4xx' },
    { scenario: 'garbage body', bytes: rawPost('/mutate', randomBytes(1 + Math.floor(random() * 2048))), expect: '4xx' },
    { scenario: 'JSON that is not an object', bytes: rawPost('/validate', ['[]', '"x"', '42', 'null', 'true'][Math.floor(random() * 5)] as string), expect: '4xx' },
    { scenario: 'empty body', bytes: rawPost('/validate', ''), expect: '4xx' },
    { scenario: 'bad envelope', bytes: rawPost('/validate', REVIEW.replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1')), expect: '4xx' },
    { scenario: 'bad envelope', bytes: rawPost('/mutate', REVIEW.replace('"uid":"hostile"', '"uid":""')), expect: '4xx' },
    { scenario: 'prototype poisoning', bytes: rawPost('/validate', REVIEW.replace('{', '{"__proto__":{"isAdmin":true},')), expect: '4xx' },
    { scenario: 'prototype poisoning', bytes: rawPost('/mutate', REVIEW.replace('{', '{"constructor":{"prototype":{"isAdmin":true}},')), expect: '4xx' },
    { scenario: 'duplicate keys', bytes: rawPost('/validate', REVIEW.replace('"kind":"AdmissionReview",', '"kind":"AdmissionReview","request":{"uid":"first"},')), expect: 'review' },
    { scenario: 'hostile review', bytes: rawPost(random() < 0.5 ? '/validate' : '/mutate', JSON.stringify(envelope)), expect: 'any' },
    { scenario: 'numbers at the edges', bytes: rawPost('/mutate', REVIEW.replace('"name":"a"', '"name":1e999,"x":-1e-999,"y":123456789012345678901234567890')), expect: 'review' },
    { scenario: 'deep nesting', bytes: rawPost('/validate', deepJson(1_000 + Math.floor(random() * 20_000))), expect: 'review' },
    { scenario: 'deep nesting', bytes: rawPost('/mutate', `${'['.repeat(50_000)}${']'.repeat(50_000)}`), expect: '4xx' },
    { scenario: 'wrong content type', bytes: rawPost('/validate', REVIEW, { 'Content-Type': ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json-patch+json', 'application/xml', 'image/png'][Math.floor(random() * 6)] as string }), expect: '4xx' },
    { scenario: 'wrong content type', bytes: rawPost('/mutate', REVIEW, { 'Content-Type': null }), expect: '4xx' },
    // Answered as UTF-8 JSON (Fastify ignores the charset): a review or a 4xx, either is fine.
    { scenario: 'JSON with another charset', bytes: rawPost('/validate', REVIEW, { 'Content-Type': 'application/json; charset=utf-16' }), expect: 'any' },
    { scenario: 'unknown path or method', bytes: rawPost(['/', '/nope', '/validate/', '/VALIDATE', '/mutate/../validate', '/%00'][Math.floor(random() * 6)] as string, REVIEW), expect: '4xx' },
    { scenario: 'unknown path or method', bytes: Buffer.from(`${['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'][Math.floor(random() * 5)]} /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n`), expect: '4xx' },
    { scenario: 'secret in the query, bad body', bytes: rawPost(secretQuery, 'nope', { 'Content-Type': 'text/plain' }), expect: '4xx' },
    { scenario: 'secret in the query, bad body', bytes: rawPost(`/nope?password=${randomBytes(8).toString('hex')}`, 'x', { 'Content-Type': 'text/plain' }), expect: '4xx' },
    { scenario: 'oversize (declared)', bytes: Buffer.concat([rawPost('/validate', '', { 'Content-Length': 17 * 1024 * 1024 }), Buffer.from('{"apiVersion":')]), expect: '4xx' },
  ]
}

/** Requests whose framing the HTTP parser refuses: a 4xx and the connection closed, or just closed. */
function framingRequests(random: () => number): Hostile[] {
  const h = (text: string): Buffer => Buffer.from(text)
  return [
    { scenario: 'broken framing', bytes: h('GARBAGE\r\n\r\n'), expect: 'close' },
    { scenario: 'broken framing', bytes: h('POST /validate HTTP/1.1\r\nHo st: x\r\nContent-Length: 2\r\n\r\n{}'), expect: 'close' },
    { scenario: 'broken framing', bytes: h('POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'), expect: 'close' },
    { scenario: 'broken framing', bytes: h('POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'), expect: 'close' },
    { scenario: 'broken framing', bytes: h('POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'), expect: 'close' },
    { scenario: 'broken framing', bytes: h('POST /validate HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}'), expect: 'any' },
    { scenario: 'broken framing', bytes: h('GET /\r\n\r\n'), expect: 'close' },
    { scenario: 'broken framing', bytes: h(`POST /validate HTTP/9.9\r\nHost: x\r\nContent-Length: 0\r\n\r\n`), expect: 'close' },
    { scenario: 'request smuggling (CL + TE)', bytes: h(`POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGPOST /mutate HTTP/1.1\r\n\r\n`), expect: 'close' },
    { scenario: 'request smuggling (CL + TE)', bytes: h(`POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`), expect: 'close' },
    { scenario: 'header overflow', bytes: h(`POST /validate HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000 + Math.floor(random() * 50_000))}\r\nContent-Length: 2\r\n\r\n{}`), expect: 'close' },
    { scenario: 'header overflow', bytes: h(`POST /validate HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3_000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Length: 2\r\n\r\n{}`), expect: 'any' },
  ]
}

// --- running one connection ---------------------------------------------------------------------

function record(stats: Record<string, ScenarioStats>, scenario: string, expect: Expect, reply: Reply, exampleOf: () => string): void {
  const s = (stats[scenario] ??= { sent: 0, answers: {}, closed: 0, timeouts: 0, wrong: 0, examples: [], maxMs: 0 })
  s.sent++
  s.maxMs = Math.max(s.maxMs, reply.ms)
  let ok: boolean
  if (reply.kind === 'answer') {
    s.answers[String(reply.status)] = (s.answers[String(reply.status)] ?? 0) + 1
    const is4xx = reply.status >= 400 && reply.status < 500
    ok = expect === '4xx' ? is4xx : expect === 'review' ? reply.status === 200 || is4xx : expect === 'close' ? is4xx : reply.status < 500 && reply.status > 0
  } else if (reply.kind === 'closed') {
    s.closed++
    ok = expect !== 'review'
  } else {
    s.timeouts++
    ok = false
  }
  if (!ok) {
    s.wrong++
    if (s.examples.length < 3) s.examples.push(`${reply.kind}${reply.kind === 'answer' ? ` ${reply.status}` : ''} after ${reply.ms} ms: ${exampleOf()}`)
  }
}

/** Sends `requests` one after another on one connection (keep-alive), reading each answer. */
async function sequential(target: Target, requests: Hostile[], stats: Record<string, ScenarioStats>, timeoutMs: number): Promise<void> {
  let conn = await RawConnection.tls(target)
  for (const req of requests) {
    if (conn.ended) conn = await RawConnection.tls(target)
    conn.write(req.bytes)
    const reply = await conn.next(timeoutMs)
    record(stats, req.scenario, req.expect, reply, () => req.bytes.subarray(0, 120).toString('latin1'))
    if (reply.kind !== 'answer' || reply.closeAfter) {
      conn.destroy()
      conn = await RawConnection.tls(target)
    }
  }
  conn.destroy()
}

/** Writes every request at once (HTTP/1.1 pipelining) and reads the answers in order. */
async function pipelined(target: Target, requests: Hostile[], stats: Record<string, ScenarioStats>, timeoutMs: number): Promise<void> {
  const conn = await RawConnection.tls(target)
  conn.write(Buffer.concat(requests.map((r) => r.bytes)))
  let closed = false
  for (const req of requests) {
    const reply: Reply = closed ? { kind: 'closed', ms: 0 } : await conn.next(timeoutMs)
    if (reply.kind !== 'answer') closed = true
    // After a framing error the server closes: what was pipelined behind it is never read.
    record(stats, `pipelined: ${req.scenario}`, closed ? 'any' : req.expect, reply, () => req.bytes.subarray(0, 120).toString('latin1'))
  }
  conn.destroy()
}

// --- the campaign -------------------------------------------------------------------------------

export async function runCampaign(server: WebhookProcess, options: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now()
  const deadline = started + options.deadlineMs
  const target: Target = { port: server.port, ca: server.ca }
  const progress = options.progress ?? (() => undefined)
  let seed = options.seed >>> 0
  const random = (): number => {
    // mulberry32: deterministic request mix for a given seed
    seed = (seed + 0x6d2b79f5) >>> 0
    let x = seed
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const envelopes = fc.sample(hostileEnvelope, { seed: options.seed, numRuns: 200 })
  const stats: Record<string, ScenarioStats> = {}

  // Valid reviews, all the way through.
  const agent = new Agent({ keepAlive: true, maxSockets: options.validClients, ca: server.ca, servername: 'localhost' })
  const valid = { sent: 0, ok: 0, failed: 0, failures: [] as string[], latencies: [] as number[] }
  let attacking = true
  const validBody = (i: number): { path: string; body: string; allowed: boolean } => {
    const review = JSON.parse(REVIEW) as { request: Record<string, unknown> }
    review.request.uid = `valid-${i}`
    if (i % 2 === 0) return { path: '/validate', body: JSON.stringify(review), allowed: true }
    const object = review.request.object as Record<string, unknown>
    const old = { ...object, status: { phase: 'Pending' } }
    Object.assign(review.request, { subResource: 'status', operation: 'UPDATE', oldObject: old, object: { ...object, status: { phase: 'Running' } } })
    return { path: '/mutate', body: JSON.stringify(review), allowed: true }
  }
  const validLoop = async (client: number): Promise<void> => {
    for (let i = client; attacking; i += options.validClients) {
      const { path, body, allowed } = validBody(i)
      const t0 = performance.now()
      valid.sent++
      try {
        const answer = await post(server, path, body, { agent, timeoutMs: 10_000 })
        valid.latencies.push(performance.now() - t0)
        const response = (answer.json as { response?: { uid?: string; allowed?: boolean } } | undefined)?.response
        if (answer.status === 200 && response?.uid === `valid-${i}` && response.allowed === allowed) valid.ok++
        else throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 200)}`)
      } catch (err) {
        valid.failed++
        if (valid.failures.length < 5) valid.failures.push(`${path} valid-${i}: ${(err as Error).message}`)
      }
    }
  }

  // Warm up, then the baseline.
  for (let i = 0; i < 300; i++) await post(server, '/validate', validBody(-1 - i * 2).body.replace(/valid--?\d+/, `warm-${i}`))
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const rss = { beforeMiB: (await rssOf(server)) / 2 ** 20, peakMiB: 0, afterMiB: 0, settledMiB: 0, heapBeforeMiB: await heapUsedMiB(server), heapSettledMiB: 0 }
  rss.peakMiB = rss.beforeMiB
  const sampler = setInterval(() => {
    void rssOf(server)
      .then((bytes) => (rss.peakMiB = Math.max(rss.peakMiB, bytes / 2 ** 20)))
      .catch(() => undefined)
  }, 500)
  const validLoops = Array.from({ length: options.validClients }, (_, c) => validLoop(c))

  // Slowloris: held open from the start, alongside everything else.
  const slow: SlowStats[] = ['slow headers', 'slow body', 'silent TCP (no TLS handshake)', 'silent TLS (no request)', 'truncated TLS ClientHello'].map((kind) => ({ kind, closedAfterMs: [] }))
  let hostileSent = 0
  const slowJobs = Array.from({ length: options.slowloris }, async (_, i) => {
    const s = slow[i % slow.length] as SlowStats
    hostileSent++
    let conn: RawConnection
    try {
      conn = s.kind.startsWith('silent TCP') || s.kind.startsWith('truncated TLS') ? await RawConnection.tcp(target) : await RawConnection.tls(target)
    } catch {
      s.closedAfterMs.push(0)
      return
    }
    if (s.kind === 'truncated TLS ClientHello') conn.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
    const dribble = s.kind === 'slow headers' ? `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: ${'a'.repeat(10_000)}` : s.kind === 'slow body' ? 'a'.repeat(10_000) : ''
    if (s.kind === 'slow body') conn.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{')
    let sent = 0
    const ticker = dribble
      ? setInterval(() => {
          if (sent < dribble.length) conn.write(dribble[sent++] as string)
        }, 1_000)
      : undefined
    const waitMs = Math.max(0, Math.min(options.slowWaitMs, deadline - Date.now()))
    const closed = await conn.closedWithin(waitMs)
    if (ticker) clearInterval(ticker)
    s.closedAfterMs.push(closed ? conn.age : undefined)
    conn.destroy()
  })

  // The bulk: attackers pull jobs until the count is reached or the deadline passes.
  let oversizeLeft = options.oversizeStreams
  const nextJob = (): (() => Promise<void>) | undefined => {
    const left = options.requests - hostileSent
    if (left <= 0 || Date.now() > deadline) return undefined
    const roll = random()
    if (roll < 0.55) {
      const batch = Array.from({ length: Math.min(left, 25) }, () => {
        const all = contentRequests(random, envelopes)
        return all[Math.floor(random() * all.length)] as Hostile
      })
      hostileSent += batch.length
      return () => sequential(target, batch, stats, options.answerTimeoutMs)
    }
    if (roll < 0.75) {
      const burst = Array.from({ length: Math.min(left, 40) }, (_, i) => {
        if (i % 4 === 0) return { scenario: 'valid review', bytes: rawPost('/validate', REVIEW), expect: 'review' as Expect }
        // A declared oversize body ends the connection after its 413 by design: not in a burst.
        const all = contentRequests(random, envelopes).filter((r) => !r.scenario.startsWith('oversize'))
        return all[Math.floor(random() * all.length)] as Hostile
      })
      if (random() < 0.25) burst.splice(Math.floor(random() * burst.length), 0, framingRequests(random)[Math.floor(random() * 5)] as Hostile)
      hostileSent += burst.length
      return () => pipelined(target, burst, stats, options.answerTimeoutMs)
    }
    if (roll < 0.87) {
      const all = framingRequests(random)
      const req = all[Math.floor(random() * all.length)] as Hostile
      hostileSent++
      return () => sequential(target, [req], stats, options.answerTimeoutMs)
    }
    if (roll < 0.9) {
      hostileSent++
      return async () => {
        // The body ends before its Content-Length: the server can only close.
        const conn = await RawConnection.tls(target)
        conn.write(rawPost('/validate', REVIEW, { 'Content-Length': REVIEW.length + 500 }))
        conn.end()
        record(stats, 'body shorter than Content-Length, then EOF', 'close', await conn.next(options.answerTimeoutMs), () => 'truncated body + FIN')
        conn.destroy()
      }
    }
    if (roll < 0.91) {
      hostileSent++
      return async () => {
        // Pipelining without ever reading: the server must apply back-pressure, not buffer answers.
        const conn = await RawConnection.tls(target)
        conn.socket.pause()
        conn.write(Buffer.concat(Array.from({ length: 300 }, () => rawPost('/validate', REVIEW))))
        await new Promise((resolve) => setTimeout(resolve, 1_000))
        record(stats, 'pipelining 300 requests, never reading', 'any', { kind: 'closed', ms: 1_000 }, () => '')
        conn.destroy()
      }
    }
    if (roll < 0.915 && oversizeLeft > 0) {
      oversizeLeft--
      hostileSent++
      return async () => {
        // Really streaming past the body limit, chunked: refused with 413 mid-stream.
        const conn = await RawConnection.tls(target)
        conn.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
        const chunk = Buffer.concat([Buffer.from(`${(1024 * 1024).toString(16)}\r\n`), Buffer.alloc(1024 * 1024, 0x61), Buffer.from('\r\n')])
        for (let i = 0; i < 17 && !conn.ended; i++) {
          conn.write(chunk)
          await new Promise((resolve) => setImmediate(resolve))
        }
        record(stats, 'oversize (streamed, chunked)', '4xx', await conn.next(options.answerTimeoutMs), () => '17 MiB chunked')
        conn.destroy()
      }
    }
    hostileSent++
    return async () => {
      // TLS garbage on the TLS port: random bytes, or plain HTTP.
      const conn = await RawConnection.tcp(target)
      conn.write(random() < 0.5 ? randomBytes(16 + Math.floor(random() * 4096)) : rawPost('/validate', REVIEW))
      const reply = await conn.next(options.answerTimeoutMs)
      record(stats, 'TLS garbage', 'close', reply.kind === 'answer' ? { kind: 'closed', ms: reply.ms } : reply, () => 'not TLS')
      conn.destroy()
    }
  }
  let lastReport = 0
  const attackers = Array.from({ length: options.attackers }, async () => {
    for (let job = nextJob(); job; job = nextJob()) {
      try {
        await job()
      } catch (err) {
        record(stats, 'connection refused or failed', '4xx', { kind: 'timeout', ms: 0 }, () => (err as Error).message)
      }
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now()
        progress(`${hostileSent} hostile requests, ${valid.ok} valid reviews answered, ${((Date.now() - started) / 1000).toFixed(0)} s`)
      }
    }
  })
  await Promise.all(attackers)
  await Promise.all(slowJobs)
  attacking = false
  await Promise.all(validLoops)
  clearInterval(sampler)
  rss.afterMiB = (await rssOf(server)) / 2 ** 20

  // Back to baseline: the server idles (V8 gives memory back when allocation stops), measured
  // every second until RSS is within 10 % + 5 MiB of the baseline or settleMs passes.
  const settleUntil = Date.now() + options.settleMs
  do {
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    rss.settledMiB = (await rssOf(server)) / 2 ** 20
  } while (rss.settledMiB > rss.beforeMiB * 1.1 + 5 && Date.now() < settleUntil)
  rss.heapSettledMiB = await heapUsedMiB(server)
  agent.destroy()

  const metrics = await getMetricsPort(server, '/metrics').catch(() => ({ body: '' }))
  const series = metrics.body.split('\n').filter((line) => line.startsWith('controller_runtime_webhook_requests_total{')).length
  let alive = server.exitCode() === null
  if (alive) {
    try {
      alive = (await post(server, '/validate', validBody(0).body)).status === 200
    } catch {
      alive = false
    }
  }
  const sorted = [...valid.latencies].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return {
    hostileRequests: hostileSent,
    byScenario: stats,
    slow,
    valid: { sent: valid.sent, ok: valid.ok, failed: valid.failed, failures: valid.failures, p50ms: at(0.5), p99ms: at(0.99), maxMs: sorted[sorted.length - 1] ?? 0 },
    rss,
    serverAlive: alive,
    serverExitCode: server.exitCode(),
    requestMetricSeries: series,
    durationMs: Date.now() - started,
    stoppedByDeadline: Date.now() > deadline,
  }
}

/** V8 heap in use (nodejs_heap_size_used_bytes from the process's own /metrics), in MiB. */
async function heapUsedMiB(server: WebhookProcess): Promise<number> {
  const metrics = await getMetricsPort(server, '/metrics').catch(() => ({ body: '' }))
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics.body)?.[1] ?? 0) / 2 ** 20
}

/** Totals over scenarios: requests, wrong outcomes, and how they ended. */
export function totals(result: CampaignResult): { sent: number; wrong: number; answered4xx: number; answered2xx: number; answered5xx: number; closed: number; timeouts: number } {
  const t = { sent: 0, wrong: 0, answered4xx: 0, answered2xx: 0, answered5xx: 0, closed: 0, timeouts: 0 }
  for (const s of Object.values(result.byScenario)) {
    t.sent += s.sent
    t.wrong += s.wrong
    t.closed += s.closed
    t.timeouts += s.timeouts
    for (const [status, n] of Object.entries(s.answers)) {
      const code = Number(status)
      if (code >= 500) t.answered5xx += n
      else if (code >= 400) t.answered4xx += n
      else t.answered2xx += n
    }
  }
  return t
}
