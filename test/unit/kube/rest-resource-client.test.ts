/**
 * src/kube/resource-client.ts restResourceClient() over the lean REST client (rest.ts), as the
 * reconciler builds it (reconciler-api.ts), against a local HTTPS API server: the four calls, their
 * paths, methods, bodies and content types, what each answer becomes (KubeApiError, 404 and 409
 * handling as the client-node adapter), kept-alive connections, and a 429 with Retry-After
 * retried by the limited client.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { KubeApiError } from '../../../src/kube/errors.ts'
import { AdaptiveLimiter } from '../../../src/kube/adaptive-limiter.ts'
import { limitedRestClient } from '../../../src/kube/limited-rest.ts'
import { resourcePath, restResourceClient } from '../../../src/kube/resource-client.ts'
import { JOB_RESOURCE } from '../../../src/kube/resources.ts'
import { createRestClient } from '../../../src/kube/rest.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { tlsApiServer, type Answer, type SeenRequest } from '../../helpers/tls-api-server.ts'

const agentRuns = runKindByName('AgentRun')!

async function setup(t: Test, answer: (req: SeenRequest) => Answer) {
  const api = await tlsApiServer(answer)
  t.teardown(api.close)
  const rest = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, token: 'secret', source: 'test' }, { timeoutMs: 2_000 })
  t.teardown(() => rest.close())
  return { api, client: restResourceClient(rest) }
}

const status = (code: number, reason: string, message: string) => ({ status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message } })

t.test('resourcePath', async (t) => {
  t.equal(resourcePath(JOB_RESOURCE, 'ns', 'j'), '/apis/batch/v1/namespaces/ns/jobs/j')
  t.equal(resourcePath(agentRuns, 'ns'), '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns')
})

t.test('get: the object, undefined on 404, a KubeApiError otherwise; one kept-alive connection', async (t) => {
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
  t.match(api.seen[0], { method: 'GET', url: '/apis/batch/v1/namespaces/ns/jobs/there' })
  t.equal(api.seen[0]?.headers.authorization, 'Bearer secret')
  t.equal(api.connections(), 1, 'three calls, one connection')
})

t.test('mergePatch sends a merge patch (undefined on 404); replaceStatus PUTs the status subresource and reports a conflict', async (t) => {
  const { api, client } = await setup(t, (req) => {
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
  const { api, client } = await setup(t, (req) => {
    if (req.url.endsWith('/now')) return { status: 200, body: { kind: 'Status', status: 'Success' } }
    if (req.url.endsWith('/held')) return { status: 200, body: { kind: 'Job', metadata: { name: 'held', deletionTimestamp: '2026-11-23T11:00:00Z' } } }
    if (req.url.endsWith('/replaced')) return status(409, 'Conflict', 'Precondition failed: UID in precondition: u1, UID in object meta: u2')
    if (req.url.endsWith('/busy')) return status(409, 'Conflict', 'operation in progress')
    return status(404, 'NotFound', 'not found')
  })
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'now', { propagationPolicy: 'Background', uid: 'u1' }), 'deleted')
  t.match(api.seen[0], { method: 'DELETE', url: '/apis/batch/v1/namespaces/ns/jobs/now', json: { propagationPolicy: 'Background', preconditions: { uid: 'u1' } } })
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'held'), 'pending')
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'gone'), 'absent')
  t.equal(await client.delete(JOB_RESOURCE, 'ns', 'replaced', { uid: 'u1' }), 'absent')
  const busy = await client.delete(JOB_RESOURCE, 'ns', 'busy').catch((e: unknown) => e)
  t.match(busy, { statusCode: 409, statusReason: 'Conflict' }, 'a 409 without a uid precondition is an error')
})

t.test('no answer: a KubeApiError without a status, naming the call', async (t) => {
  const { client } = await setup(t, () => 'drop')
  const err = await client.get(JOB_RESOURCE, 'ns', 'x').catch((e: unknown) => e)
  t.type(err, KubeApiError)
  t.match(err, { statusCode: undefined, message: /^get Job ns\/x: / })
})

t.test('a 429 with Retry-After through the limited client: retried once the pause is over', async (t) => {
  const seenAt: number[] = []
  const server = createServer((req, res) => {
    seenAt.push(Date.now())
    req.resume()
    if (seenAt.length === 1) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
      res.end(JSON.stringify({ kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'too many requests, please try again later' }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ kind: 'Job', metadata: { name: 'j' } }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const rest = createRestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, insecureSkipTlsVerify: false, source: 'test' })
  const limiter = new AdaptiveLimiter({ initialLimit: 4 })
  const client = restResourceClient(limitedRestClient(rest, limiter))
  t.teardown(() => rest.close())
  t.match(await client.get(JOB_RESOURCE, 'ns', 'j'), { metadata: { name: 'j' } }, 'the caller sees the answer after the retry')
  t.equal(seenAt.length, 2)
  t.ok(seenAt[1]! - seenAt[0]! >= 950, `sent again only after Retry-After (${seenAt[1]! - seenAt[0]!} ms)`)
  t.equal(limiter.limit, 2, 'and the limit halved')
})
