/**
 * restEventTransport (the webhook's, over src/kube/rest.ts) against a local HTTPS server standing
 * in for the API server: paths, verbs, content types, bodies, and errors carrying the same fields
 * and messages as kubeEventTransport's (client-node) — checked side by side on the same answers.
 */
import { ApiException, KubeConfig } from '@kubernetes/client-node'
import t, { type Test } from 'tap'
import { kubeEventTransport } from '../../../src/events/kube-transport.ts'
import { EventTransportError, isApiNotServed, restEventTransport, statusCodeOf, toTransportError, type EventsV1Body, type EventTransport } from '../../../src/events/transport.ts'
import { createRestClient } from '../../../src/kube/rest.ts'
import { coreV1Body, eventsV1Body } from './bodies.ts'
import { tlsApiServer, type Answer, type SeenRequest, type TlsApiServer } from '../../helpers/tls-api-server.ts'


const body = eventsV1Body
const coreBody = coreV1Body

function restTransport(api: TlsApiServer): { transport: EventTransport; close: () => void } {
  const client = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, token: 'test', source: 'test' }, { timeoutMs: 2_000 })
  return { transport: restEventTransport(client), close: () => client.close() }
}

function kubeTransport(api: TlsApiServer): EventTransport {
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: api.url, caData: Buffer.from(api.caPem).toString('base64') }],
    users: [{ name: 'u', token: 'test' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  })
  return kubeEventTransport(kubeConfig)
}

async function server(t: Test, answer: (req: SeenRequest) => Answer) {
  const api = await tlsApiServer(answer)
  t.teardown(api.close)
  const rest = restTransport(api)
  t.teardown(rest.close)
  return { api, transport: rest.transport }
}

