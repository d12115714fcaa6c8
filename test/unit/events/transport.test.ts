/**
 * The real transport against a local HTTP server standing in for the API server: paths, verbs,
 * content types, body encoding (MicroTime with six fraction digits) and error mapping.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import t from 'tap'
import { kubeEventTransport } from '../../../src/events/kube-transport.ts'
import { EventTransportError, isApiNotServed } from '../../../src/events/transport.ts'
import { coreV1Body, eventsV1Body } from './bodies.ts'

interface Seen {
  method: string
  url: string
  contentType: string | undefined
  body: unknown
}

type Answer = { status: number; body: unknown }

async function apiServer(answer: (req: Seen) => Answer): Promise<{ kubeConfig: KubeConfig; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')))
    req.on('end', () => {
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body: raw ? JSON.parse(raw) : undefined }
      seen.push(entry)
      const { status, body } = answer(entry)
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' })
      res.end(typeof body === 'string' ? body : JSON.stringify(body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  })
  return { kubeConfig, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const body = eventsV1Body

t.test('creates and merge-patches events.k8s.io/v1 and core v1 Events', async (t) => {
  const api = await apiServer((req) => ({ status: req.method === 'POST' ? 201 : 200, body: req.body ?? {} }))
  t.teardown(api.close)
  const transport = kubeEventTransport(api.kubeConfig)

  t.same(await transport.createEventsV1('agents', body), { name: 'run-1.18a2b3c4d5e6f708' })
  await transport.patchEventsV1('agents', 'run-1.18a2b3c4d5e6f708', { series: { count: 3, lastObservedTime: '2026-11-23T11:00:09.000000Z' } })
  await transport.createCoreV1('agents', coreV1Body)
  await transport.patchCoreV1('agents', 'run-1.abc', { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' })

  const [create, patch, coreCreate, corePatch] = api.seen
  t.match(create, { method: 'POST', url: '/apis/events.k8s.io/v1/namespaces/agents/events', contentType: /^application\/json/ })
  t.match(create?.body, {
    eventTime: '2026-11-23T11:00:00.123000Z',
    series: { count: 2, lastObservedTime: '2026-11-23T11:00:05.000000Z' },
    reportingController: 'runguard.proompteng.ai/webhook',
    regarding: { kind: 'AgentRun', name: 'run-1' },
  })
  t.match(patch, { method: 'PATCH', url: '/apis/events.k8s.io/v1/namespaces/agents/events/run-1.18a2b3c4d5e6f708', contentType: 'application/merge-patch+json' })
  t.same(patch?.body, { series: { count: 3, lastObservedTime: '2026-11-23T11:00:09.000000Z' } })
  t.match(coreCreate, { method: 'POST', url: '/api/v1/namespaces/agents/events' })
  t.match(coreCreate?.body, { firstTimestamp: '2026-11-23T11:00:00.000Z', count: 1, involvedObject: { name: 'run-1' } })
  t.match(corePatch, { method: 'PATCH', url: '/api/v1/namespaces/agents/events/run-1.abc', contentType: 'application/merge-patch+json' })
  t.same(corePatch?.body, { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' })
})

t.test('errors carry the status code, reason and details.kind', async (t) => {
  const api = await apiServer((req) =>
    req.url.includes('/namespaces/gone/')
      ? { status: 404, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', message: 'namespaces "gone" not found', details: { name: 'gone', kind: 'namespaces' }, code: 404 } }
      : req.url.startsWith('/apis/events.k8s.io')
        ? { status: 404, body: '404 page not found' }
        : { status: 403, body: { kind: 'Status', reason: 'Forbidden', message: 'events is forbidden: User "x" cannot create resource "events"', code: 403 } },
  )
  t.teardown(api.close)
  const transport = kubeEventTransport(api.kubeConfig)

  const notServed = await transport.createEventsV1('agents', body).catch((err: unknown) => err)
  t.type(notServed, EventTransportError)
  t.match(notServed, { statusCode: 404, message: /404 page not found/ })
  t.ok(isApiNotServed(notServed), 'a plain 404: the API group is not served')

  const gone = await transport.createEventsV1('gone', { ...body, metadata: { ...body.metadata, namespace: 'gone' } }).catch((err: unknown) => err)
  t.match(gone, { statusCode: 404, statusReason: 'NotFound', detailsKind: 'namespaces', message: /namespaces "gone" not found/ })
  t.notOk(isApiNotServed(gone), 'a missing namespace is not a missing API')

  const forbidden = await transport.patchCoreV1('agents', 'x', { count: 2, lastTimestamp: '2026-11-23T11:00:05Z' }).catch((err: unknown) => err)
  t.match(forbidden, { statusCode: 403, statusReason: 'Forbidden', message: /^patch v1 Event agents\/x: HTTP 403 Forbidden: events is forbidden/ })
})

t.test('no answer at all: an error without a status code', async (t) => {
  const api = await apiServer(() => ({ status: 200, body: {} }))
  await api.close()
  const transport = kubeEventTransport(api.kubeConfig)
  const err = await transport.createEventsV1('agents', body).catch((e: unknown) => e)
  t.type(err, EventTransportError)
  t.equal((err as EventTransportError).statusCode, undefined)
  t.notOk(isApiNotServed(err))
})
