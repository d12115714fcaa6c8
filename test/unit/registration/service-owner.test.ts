/** src/registration/service-owner.ts: the webhook Service as the TLS Secret's owner. */
import t from 'tap'
import type { RestClient, RestResponse } from '../../../src/kube/rest.ts'
import { serviceOwnerReference } from '../../../src/registration/service-owner.ts'

const client = (response: RestResponse, paths: string[] = []): RestClient => ({
  async request(_method, path) {
    paths.push(path)
    return response
  },
  close() {},
})

t.test('the Service by name, as an owner reference (not the controller, never blocking its deletion)', async (t) => {
  const paths: string[] = []
  const owner = await serviceOwnerReference(client({ status: 200, body: { kind: 'Service', metadata: { name: 'svc', uid: 'u-1' } } }, paths), 'guard ns', 'svc')
  t.same(owner, { apiVersion: 'v1', kind: 'Service', name: 'svc', uid: 'u-1' })
  t.same(paths, ['/api/v1/namespaces/guard%20ns/services/svc'])
})

t.test('no Service: undefined (then no Secret is written); other answers are errors', async (t) => {
  t.equal(await serviceOwnerReference(client({ status: 404, body: { kind: 'Status', reason: 'NotFound' } }), 'ns', 'svc'), undefined)
  await t.rejects(serviceOwnerReference(client({ status: 403, body: { kind: 'Status', reason: 'Forbidden', message: 'services "svc" is forbidden' } }), 'ns', 'svc'), /HTTP 403 Forbidden/)
  await t.rejects(serviceOwnerReference(client({ status: 200, body: { metadata: {} } }), 'ns', 'svc'), /no metadata.uid/)
})
