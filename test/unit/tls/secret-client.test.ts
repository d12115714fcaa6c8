/**
 * src/tls/secret-client.ts over a recording RestClient: what a write sends (create vs replace, the
 * resourceVersion read, labels/annotations/owners kept, the Service owner added once) and how a
 * Secret is read back.
 */
import t from 'tap'
import type { RestClient, RestResponse } from '../../../src/kube/rest.ts'
import { MANAGED_BY_ANNOTATION, ownedBy, tlsSecretClient, type OwnerReference } from '../../../src/tls/secret-client.ts'

function recordingClient(answer: (method: string, path: string, body: unknown) => RestResponse) {
  const calls: Array<{ method: string; path: string; body: unknown }> = []
  const client: RestClient = {
    async request(method, path, body) {
      calls.push({ method, path, body })
      return answer(method, path, body)
    },
    close() {},
  }
  return { client, calls }
}

const material = { tlsCrt: 'CRT', tlsKey: 'KEY', caCrt: 'CA', caKey: 'CAKEY' }
const service: OwnerReference = { apiVersion: 'v1', kind: 'Service', name: 'svc', uid: 'uid-svc' }

t.test('create: POST to the collection, owned by the Service', async (t) => {
  const { client, calls } = recordingClient((_m, _p, body) => ({ status: 201, body: { ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '1' } } }))
  const secrets = tlsSecretClient(client, 'ns', 'tls')
  const written = await secrets.write({ material: {}, resourceVersion: undefined }, material, service)
  t.equal(calls[0]!.method, 'POST')
  t.equal(calls[0]!.path, '/api/v1/namespaces/ns/secrets')
  const body = calls[0]!.body as { type: string; metadata: Record<string, unknown>; data: Record<string, string> }
  t.equal(body.type, 'kubernetes.io/tls')
  t.same(body.metadata.ownerReferences, [service])
  t.notOk('resourceVersion' in body.metadata)
  t.same(Object.keys(body.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'])
  t.ok(ownedBy(written, service), 'read back as owned')
  t.equal(written.resourceVersion, '1')
})

t.test('replace: PUT with the resourceVersion read; labels, annotations and other owners kept; the Service named once', async (t) => {
  const { client, calls } = recordingClient((_m, _p, body) => ({ status: 200, body }))
  const secrets = tlsSecretClient(client, 'ns', 'tls')
  const other: OwnerReference = { apiVersion: 'example.com/v1', kind: 'Keeper', name: 'k', uid: 'uid-other' }
  await secrets.write({ material, resourceVersion: '7', labels: { team: 'a' }, annotations: { note: 'x' }, ownerReferences: [other, { ...service, name: 'old-name' }] }, material, service)
  t.equal(calls[0]!.method, 'PUT')
  t.equal(calls[0]!.path, '/api/v1/namespaces/ns/secrets/tls')
  const metadata = (calls[0]!.body as { metadata: Record<string, unknown> }).metadata
  t.equal(metadata.resourceVersion, '7')
  t.same(metadata.labels, { team: 'a' })
  t.same(metadata.annotations, { note: 'x', [MANAGED_BY_ANNOTATION]: 'runguard webhook (self-managed TLS)' })
  t.same(metadata.ownerReferences, [other, service], 'the other owner kept, the Service once')

  await secrets.write({ material, resourceVersion: '8' }, material)
  t.notOk('ownerReferences' in (calls[1]!.body as { metadata: object }).metadata, 'no owner given, none before: none sent')
})

t.test('get: 404 is "does not exist"; owners read back', async (t) => {
  const { client } = recordingClient((_m, path) =>
    path.endsWith('/missing') ? { status: 404, body: { kind: 'Status', reason: 'NotFound' } } : { status: 200, body: { metadata: { resourceVersion: '3', ownerReferences: [service] }, type: 'kubernetes.io/tls', data: {} } },
  )
  t.same(await tlsSecretClient(client, 'ns', 'missing').get(), { material: {}, resourceVersion: undefined })
  const found = await tlsSecretClient(client, 'ns', 'tls').get()
  t.equal(found.resourceVersion, '3')
  t.ok(ownedBy(found, service))
})