t.test('creates and merge-patches events.k8s.io/v1 and core v1 Events', async (t) => {
  const { api, transport } = await server(t, (req) =>
    req.method === 'POST' ? { status: 201, body: { ...(req.json as object), metadata: { name: 'server-chose-this' } } } : { status: 200, body: req.json },
  )

  t.same(await transport.createEventsV1('agents', body), { name: 'server-chose-this' }, 'the name the API server answers with')
  await transport.patchEventsV1('agents', 'run-1.18a2b3c4d5e6f708', { series: { count: 3, lastObservedTime: '2026-11-23T11:00:09.000000Z' } })
  t.same(await transport.createCoreV1('agents', coreBody), { name: 'server-chose-this' })
  await transport.patchCoreV1('agents', 'run-1.abc', { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' })

  const [create, patch, coreCreate, corePatch] = api.seen
  t.match(create, { method: 'POST', url: '/apis/events.k8s.io/v1/namespaces/agents/events', headers: { 'content-type': 'application/json', authorization: 'Bearer test' } })
  t.same(create?.json, body, 'the body exactly as the recorder built it')
  t.match(patch, { method: 'PATCH', url: '/apis/events.k8s.io/v1/namespaces/agents/events/run-1.18a2b3c4d5e6f708', headers: { 'content-type': 'application/merge-patch+json' } })
  t.same(patch?.json, { series: { count: 3, lastObservedTime: '2026-11-23T11:00:09.000000Z' } })
  t.match(coreCreate, { method: 'POST', url: '/api/v1/namespaces/agents/events', headers: { 'content-type': 'application/json' } })
  t.same(coreCreate?.json, coreBody)
  t.match(corePatch, { method: 'PATCH', url: '/api/v1/namespaces/agents/events/run-1.abc', headers: { 'content-type': 'application/merge-patch+json' } })
  t.same(corePatch?.json, { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' })
})

t.test('a create answered without metadata.name returns the name that was sent', async (t) => {
  const { transport } = await server(t, () => ({ status: 201, body: {} }))
  t.same(await transport.createEventsV1('agents', body), { name: 'run-1.18a2b3c4d5e6f708' })
  t.same(await transport.createCoreV1('agents', coreBody), { name: 'run-1.abc' })
})

const status = (code: number, reason: string, message: string, details?: object) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
})

/** One answer per namespace, so one server covers every error. */
function errorAnswers(req: SeenRequest): Answer {
  const namespace = /\/namespaces\/([^/]+)\//.exec(req.url)?.[1]
  switch (namespace) {
    case 'gone':
      return { status: 404, body: status(404, 'NotFound', 'namespaces "gone" not found', { name: 'gone', kind: 'namespaces' }) }
    case 'old-cluster':
      return { status: 404, body: '404 page not found' }
    case 'expired':
      return { status: 404, body: status(404, 'NotFound', 'events.events.k8s.io "x" not found', { name: 'x', group: 'events.k8s.io', kind: 'events' }) }
    case 'taken':
      return { status: 409, body: status(409, 'AlreadyExists', 'events.events.k8s.io "run-1.18a2b3c4d5e6f708" already exists', { kind: 'events' }) }
    case 'locked':
      return { status: 403, body: status(403, 'Forbidden', 'events is forbidden: User "x" cannot create resource "events"', { kind: 'events' }) }
    case 'broken':
      return { status: 500, body: status(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out') }
    case 'weird':
      return { status: 500, body: { unexpected: true } }
    default:
      return { status: 503, body: '  upstream connect error\n' }
  }
}

type Call = { name: string; run: (transport: EventTransport) => Promise<unknown> }

const inNamespace = (namespace: string): EventsV1Body => ({ ...body, metadata: { ...body.metadata, namespace } })
const calls: Call[] = [
  { name: 'namespace gone', run: (tr) => tr.createEventsV1('gone', inNamespace('gone')) },
  { name: 'API not served', run: (tr) => tr.createEventsV1('old-cluster', inNamespace('old-cluster')) },
  { name: 'Event expired', run: (tr) => tr.patchEventsV1('expired', 'x', { series: { count: 2, lastObservedTime: '2026-11-23T11:00:05.000000Z' } }) },
  { name: 'conflict', run: (tr) => tr.createEventsV1('taken', inNamespace('taken')) },
  { name: 'forbidden', run: (tr) => tr.patchCoreV1('locked', 'x', { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' }) },
  { name: 'server error', run: (tr) => tr.createCoreV1('broken', { ...coreBody, metadata: { ...coreBody.metadata, namespace: 'broken' } }) },
  { name: 'not a Status', run: (tr) => tr.createCoreV1('weird', { ...coreBody, metadata: { ...coreBody.metadata, namespace: 'weird' } }) },
  { name: 'text body', run: (tr) => tr.createEventsV1('other', inNamespace('other')) },
]

const fields = (err: unknown) => {
  const e = err as EventTransportError
  return { type: e.constructor.name, message: e.message, statusCode: e.statusCode, statusReason: e.statusReason, detailsKind: e.detailsKind, apiNotServed: isApiNotServed(e) }
}

t.test('errors carry the status code, reason and details.kind', async (t) => {
  const { transport } = await server(t, errorAnswers)
  const results = new Map<string, unknown>()
  for (const call of calls) results.set(call.name, await call.run(transport).catch((err: unknown) => err))
  for (const err of results.values()) t.type(err, EventTransportError)

  t.same(fields(results.get('namespace gone')), {
    type: 'EventTransportError',
    message: 'create events.k8s.io/v1 Event gone/run-1.18a2b3c4d5e6f708: HTTP 404 NotFound: namespaces "gone" not found',
    statusCode: 404,
    statusReason: 'NotFound',
    detailsKind: 'namespaces',
    apiNotServed: false,
  }, 'a missing namespace is not a missing API')
  t.same(fields(results.get('API not served')), {
    type: 'EventTransportError',
    message: 'create events.k8s.io/v1 Event old-cluster/run-1.18a2b3c4d5e6f708: HTTP 404: 404 page not found',
    statusCode: 404,
    statusReason: undefined,
    detailsKind: undefined,
    apiNotServed: true,
  }, 'a plain 404: the API group is not served')
  t.match(fields(results.get('Event expired')), { statusCode: 404, statusReason: 'NotFound', detailsKind: 'events', message: /^patch events\.k8s\.io\/v1 Event expired\/x: HTTP 404 NotFound: / })
  t.match(fields(results.get('conflict')), { statusCode: 409, statusReason: 'AlreadyExists', detailsKind: 'events', message: /HTTP 409 AlreadyExists: events.events.k8s.io "run-1.18a2b3c4d5e6f708" already exists$/ })
  t.match(fields(results.get('forbidden')), { statusCode: 403, statusReason: 'Forbidden', message: /^patch v1 Event locked\/x: HTTP 403 Forbidden: events is forbidden/ })
  t.match(fields(results.get('server error')), { statusCode: 500, statusReason: 'InternalError', detailsKind: undefined, message: /^create v1 Event broken\/run-1\.abc: HTTP 500 InternalError: Internal error occurred/ })
  t.match(fields(results.get('not a Status')), { statusCode: 500, statusReason: undefined, message: /: HTTP 500: \{"unexpected":true\}$/ })
  t.match(fields(results.get('text body')), { statusCode: 503, message: /: HTTP 503: upstream connect error$/ })
})

t.test('the same answers give the same errors as the client-node transport', async (t) => {
  const { api, transport } = await server(t, errorAnswers)
  const kube = kubeTransport(api)
  for (const call of calls) {
    const rest = fields(await call.run(transport).catch((err: unknown) => err))
    const viaClientNode = fields(await call.run(kube).catch((err: unknown) => err))
    t.same(rest, viaClientNode, call.name)
  }
})

t.test('no answer at all: an error without a status code', async (t) => {
  const api = await tlsApiServer(() => ({ status: 200, body: {} }))
  await api.close()
  const rest = restTransport(api)
  t.teardown(rest.close)
  const err = await rest.transport.createEventsV1('agents', body).catch((e: unknown) => e)
  t.type(err, EventTransportError)
  t.match(err, { message: /^create events\.k8s\.io\/v1 Event agents\/run-1\.18a2b3c4d5e6f708: connect ECONNREFUSED/ })
  t.equal((err as EventTransportError).statusCode, undefined)
  t.notOk(isApiNotServed(err))
})

t.test('toTransportError still maps a raw client-node ApiException (recognised by shape, without importing client-node)', async (t) => {
  const thrown = new ApiException(404, 'Unknown API Status Code!', JSON.stringify(status(404, 'NotFound', 'namespaces "gone" not found', { kind: 'namespaces' })), {})
  const err = toTransportError(thrown, 'create v1 Event gone/x')
  t.match(err, { statusCode: 404, statusReason: 'NotFound', detailsKind: 'namespaces', message: 'create v1 Event gone/x: HTTP 404 NotFound: namespaces "gone" not found' })
  t.equal(err.cause, thrown)
  t.equal(statusCodeOf(thrown), 404)
  t.notOk(isApiNotServed(err))
  const network = toTransportError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'what')
  t.match(network, { message: 'what: connect ECONNREFUSED 127.0.0.1:1', statusCode: undefined })
})
