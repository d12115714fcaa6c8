/**
 * kubeResourceClient() (src/kube/client.ts, the client-node fallback), built from a kubeconfig,
 * against a local HTTPS API server: the ResourceClient contract (test/helpers/resource-client-contract.ts:
 * the four calls, their paths and bodies, what each answer becomes, the token on the wire), and
 * kubectl's tokenFile credentials.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { kubeResourceClient, loadKubeConfig } from '../../../src/kube/client.ts'
import { deleteResultOf } from '../../../src/kube/resource-client.ts'
import { JOB_RESOURCE } from '../../../src/kube/resources.ts'
import { CONTRACT_TOKEN, resourceClientContract, serveResourceClient, type ResourceClientFactory } from '../../helpers/resource-client-contract.ts'

/** The adapter from a kubeconfig for the server, with `user` as its credentials. */
const kubeAdapter =
  (user: Record<string, unknown> = { token: CONTRACT_TOKEN }): ResourceClientFactory =>
  (_t, api) =>
    kubeResourceClient(loadKubeConfig({}, api.writeKubeconfig('kubeconfig', user))!.kubeConfig, 2_000)

resourceClientContract(t, kubeAdapter())

t.test('a kubectl tokenFile user: the token is read from the file', async (t) => {
  const { api, client } = await serveResourceClient(t, kubeAdapter({ tokenFile: 'token' }), () => ({ status: 200, body: { metadata: { name: 'x' } } }))
  writeFileSync(join(api.dir, 'token'), 'from-file')
  await client.get(JOB_RESOURCE, 'ns', 'x')
  t.equal(api.seen[0]?.headers.authorization, 'Bearer from-file')
})

t.test('deleteResultOf', async (t) => {
  t.equal(deleteResultOf({ kind: 'Status', status: 'Success' }), 'deleted')
  t.equal(deleteResultOf({ kind: 'Job', metadata: { name: 'j' } }), 'deleted')
  t.equal(deleteResultOf({ kind: 'Job', metadata: { name: 'j', deletionTimestamp: '2026-11-23T11:00:00Z', finalizers: ['x'] } }), 'pending')
  t.equal(deleteResultOf(undefined), 'deleted')
})
