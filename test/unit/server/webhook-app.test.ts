/**
 * buildWebhookApp through Fastify's inject(): the route decodes the AdmissionReview, calls the
 * path's handler and sends the review back; malformed bodies are answered before any decision;
 * the observer hears about every decision exactly once. The same over real HTTPS, with TLS reload
 * and shutdown, is test/unit/cmd/webhook.test.ts.
 */
import t from 'tap'
import type { WebhookDefinition } from '../../../src/admission/definition.ts'
import type { AdmissionReview } from '../../../src/admission/types.ts'
import { loadConfig } from '../../../src/config.ts'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { buildWebhookApp, type WebhookAppOptions } from '../../../src/server/webhook-app.ts'
import { WEBHOOKS } from '../../../webhooks/index.ts'
import { capturedLogger, recordingEventSink, recordingObserver, sample } from '../../helpers/observe.ts'
import { agentRun, decodePatch, reviewFor, statusWrite } from '../../helpers/reviews.ts'

const config = loadConfig({})

async function app(options: Partial<WebhookAppOptions> = {}) {
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const observer = recordingObserver(options.observer)
  const built = await buildWebhookApp({ config, logger: silentLogger(), metrics, webhooks: WEBHOOKS, ...options, observer })
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await built.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: res.statusCode, json: res.json() as unknown }
  }
  return { app: built, metrics, observer, post }
}

const responseOf = (json: unknown) => (json as AdmissionReview).response

t.test('decode → dispatch → encode: the review comes back with the uid, the verdict and no patch from /validate', async (t) => {
  const { post, observer } = await app()
  const res = await post('/validate', reviewFor(agentRun('bad', { cancel: 'yes' }), { uid: 'uid-1' }))
  t.equal(res.status, 200)
  t.same((res.json as AdmissionReview).apiVersion, 'admission.k8s.io/v1')
  const r = responseOf(res.json)
  t.equal(r?.uid, 'uid-1')
  t.equal(r?.allowed, false)
  t.equal(r?.status?.code, 422)
  t.match(r?.status?.message, /^spec\.cancel: Invalid value: "yes"/)
  t.equal(r?.patch, undefined)
  t.equal(observer.calls.length, 1, 'one decision, reported once')
})

t.test('/mutate answers with a base64 JSONPatch', async (t) => {
  const { post } = await app({ now: () => new Date('2026-11-23T12:00:00.000Z') })
  const old = agentRun('m', {}, { status: { phase: 'Pending' } })
  const r = responseOf((await post('/mutate', statusWrite(old, { phase: 'Running' }))).json)
  t.equal(r?.patchType, 'JSONPatch')
  t.same(decodePatch(r?.patch), [
    { op: 'add', path: '/status/startedAt', value: '2026-11-23T12:00:00.000Z' },
    { op: 'add', path: '/status/updatedAt', value: '2026-11-23T12:00:00.000Z' },
  ])
})

t.test('the observer is told once per decision: the request, the decision, which webhook, and the trace', async (t) => {
  const { post, observer } = await app()
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  await post('/validate', reviewFor(agentRun('good'), { uid: 'uid-good' }), { traceparent })
  await post('/mutate', statusWrite(agentRun('s', {}, { status: { phase: 'Pending' } }), { phase: 'Running' }, { uid: 'uid-status' }))
  await post('/validate', reviewFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }, { uid: 'uid-other' }))
  t.same(
    observer.calls.map((c) => [c.request.uid, c.route.path, c.route.webhook, c.decision.allowed, c.decision.reason]),
    [
      ['uid-good', '/validate', 'validate.runguard.proompteng.ai', true, 'Allowed'],
      ['uid-status', '/mutate', 'mutate.runguard.proompteng.ai', true, 'Patched'],
      ['uid-other', '/validate', 'unhandled', true, 'UnhandledResource'],
    ],
  )
  const [first, second] = observer.calls
  t.equal(first?.trace.id(), '4bf92f3577b34da6a3ce929d0e0e4736', 'the W3C trace id from traceparent')
  t.match(second?.trace.id(), /^[0-9a-f]{32}$/, 'a fresh trace id without traceparent')
  t.equal(typeof first?.trace.started, 'bigint')
})

t.test('malformed bodies get a JSON 4xx before any decision, counted by HTTP code; the next request is served', async (t) => {
  const { post, app: server, metrics, observer } = await app({ bodyLimit: 64 * 1024 })
  const notJson = await post('/validate', '{"apiVersion": ')
  t.equal(notJson.status, 400)
  t.match((notJson.json as { message: string }).message, /JSON/i)

  const text = await server.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'text/plain' }, payload: 'hello' })
  t.equal(text.statusCode, 415)

  const noRequest = await post('/validate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })
  t.equal(noRequest.status, 400)
  t.same(noRequest.json, { message: "malformed AdmissionReview: body must have required property 'request'", code: 'BadRequest' })

  const huge = await post('/validate', reviewFor(agentRun('huge', { parameters: { blob: 'x'.repeat(100 * 1024) } })))
  t.equal(huge.status, 413)

  t.equal(observer.calls.length, 0, 'no decision was made')
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '400' }), 2)
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '415' }), 1)
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '413' }), 1)
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '200' }), 0)

  const after = await post('/validate', reviewFor(agentRun('after')))
  t.equal(responseOf(after.json)?.allowed, true)
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '200' }), 1)
  t.equal(await sample(metrics.webhookInFlight, { webhook: '/validate' }), 0, 'nothing left in flight')
})

