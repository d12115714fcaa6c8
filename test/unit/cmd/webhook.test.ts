/**
 * The webhook server over real HTTPS with real AdmissionReview JSON: every endpoint, malformed
 * bodies, certificate reload during traffic, graceful shutdown with a request in flight, metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import type { AdmissionReview } from '../../../src/admission/types.ts'
import { writeCertificateBundle } from '../../../src/certs/write.ts'
import { loadConfig } from '../../../src/config.ts'
import { silentLogger } from '../../../src/log.ts'
import { startWebhookServer, type RunningWebhookServer } from '../../../src/cmd/webhook.ts'
import { getHttp, getHttps, postHttps } from '../../helpers/https.ts'
import { agentRun, decodePatch, reviewFor, statusWrite } from '../../helpers/reviews.ts'

const dir = mkdtempSync(join(tmpdir(), 'runguard-server-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const first = await writeCertificateBundle(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
const cas: string[] = [first.caPem]
const config = loadConfig({})
let server: RunningWebhookServer = await startWebhookServer(
  { port: 0, host: '127.0.0.1', tlsCert: first.certPath, tlsKey: first.keyPath, metricsPort: 0, certPollMs: 100, bodyLimit: 4 * 1024 * 1024 },
  config,
  silentLogger(),
  {}, // no kube access: admission must still work, Events off
)
t.teardown(() => server.close())

const post = (path: string, body: unknown, contentType?: string) =>
  postHttps(server.port, path, typeof body === 'string' ? body : JSON.stringify(body), { ca: cas, contentType })
const responseOf = (json: unknown) => (json as AdmissionReview).response

t.test('/validate denies a bad cancel with 422 and echoes the uid', async (t) => {
  const review = reviewFor(agentRun('bad', { cancel: 'yes' }), { uid: 'uid-validate-1' })
  const res = await post('/validate', review)
  t.equal(res.status, 200)
  const r = responseOf(res.json)
  t.equal(r?.uid, 'uid-validate-1')
  t.equal(r?.allowed, false)
  t.equal(r?.status?.code, 422)
  t.match(r?.status?.message, /spec\.cancel/)
  t.equal(r?.patch, undefined, 'validating responses never patch')
})

t.test('/validate denies a startedAt overwrite, showing old and new values', async (t) => {
  const old = agentRun('r', {}, { status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z' } })
  const res = await post('/validate', statusWrite(old, { phase: 'Running', startedAt: '2026-11-23T11:00:00Z' }))
  const r = responseOf(res.json)
  t.equal(r?.allowed, false)
  t.match(r?.status?.message, /status\.startedAt/)
  t.match(r?.status?.message, /2026-11-23T10:00:00Z/)
  t.match(r?.status?.message, /2026-11-23T11:00:00Z/)
})

t.test('/validate allows a good AgentRun', async (t) => {
  const res = await post('/validate', reviewFor(agentRun('good', { cancel: false })))
  t.equal(responseOf(res.json)?.allowed, true)
})

t.test('/mutate stamps startedAt on the first transition to Running, as a JSONPatch', async (t) => {
  const old = agentRun('m', {}, { status: { phase: 'Pending' } })
  const res = await post('/mutate', statusWrite(old, { phase: 'Running' }))
  const r = responseOf(res.json)
  t.equal(r?.allowed, true)
  t.equal(r?.patchType, 'JSONPatch')
  const ops = decodePatch(r?.patch) as Array<{ op: string; path: string; value?: unknown }>
  t.ok(ops.some((op) => op.path === '/status/startedAt' && op.op === 'add'), JSON.stringify(ops))
  t.ok(ops.some((op) => op.path === '/status/updatedAt'), JSON.stringify(ops))
})

t.test('/mutate makes no patch for an identical status write', async (t) => {
  const status = { phase: 'Running', startedAt: '2026-11-23T10:00:00Z', updatedAt: '2026-11-23T10:00:00Z' }
  const old = agentRun('same', {}, { status })
  const r = responseOf((await post('/mutate', statusWrite(old, { ...status }))).json)
  t.equal(r?.allowed, true)
  t.equal(r?.patch, undefined)
  t.equal(r?.patchType, undefined)
})

t.test('/mutate moves a labelled Job TTL into the annotation', async (t) => {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'r-job', namespace: 'team-a', labels: { 'agents.proompteng.ai/agent-run': 'r' } },
    spec: { ttlSecondsAfterFinished: 300, template: { spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } } },
  }
  const r = responseOf((await post('/mutate', reviewFor(job))).json)
  const ops = decodePatch(r?.patch) as Array<{ op: string; path: string; value?: unknown }>
  t.ok(ops.some((op) => op.op === 'remove' && op.path === '/spec/ttlSecondsAfterFinished'), JSON.stringify(ops))
  t.ok(JSON.stringify(ops).includes('300'), 'the held value is kept in the annotation')
})

t.test('malformed requests get a clear 4xx, and the next request is served', async (t) => {
  const notJson = await post('/validate', '{"apiVersion": ')
  t.equal(notJson.status, 400)
  t.match((notJson.json as { message: string }).message, /JSON/i)

  const wrongType = await post('/validate', 'hello', 'text/plain')
  t.equal(wrongType.status, 415)

  const noRequest = await post('/validate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })
  t.equal(noRequest.status, 400)
  t.match((noRequest.json as { message: string }).message, /must have required property 'request'/)

  const wrongVersion = await post('/validate', { ...reviewFor(agentRun('x')), apiVersion: 'admission.k8s.io/v1beta1' })
  t.equal(wrongVersion.status, 400)
  t.match((wrongVersion.json as { message: string }).message, /apiVersion/)

  const huge = await post('/validate', JSON.stringify(reviewFor(agentRun('huge', { parameters: { blob: 'x'.repeat(5 * 1024 * 1024) } }))))
  t.equal(huge.status, 413)

  const wrongShape = responseOf((await post('/validate', reviewFor({ apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name: 'w' }, spec: 'oops' as never }))).json)
  t.equal(wrongShape?.allowed, false)
  t.equal(wrongShape?.status?.code, 400)
  t.match(wrongShape?.status?.message, /spec/)

  const unknownKind = responseOf((await post('/validate', reviewFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }))).json)
  t.equal(unknownKind?.allowed, true, 'resources we do not own are never blocked')

  const after = await post('/validate', reviewFor(agentRun('after')))
  t.equal(after.status, 200)
  t.equal(responseOf(after.json)?.allowed, true)
})

t.test('health endpoints', async (t) => {
  t.equal((await getHttps(server.port, '/livez', cas[0] as string)).status, 200)
  t.equal((await getHttps(server.port, '/readyz', cas[0] as string)).status, 200)
  t.equal((await getHttp(server.metricsPort, '/readyz')).status, 200)
})

t.test('metrics: controller-runtime names, real buckets, decisions by reason', async (t) => {
  const res = await getHttp(server.metricsPort, '/metrics')
  t.equal(res.status, 200)
  t.match(res.body, /controller_runtime_webhook_requests_total\{webhook="\/validate",code="200"\} \d+/)
  t.match(res.body, /controller_runtime_webhook_requests_total\{webhook="\/validate",code="400"\} \d+/)
  t.match(res.body, /controller_runtime_webhook_latency_seconds_bucket\{le="0.001",webhook="\/validate"\} \d+/)
  t.match(res.body, /runguard_admission_decisions_total\{webhook="\/validate",kind="AgentRun",operation="CREATE",allowed="false",reason="InvalidCancel"\} 1/)
  t.match(res.body, /runguard_admission_decisions_total\{webhook="\/mutate",kind="Job",operation="CREATE",allowed="true",reason="Patched"\} 1/)
  t.match(res.body, /runguard_build_info\{version="[^"]+",node_version="v24/)
  t.match(res.body, /process_resident_memory_bytes/)
  t.match(res.body, /runguard_tls_certificate_expiry_timestamp_seconds \d+/)
})

t.test('certificate hot reload during traffic: no failed request, new handshakes use the new pair', async (t) => {
  const before = new X509Certificate((await import('node:fs')).readFileSync(first.certPath)).fingerprint256
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => keepAlive.destroy())
  let failures = 0
  let served = 0
  let stop = false
  const traffic = (async () => {
    while (!stop) {
      const batch = await Promise.allSettled(
        Array.from({ length: 4 }, () => postHttps(server.port, '/validate', JSON.stringify(reviewFor(agentRun('load'))), { ca: cas, agent: keepAlive })),
      )
      for (const r of batch) if (r.status === 'rejected' || r.value.status !== 200) failures++
      served += batch.length
    }
  })()
  await new Promise((r) => setTimeout(r, 200))
  // A new CA and serving pair, as a rotation with a CA bundle holding both would deliver.
  const second = await writeCertificateBundle(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  cas.push(second.caPem)
  const after = new X509Certificate((await import('node:fs')).readFileSync(second.certPath)).fingerprint256
  t.not(after, before)
  const deadline = Date.now() + 5000
  while (server.certificates.keyPair.cert.trim() !== (await import('node:fs')).readFileSync(second.certPath, 'utf8').trim() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50))
  }
  await new Promise((r) => setTimeout(r, 200))
  stop = true
  await traffic
  t.equal(failures, 0, `no request failed during the reload (${served} served)`)
  t.ok(served > 20, `traffic kept flowing (${served} requests)`)
  const fresh = await postHttps(server.port, '/validate', JSON.stringify(reviewFor(agentRun('fresh'))), { ca: cas })
  t.equal(fresh.peerFingerprint, after, 'a new connection is served with the new certificate')
})

t.test('graceful shutdown drains a request in flight', async (t) => {
  let closing: Promise<void> | undefined
  const inFlight = postHttps(server.port, '/validate', JSON.stringify(reviewFor(agentRun('slow', { cancel: true }))), {
    ca: cas,
    pauseMidBodyMs: 500,
    onFirstHalfSent: () => {
      setTimeout(() => {
        closing = server.close()
      }, 100)
    },
  })
  const res = await inFlight
  t.equal(res.status, 200, 'the in-flight request completed')
  t.equal(responseOf(res.json)?.allowed, true)
  t.ok(closing, 'close() was called while the request was in flight')
  await closing
  await t.rejects(postHttps(server.port, '/validate', JSON.stringify(reviewFor(agentRun('late'))), { ca: cas }), 'no new connections after close')
  // Restart so teardown's close() has a live server.
  server = await startWebhookServer({ port: 0, host: '127.0.0.1', tlsCert: first.certPath, tlsKey: first.keyPath, metricsPort: 0 }, config, silentLogger(), {})
})
