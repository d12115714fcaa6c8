/**
 * kubeResourceClient() (src/kube/client.ts, the client-node fallback), built from a kubeconfig,
 * against a local HTTPS API server: the four calls, their paths and bodies, what each answer
 * becomes, and the credentials (token, or kubectl's tokenFile) on the wire.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { kubeResourceClient, loadKubeConfig } from '../../../src/kube/client.ts'
import { KubeApiError } from '../../../src/kube/errors.ts'
import { deleteResultOf } from '../../../src/kube/resource-client.ts'
import { JOB_RESOURCE } from '../../../src/kube/resources.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { tlsApiServer, type Answer, type SeenRequest } from '../../helpers/tls-api-server.ts'

const agentRuns = runKindByName('AgentRun')!

async function setup(t: Test, answer: (req: SeenRequest) => Answer, user: Record<string, unknown> = { token: 'secret' }) {
  const api = await tlsApiServer(answer)
  t.teardown(api.close)
  const kubeconfig = api.writeKubeconfig('kubeconfig', user)
  const loaded = loadKubeConfig({}, kubeconfig)!
  return { api, client: kubeResourceClient(loaded.kubeConfig, 2_000) }
}

const status = (code: number, reason: string, message: string) => ({ status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message } })

t.test('get: the object, undefined on 404, a KubeApiError otherwise', async (t) => {
  const { api, client } = await setup(t, (req) => {
    if (req.url.endsWith('/there')) return { status: 200, body: { kind: 'Job', metadata: { name: 'there', namespace: 'ns' } } }
    if (req.url.endsWith('/forbidden')) return status(403, 'Forbidden', 'jobs.batch "forbidden" is forbidden')
    return status(404, 'NotFound', 'not found')
  })
  t.match(await client.get(JOB_RESOURCE, 'ns', 'there'), { metadata: { name: 'there' } })
  t.equal(await client.get(JOB_RESOURCE, 'ns', 'absent'), undefined)
  const err = await client.get(JOB_RESOURCE, 'ns', 'forbidden').catch((e: unknown) => e)
  t.type(err, KubeApiError)
  t.match(err, { message: 'get Job ns/forbidden: HTTP 403 Forbidden: jobs.batch "forbidden" is forbidden', statusCode: 403, statusReason: 'Forbidden' })
  t.equal(api.seen[0]?.url, '/apis/batch/v1/namespaces/ns/jobs/there')
  t.equal(api.seen[0]?.headers.authorization, 'Bearer secret')
})

t.test('mergePatch sends a merge patch; replaceStatus PUTs the status subresource and reports a conflict', async (t) => {
  const { api, client } = await setup(t, (req) => {
    if (req.method === 'PATCH') return { status: 200, body: req.json }
    return status(409, 'Conflict', 'the object has been modified')
  })
  await client.mergePatch(agentRuns, 'ns', 'r', { spec: { cancel: true } })
  t.match(api.seen[0], { method: 'PATCH', url: '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns/r', json: { spec: { cancel: true } } })
  t.equal(api.seen[0]?.headers['content-type'], 'application/merge-patch+json')

  const err = await client.replaceStatus(agentRuns, { metadata: { name: 'r', namespace: 'ns', resourceVersion: '7' }, status: { phase: 'Cancelled' } }).catch((e: unknown) => e)
  t.match(err, { statusCode: 409, statusReason: 'Conflict', message: /^update status of AgentRun ns\/r: HTTP 409 Conflict/ })
  t.match(api.seen[1], { method: 'PUT', url: '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns/r/status', json: { metadata: { resourceVersion: '7' } } })
})

t.test('delete: options in the body; deleted, pending (finalizers), absent (404, or a newer uid)', async (t) => {
  const { api, client } = await setup(t, (req) => {
    if (req.url.endsWith('/now')) return { status: 200, body: { kind: 'Status', status: 'Success' } }
    if (req.url.endsWith('/held')) return { status: 200, body: { kind: 'Job', metadata: { name: 'held', deletionTimestamp: '2026-11-23T11:00:00Z' } } }
    if (req.url.endsWith('/replaced')) return status(409, 'Conflict', 'Precondition failed: UID in precondition: u1, UID in object meta: u2')
    return status(404, 'NotFound', 'not found')
  })
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'now', { propagationPolicy: 'Background', uid: 'u1' }), 'deleted')
  t.same(api.seen[0]?.json, { propagationPolicy: 'Background', preconditions: { uid: 'u1' } })
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'held'), 'pending')
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'gone'), 'absent')
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'replaced', { uid: 'u1' }), 'absent')
})

t.test('a kubectl tokenFile user: the token is read from the file', async (t) => {
  const { api, client } = await setup(t, () => ({ status: 200, body: { metadata: { name: 'x' } } }), { tokenFile: 'token' })
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
