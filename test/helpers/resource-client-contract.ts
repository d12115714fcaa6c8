/**
 * What every ResourceClient adapter (src/kube/resource-client.ts) must do against an API server,
 * run by each adapter's test file: the paths, methods, bodies and content types of get,
 * mergePatch, replaceStatus and delete, what each answer becomes (the object, undefined or
 * `absent` on 404, a KubeApiError naming the call), and the bearer token on the wire. What only
 * one adapter does (kept-alive connections, a kubeconfig's tokenFile) stays in its own file.
 */
import type { Test } from 'tap'
import { KubeApiError } from '../../src/kube/errors.ts'
import type { ResourceClient } from '../../src/kube/resource-client.ts'
import { JOB_RESOURCE } from '../../src/kube/resources.ts'
import { runKindByName } from '../../src/kube/run-kinds.ts'
import { tlsApiServer, type Answer, type SeenRequest, type TlsApiServer } from './tls-api-server.ts'

/** The bearer token an adapter under test must present. */
export const CONTRACT_TOKEN = 'secret'

/** The adapter under test, talking to `api` (trusting its CA) with the bearer token CONTRACT_TOKEN. */
export type ResourceClientFactory = (t: Test, api: TlsApiServer) => ResourceClient

/** A local API server answering with `answer`, and the adapter `connect` makes for it; both closed at teardown. */
export async function serveResourceClient(t: Test, connect: ResourceClientFactory, answer: (req: SeenRequest) => Answer): Promise<{ api: TlsApiServer; client: ResourceClient }> {
  const api = await tlsApiServer(answer)
  t.teardown(api.close)
  return { api, client: connect(t, api) }
}

const agentRuns = runKindByName('AgentRun')!

const status = (code: number, reason: string, message: string): Answer => ({ status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message } })

export function resourceClientContract(t: Test, connect: ResourceClientFactory): void {
  t.test('get: the object, undefined on 404, a KubeApiError otherwise', async (t) => {
    const { api, client } = await serveResourceClient(t, connect, (req) => {
      if (req.url.endsWith('/there')) return { status: 200, body: { kind: 'Job', metadata: { name: 'there', namespace: 'ns' } } }
      if (req.url.endsWith('/forbidden')) return status(403, 'Forbidden', 'jobs.batch "forbidden" is forbidden')
      return status(404, 'NotFound', 'not found')
    })
    t.match(await client.get(JOB_RESOURCE, 'ns', 'there'), { metadata: { name: 'there' } })
    t.equal(await client.get(JOB_RESOURCE, 'ns', 'absent'), undefined)
    const err = await client.get(JOB_RESOURCE, 'ns', 'forbidden').catch((e: unknown) => e)
    t.type(err, KubeApiError)
    t.match(err, { message: 'get Job ns/forbidden: HTTP 403 Forbidden: jobs.batch "forbidden" is forbidden', statusCode: 403, statusReason: 'Forbidden' })
    t.match(api.seen[0], { method: 'GET', url: '/apis/batch/v1/namespaces/ns/jobs/there' })
    t.equal(api.seen[0]?.headers.authorization, `Bearer ${CONTRACT_TOKEN}`)
  })

  t.test('mergePatch sends a merge patch (undefined on 404); replaceStatus PUTs the status subresource and reports a conflict', async (t) => {
    const { api, client } = await serveResourceClient(t, connect, (req) => {
      if (req.method === 'PATCH' && req.url.endsWith('/gone')) return status(404, 'NotFound', 'not found')
      if (req.method === 'PATCH') return { status: 200, body: req.json }
      if (req.url.endsWith('/ok/status')) return { status: 200, body: { ...(req.json as object), metadata: { name: 'ok', resourceVersion: '8' } } }
      return status(409, 'Conflict', 'the object has been modified')
    })
    t.same(await client.mergePatch(agentRuns, 'ns', 'r', { spec: { cancel: true } }), { spec: { cancel: true } })
    t.match(api.seen[0], { method: 'PATCH', url: '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns/r', json: { spec: { cancel: true } } })
    t.equal(api.seen[0]?.headers['content-type'], 'application/merge-patch+json')
    t.equal(await client.mergePatch(JOB_RESOURCE, 'ns', 'gone', { spec: { ttlSecondsAfterFinished: 30 } }), undefined)

    t.match(await client.replaceStatus(agentRuns, { metadata: { name: 'ok', namespace: 'ns', resourceVersion: '7' }, status: { phase: 'Cancelled' } }), { metadata: { resourceVersion: '8' } })
    const err = await client.replaceStatus(agentRuns, { metadata: { name: 'r', namespace: 'ns', resourceVersion: '7' }, status: { phase: 'Cancelled' } }).catch((e: unknown) => e)
    t.match(err, { statusCode: 409, statusReason: 'Conflict', message: /^update status of AgentRun ns\/r: HTTP 409 Conflict/ })
    const put = api.seen.find((r) => r.url.endsWith('/r/status'))
    t.match(put, { method: 'PUT', url: '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns/r/status', json: { metadata: { resourceVersion: '7' }, status: { phase: 'Cancelled' } } })
    t.equal(put?.headers['content-type'], 'application/json')
  })

  t.test('delete: options in the body; deleted, pending (finalizers), absent (404, or a newer uid)', async (t) => {
    const { api, client } = await serveResourceClient(t, connect, (req) => {
      if (req.url.endsWith('/now')) return { status: 200, body: { kind: 'Status', status: 'Success' } }
      if (req.url.endsWith('/held')) return { status: 200, body: { kind: 'Job', metadata: { name: 'held', deletionTimestamp: '2026-11-23T11:00:00Z' } } }
      if (req.url.endsWith('/replaced')) return status(409, 'Conflict', 'Precondition failed: UID in precondition: u1, UID in object meta: u2')
      if (req.url.endsWith('/busy')) return status(409, 'Conflict', 'operation in progress')
      return status(404, 'NotFound', 'not found')
    })
    t.equal(await client.delete(JOB_RESOURCE, 'ns', 'now', { propagationPolicy: 'Background', uid: 'u1' }), 'deleted')
    t.match(api.seen[0], { method: 'DELETE', url: '/apis/batch/v1/namespaces/ns/jobs/now' })
    t.same(api.seen[0]?.json, { propagationPolicy: 'Background', preconditions: { uid: 'u1' } }, 'the DeleteOptions and nothing else')
    t.equal(await client.delete(JOB_RESOURCE, 'ns', 'held'), 'pending')
    t.equal(await client.delete(JOB_RESOURCE, 'ns', 'gone'), 'absent')
    t.equal(await client.delete(JOB_RESOURCE, 'ns', 'replaced', { uid: 'u1' }), 'absent')
    const busy = await client.delete(JOB_RESOURCE, 'ns', 'busy').catch((e: unknown) => e)
    t.match(busy, { statusCode: 409, statusReason: 'Conflict' }, 'a 409 without a uid precondition is an error')
  })

  t.test('no answer: a KubeApiError without a status, naming the call', async (t) => {
    const { client } = await serveResourceClient(t, connect, () => 'drop')
    const err = await client.get(JOB_RESOURCE, 'ns', 'x').catch((e: unknown) => e)
    t.type(err, KubeApiError)
    t.match(err, { statusCode: undefined, message: /^get Job ns\/x: / })
  })
}