t.test('the default observer: decisions counted, an InvalidSpec Event, one log line per decision', async (t) => {
  const events = recordingEventSink()
  const { logger, lines } = capturedLogger('info')
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const server = await buildWebhookApp({ config, logger, metrics, events, webhooks: WEBHOOKS })
  const send = (body: unknown) => server.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
  await send(reviewFor(agentRun('prompted', { parameters: { prompt: 'x' } }), { uid: 'uid-invalid' }))
  await send(reviewFor(agentRun('fine'), { uid: 'uid-fine' }))
  t.same(events.sent.map((e) => [e.reason, e.regarding.name, e.action]), [['InvalidSpec', 'prompted', 'Admission']])
  t.same(lines.map((l) => [l.msg, l.uid, l.webhook]), [['admission denied', 'uid-invalid', 'validate.runguard.proompteng.ai']], 'allowed decisions log at debug')
  t.equal(await sample(metrics.admissionDecisions, { webhook: '/validate', kind: 'AgentRun', operation: 'CREATE', allowed: 'false', reason: 'ForbiddenParameterKey' }), 1)
  t.equal(await sample(metrics.admissionDecisions, { webhook: '/validate', kind: 'AgentRun', operation: 'CREATE', allowed: 'true', reason: 'Allowed' }), 1)
})

t.test('a fault while reporting is a 500 with the error logged, not a crash', async (t) => {
  const { logger, lines } = capturedLogger('info')
  const failing = { decided: () => { throw new Error('observer broke') } }
  const { post, metrics } = await app({ logger, observer: failing })
  const res = await post('/validate', reviewFor(agentRun('x')))
  t.equal(res.status, 500)
  t.same(res.json, { message: 'observer broke', code: 'Error' })
  t.same(lines.map((l) => l.msg), ['admission request failed'])
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '500' }), 1)
  t.equal(await sample(metrics.webhookRequests, { webhook: '/validate', code: '200' }), 0, 'counted once, as the 500')
})

t.test('health: /livez always, /readyz follows isReady', async (t) => {
  let ready = true
  const { app: server } = await app({ isReady: () => ready })
  t.equal((await server.inject('/livez')).statusCode, 200)
  t.equal((await server.inject('/readyz')).body, 'ok')
  ready = false
  const notReady = await server.inject('/readyz')
  t.equal(notReady.statusCode, 503)
  t.equal(notReady.body, 'not ready')
})

t.test('a path serving both modes is refused at start', async (t) => {
  const validating = WEBHOOKS.find((w) => w.mode === 'validating') as WebhookDefinition
  const clash: WebhookDefinition = { ...(WEBHOOKS.find((w) => w.mode === 'mutating') as WebhookDefinition), path: validating.path }
  await t.rejects(
    buildWebhookApp({ config, logger: silentLogger(), metrics: createMetrics({ component: 'webhook', version: 'test', processMetrics: false }), webhooks: [validating, clash] }),
    /already serves validating webhooks/,
  )
})

t.test('lame duck: while shutting down every answer closes its connection, the review still answered', async (t) => {
  let shuttingDown = false
  const { app: built } = await app({ closesConnections: () => shuttingDown })
  const review = JSON.stringify(reviewFor(agentRun('lame'), { uid: 'uid-lame' }))
  const ask = () => built.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: review })
  const before = await ask()
  t.not(before.headers.connection, 'close', 'keep-alive while serving normally')
  shuttingDown = true
  const during = await ask()
  t.equal(during.statusCode, 200)
  t.equal(during.headers.connection, 'close', 'Connection: close while shutting down')
  t.equal(responseOf(during.json())?.uid, 'uid-lame')
})

t.test('default body limit: the largest review the API server can send passes, beyond 7 MiB is 413', async (t) => {
  const { post } = await app()
  // object + oldObject of 3 MiB each: what a write at the API server's own body limit produces.
  const big = (name: string) => agentRun(name, { parameters: { blob: 'x'.repeat(3 * 1024 * 1024 - 4096) } })
  const largest = await post('/validate', reviewFor(big('largest'), { oldObject: big('largest') }))
  t.equal(largest.status, 200, 'object + oldObject at 3 MiB each are judged')
  const over = await post('/validate', reviewFor(agentRun('over', { parameters: { blob: 'x'.repeat(7 * 1024 * 1024) } })))
  t.equal(over.status, 413, 'over 7 MiB is refused before parsing')
})
