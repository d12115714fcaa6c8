/**
 * src/kube/resource-client.ts restResourceClient() over the lean REST client (rest.ts), as the
 * reconciler builds it (reconciler-api.ts), against a local HTTPS API server: the ResourceClient
 * contract it shares with the client-node adapter (test/helpers/resource-client-contract.ts: the
 * four calls, their paths, methods, bodies and content types, what each answer becomes),
 * kept-alive connections, and a 429 with Retry-After retried by the limited client.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { AdaptiveLimiter } from '../../../src/kube/adaptive-limiter.ts'
import { limitedRestClient } from '../../../src/kube/limited-rest.ts'
import { resourcePath, restResourceClient } from '../../../src/kube/resource-client.ts'
import { JOB_RESOURCE } from '../../../src/kube/resources.ts'
import { createRestClient } from '../../../src/kube/rest.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { CONTRACT_TOKEN, resourceClientContract, serveResourceClient, type ResourceClientFactory } from '../../helpers/resource-client-contract.ts'
import type { Answer } from '../../helpers/tls-api-server.ts'

const agentRuns = runKindByName('AgentRun')!

const restAdapter: ResourceClientFactory = (t, api) => {
  const rest = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, token: CONTRACT_TOKEN, source: 'test' }, { timeoutMs: 2_000 })
  t.teardown(() => rest.close())
  return restResourceClient(rest)
}

resourceClientContract(t, restAdapter)

t.test('resourcePath', async (t) => {
  t.equal(resourcePath(JOB_RESOURCE, 'ns', 'j'), '/apis/batch/v1/namespaces/ns/jobs/j')
  t.equal(resourcePath(agentRuns, 'ns'), '/apis/agents.proompteng.ai/v1alpha1/namespaces/ns/agentruns')
})

t.test('one kept-alive connection for successive calls, error answers included', async (t) => {
  const answers: Answer[] = [
    { status: 200, body: { kind: 'Job', metadata: { name: 'there', namespace: 'ns' } } },
    { status: 404, body: { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' } },
    { status: 403, body: { kind: 'Status', code: 403, reason: 'Forbidden', message: 'forbidden' } },
  ]
  const { api, client } = await serveResourceClient(t, restAdapter, () => answers.shift() ?? 'drop')
  for (const name of ['there', 'absent', 'forbidden']) await client.get(JOB_RESOURCE, 'ns', name).catch(() => undefined)
  t.equal(api.connections(), 1, 'three calls, one connection')
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
