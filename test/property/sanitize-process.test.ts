/**
 * Issue 14, "secrets never leaked", end to end: a real `runguard webhook` process (debug logging,
 * Events sent to a fake API server on loopback) receives generated writes with secret-looking
 * values in every field a message can quote, and bodies that are not JSON with a secret inside.
 * No piece of a secret may reach an Event the API server receives, a line the process logs, or a
 * label on its /metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { leaks, secret, validRun, type JsonObject, type Secret } from './arbitraries.ts'
import { SEED } from './property.ts'
import { getMetricsPort, keepAlive, post, startWebhook, writeKubeconfig } from './webhook-process.ts'

/** A loopback stand-in for the API server's Event endpoints: records every body, answers like the API. */
async function fakeApiServer(): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      bodies.push(`${req.method} ${req.url} ${text}`)
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' })
      res.end(text || '{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return { url: `http://127.0.0.1:${address.port}`, bodies, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

const PLACES: Array<(o: JsonObject, s: string) => void> = [
  (o, s) => ((o.spec as JsonObject).cancel = s),
  (o, s) => ((o.spec as JsonObject).desiredState = s),
  (o, s) => ((o.spec as JsonObject).parameters = { apiToken: { value: s } }),
  (o, s) => ((o.spec as JsonObject).parameters = { [s]: 7 }),
  (o, s) => ((o.spec as JsonObject).workload = { image: s }),
  (o, s) => ((o.spec as JsonObject).ttlSecondsAfterFinished = s),
  (o, s) => ((o.spec as JsonObject).agentRef = { name: [s] }),
]

t.test('a webhook process: Events, log lines and metric labels carry no secret', async (t) => {
  const api = await fakeApiServer()
  t.teardown(() => api.close())
  const dir = mkdtempSync(join(tmpdir(), 'runguard-prop-kube-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await startWebhook({
    kubeconfig: writeKubeconfig(dir, api.url),
    env: {
      RUNGUARD_LOG_LEVEL: 'debug',
      AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: '1000',
      // warn enforcement: violations are admitted with warnings, which a log line may carry too
      RUNGUARD_ENFORCEMENT: 'parameters=warn,images=warn,ttl=warn',
      AGENTS_CONTROLLER_IMAGES_ALLOWED: 'registry.example/*',
    },
  })
  t.teardown(() => server.stop())
  const agent = keepAlive(server.ca)
  t.teardown(() => agent.destroy())

  const secrets: Secret[] = fc.sample(secret, { seed: SEED, numRuns: 120 })
  const bases = fc.sample(validRun('AgentRun', true), { seed: SEED, numRuns: 120 })
  const kinds = [
    { group: 'agents.proompteng.ai', kind: 'AgentRun', resource: 'agentruns' },
    { group: 'tools.proompteng.ai', kind: 'ToolRun', resource: 'toolruns' },
  ]
  let sent = 0
  for (const [i, s] of secrets.entries()) {
    const kind = kinds[i % kinds.length]!
    const base: JsonObject = { ...bases[i]!, apiVersion: `${kind.group}/v1alpha1`, kind: kind.kind }
    const object: JsonObject = JSON.parse(JSON.stringify(base))
    object.metadata = { ...(object.metadata as JsonObject), name: `leak-${i}` }
    delete object.status
    PLACES[i % PLACES.length]!(object, s.text)
    const request = { uid: `leak-${i}`, kind: { group: kind.group, version: 'v1alpha1', kind: kind.kind }, resource: { group: kind.group, version: 'v1alpha1', resource: kind.resource }, name: `leak-${i}`, namespace: 'agents', operation: 'CREATE', userInfo: { username: 'alice@example.com' }, object }
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request })
    for (const path of ['/mutate', '/validate']) {
      await post(server, path, body, { agent })
      sent++
    }
    // A status write by a controller that the mutating webhook repairs: the repair quotes values.
    const stored = { ...base, metadata: { ...(base.metadata as JsonObject), name: `leak-${i}` }, status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z' } }
    const status = { uid: `leak-s-${i}`, kind: request.kind, resource: request.resource, subResource: 'status', name: `leak-${i}`, namespace: 'agents', operation: 'UPDATE', userInfo: { username: 'system:serviceaccount:agents:agents-sa' }, object: { ...stored, status: { phase: s.text.slice(0, 200), startedAt: s.text } }, oldObject: stored }
    await post(server, '/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: status }), { agent })
    // Not JSON at all, with the secret in it: the parse error must not carry it into a log line.
    await post(server, '/validate', `{"apiVersion": "admission.k8s.io/v1", "request": ${s.text}`, { agent })
    sent += 2
  }
  // Let the recorder's asynchronous writes reach the fake API server.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const metrics = (await getMetricsPort(server, '/metrics')).body
  t.equal(server.exitCode(), null, 'the server is still running')
  t.ok(api.bodies.length > 50, `Events reached the fake API server (${api.bodies.length} writes for ${sent} requests)`)

  const where = { events: [] as string[], logs: [] as string[], metrics: [] as string[] }
  for (const s of secrets) {
    const inEvent = api.bodies.find((b) => leaks(b, s.core))
    if (inEvent) where.events.push(`${s.shape}: ${inEvent.slice(0, 300)}`)
    const inLog = server.stdout.find((line) => leaks(line, s.core))
    if (inLog) where.logs.push(`${s.shape}: ${inLog.slice(0, 400)}`)
    const inMetric = metrics.split('\n').find((line) => leaks(line, s.core))
    if (inMetric) where.metrics.push(`${s.shape}: ${inMetric.slice(0, 300)}`)
  }
  t.same(where.events, [], 'no Event the API server received carries a secret')
  t.same(where.metrics, [], 'no metric label carries a secret')
  // Known, outside this files: the decision log line (src/admission/observer.ts logDecision)
  // writes decision.warnings and decision.repairs unredacted, and the HTTP adapter's error handler
  // (src/server/webhook-app.ts) logs err.message of a JSON parse error, which quotes the body.
  // Reported to the lead with the fix (sanitizeMessage on each warning, on the repairs' values and
  // on the error message).
  const leakingLines = new Set(server.stdout.filter((line) => secrets.some((s) => leaks(line, s.core))).map((line) => (JSON.parse(line) as { msg: string }).msg))
  t.comment(`log lines carrying a secret: ${JSON.stringify([...leakingLines])}`)
  t.same(where.logs, [], 'no log line carries a secret')
})
