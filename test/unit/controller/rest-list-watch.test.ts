/**
 * restListWatchSource() (src/controller/list-watch.ts) against a local HTTP server scripted by each
 * test: list pages with continue tokens and the transform applied page by page, the watch query,
 * lines split across chunks, BOOKMARK and ERROR events, abort, the idle timeout, a field selector
 * and a watch timeout drawn from a given range, non-200 answers —
 * and, through an Informer, that 410 (an ERROR event or the HTTP status) and other failures reach
 * the reflector as they did from client-node.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Informer } from '../../../src/controller/informer.ts'
import { PAGE_SIZE, restListWatchSource, WATCH_TIMEOUT_SECONDS, type ListWatchOptions, type WatchEvent } from '../../../src/controller/list-watch.ts'
import { KubeApiError, statusOf } from '../../../src/kube/errors.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { JOB_RESOURCE, type ResourceRef } from '../../../src/kube/resources.ts'
import { createRestClient, createRestStreamer, type RestConfig } from '../../../src/kube/rest.ts'
import { runKindByName } from '../../../src/kube/run-kinds.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { metricValue } from '../../helpers/fake-clock.ts'
import { tlsApiServer } from '../../helpers/tls-api-server.ts'

interface Seen {
  path: string
  query: URLSearchParams
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void

interface Api {
  config: RestConfig
  requests: Seen[]
  /** Responses of open watches, for the test to write to. */
  handle: Handler
}

async function scriptedApi(t: Test, handle: Handler): Promise<Api> {
  const api: Api = { config: { server: '', insecureSkipTlsVerify: false, source: 'test' }, requests: [], handle }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const seen = { path: url.pathname, query: url.searchParams }
    api.requests.push(seen)
    api.handle(req, res, seen)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  api.config.server = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return api
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

function startStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json;stream=watch', 'transfer-encoding': 'chunked' })
  res.flushHeaders()
}

const line = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`

const job = (name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, namespace: 'ns', resourceVersion: rv },
  spec: { template: { spec: { containers: [{ name: 'main', image: 'x' }] } } },
  ...extra,
})

function source(t: Test, api: Api, resource: ResourceRef = JOB_RESOURCE, options: ListWatchOptions = {}) {
  const client = createRestClient(api.config)
  const streamer = createRestStreamer(api.config)
  t.teardown(() => {
    streamer.close()
    client.close()
  })
  return restListWatchSource(client, streamer, resource, options)
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('list: pages with limit and continue, the transform applied to each page before the next is asked for', async (t) => {
  const order: string[] = []
  const api = await scriptedApi(t, (_req, res, seen) => {
    const token = seen.query.get('continue')
    order.push(`page ${token ?? 'first'}`)
    if (token === null) return json(res, 200, { kind: 'JobList', metadata: { resourceVersion: '10', continue: 'c1' }, items: [job('a', '7'), job('b', '8')] })
    if (token === 'c1') return json(res, 200, { kind: 'JobList', metadata: { resourceVersion: '10', continue: 'c2' }, items: [job('c', '9')] })
    return json(res, 200, { kind: 'JobList', metadata: { resourceVersion: '10' }, items: [job('d', '10'), { metadata: {} }] })
  })
  const result = await source(t, api).list({ namespace: 'ns', labelSelector: 'agents.proompteng.ai/agent-run' }, (obj) => {
    order.push(`transform ${obj.metadata?.name}`)
    return { metadata: obj.metadata } as KubeObject
  })
  t.same(order, ['page first', 'transform a', 'transform b', 'page c1', 'transform c', 'page c2', 'transform d'], 'each page shrunk as it arrives')
  t.same(
    result.items.map((o) => o.metadata?.name),
    ['a', 'b', 'c', 'd'],
    'every named item of every page; the nameless one is left out',
  )
  t.notOk('spec' in result.items[0]!, 'the transformed objects are kept')
  t.equal(result.resourceVersion, '10')
  t.equal(result.transformed, true)
  for (const seen of api.requests) {
    t.equal(seen.path, '/apis/batch/v1/namespaces/ns/jobs')
    t.equal(seen.query.get('limit'), String(PAGE_SIZE))
    t.equal(seen.query.get('labelSelector'), 'agents.proompteng.ai/agent-run')
    t.equal(seen.query.get('watch'), null)
  }
  t.same(
    api.requests.map((s) => s.query.get('continue')),
    [null, 'c1', 'c2'],
  )

  const plain = await source(t, api).list({})
  t.equal(plain.transformed, undefined, 'without a transform the items are as listed')
  t.equal(api.requests.at(-1)?.path, '/apis/batch/v1/jobs', 'all namespaces: the cluster-wide collection')
  t.equal(api.requests.at(-1)?.query.get('labelSelector'), null)
})

t.test('list: the paths of a custom group, the core group, and a namespace needing escapes', async (t) => {
  const api = await scriptedApi(t, (_req, res) => json(res, 200, { metadata: { resourceVersion: '1' }, items: [] }))
  await source(t, api, runKindByName('AgentRun')!).list({ namespace: 'team-a' })
  await source(t, api, { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' }).list({ namespace: 'a b' })
  await source(t, api, { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' }).list({})
  t.same(
    api.requests.map((s) => s.path),
    ['/apis/agents.proompteng.ai/v1alpha1/namespaces/team-a/agentruns', '/api/v1/namespaces/a%20b/configmaps', '/api/v1/configmaps'],
  )
})

t.test('list: a non-200 answer, a body that is not a list, and no answer are errors', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => json(res, 403, { kind: 'Status', reason: 'Forbidden', message: 'jobs is forbidden', code: 403 })
  const api = await scriptedApi(t, (_req, res) => answer(res))
  const jobs = source(t, api)
  const err: unknown = await jobs.list({ namespace: 'ns' }).catch((e: unknown) => e)
  t.ok(err instanceof KubeApiError)
  t.equal(statusOf(err), 403)
  t.match((err as Error).message, /list jobs in ns: HTTP 403 Forbidden: jobs is forbidden/)

  answer = (res) => json(res, 410, { kind: 'Status', reason: 'Expired', message: 'continue token expired', code: 410 })
  t.equal(statusOf(await jobs.list({}).catch((e: unknown) => e)), 410, "a later page's 410 keeps its status")

  answer = (res) => json(res, 200, { kind: 'Status' })
  await t.rejects(jobs.list({}), /list jobs: response is not a list/)

  answer = (res) => res.socket?.destroy()
  const dropped: unknown = await jobs.list({}).catch((e: unknown) => e)
  t.ok(dropped instanceof KubeApiError, 'a dropped connection')
  t.equal(statusOf(dropped), undefined, 'without a status')
  t.match((dropped as Error).message, /^list jobs: /)
})

t.test('list: over HTTPS with a CA, a bearer token', async (t) => {
  const server = await tlsApiServer(() => ({ status: 200, body: { metadata: { resourceVersion: '5' }, items: [job('a', '5')] } }))
  t.teardown(server.close)
  const config: RestConfig = { server: server.url, ca: server.caPem, insecureSkipTlsVerify: false, token: 'secret', source: 'test' }
  const client = createRestClient(config)
  const streamer = createRestStreamer(config)
  t.teardown(() => {
    client.close()
    streamer.close()
  })
  const result = await restListWatchSource(client, streamer, JOB_RESOURCE).list({ namespace: 'ns' })
  t.equal(result.items.length, 1)
  t.equal(server.seen[0]?.headers.authorization, 'Bearer secret')
  t.equal(server.seen[0]?.url, '/apis/batch/v1/namespaces/ns/jobs?limit=500')
})

t.test('watch: the query; events split across chunks, bookmarks and errors in order; the server ending it is a normal end', async (t) => {
  const api = await scriptedApi(t, (_req, res) => {
    startStream(res)
    const text = line('ADDED', job('a', '11')) + line('BOOKMARK', { kind: 'Job', metadata: { resourceVersion: '12' } }) + line('MODIFIED', job('a', '13'))
    // Cut in the middle of the lines, and one chunk holding the end of one line and the start of the next.
    res.write(text.slice(0, 17))
    setTimeout(() => res.write(text.slice(17, text.indexOf('\n') + 9)), 10)
    setTimeout(() => res.write(text.slice(text.indexOf('\n') + 9)), 20)
    setTimeout(() => res.end(line('ERROR', { kind: 'Status', code: 500, message: 'internal' }).trimEnd()), 30)
  })
  const events: WatchEvent[] = []
  const stream = source(t, api).watch({ namespace: 'ns', labelSelector: 'app in (x)', resourceVersion: '10' }, (event) => events.push(event))
  await stream.done
  t.same(
    events.map((e) => `${e.type} ${(e.object as KubeObject).metadata?.resourceVersion ?? (e.object as { code: number }).code}`),
    ['ADDED 11', 'BOOKMARK 12', 'MODIFIED 13', 'ERROR 500'],
  )
  const query = api.requests[0]!.query
  t.equal(api.requests[0]!.path, '/apis/batch/v1/namespaces/ns/jobs')
  t.equal(query.get('watch'), 'true')
  t.equal(query.get('resourceVersion'), '10')
  t.equal(query.get('allowWatchBookmarks'), 'true')
  t.equal(query.get('labelSelector'), 'app in (x)')
  const timeoutSeconds = Number(query.get('timeoutSeconds'))
  t.ok(timeoutSeconds >= WATCH_TIMEOUT_SECONDS.min && timeoutSeconds <= WATCH_TIMEOUT_SECONDS.max, `timeoutSeconds ${timeoutSeconds} drawn from WATCH_TIMEOUT_SECONDS`)

  await source(t, api, JOB_RESOURCE, { watchTimeoutSeconds: 6 }).watch({ resourceVersion: '1' }, () => {}).done
  t.equal(api.requests[1]!.path, '/apis/batch/v1/jobs', 'all namespaces')
  t.equal(api.requests[1]!.query.get('timeoutSeconds'), '6', 'a fixed timeout when asked')
  t.equal(api.requests[1]!.query.get('labelSelector'), null)
})

t.test('watch: abort() ends it at once, without an error, and closes the connection', async (t) => {
  let serverSide: ServerResponse | undefined
  const api = await scriptedApi(t, (_req, res) => {
    serverSide = res
    startStream(res)
    res.write(line('ADDED', job('a', '2')))
  })
  const events: WatchEvent[] = []
  const stream = source(t, api).watch({ resourceVersion: '1' }, (event) => events.push(event))
  await until('the first event', () => events.length === 1)
  stream.abort()
  await t.resolves(stream.done)
  await until('the server to see the connection closed', () => serverSide?.destroyed === true || serverSide?.closed === true)
  t.pass('closed')

  const early = source(t, api).watch({ resourceVersion: '1' }, () => {})
  early.abort()
  await t.resolves(early.done, 'aborted before the answer came')
})

t.test('watch: silence past the idle timeout ends it as a normal end (a dead connection), not a failure', async (t) => {
  const api = await scriptedApi(t, (req, res) => {
    startStream(res)
    if (req.url?.includes('resourceVersion=2')) res.write(line('ADDED', job('a', '3')))
  })
  const started = Date.now()
  await t.resolves(source(t, api, JOB_RESOURCE, { idleTimeoutMs: 100 }).watch({ resourceVersion: '1' }, () => {}).done, 'nothing at all after the headers')
  t.ok(Date.now() - started < 2_000)
  const events: WatchEvent[] = []
  await t.resolves(source(t, api, JOB_RESOURCE, { idleTimeoutMs: 100 }).watch({ resourceVersion: '2' }, (e) => events.push(e)).done, 'silence after an event')
  t.equal(events.length, 1)
})

t.test('a field selector on list and watch; a watch timeout drawn from a given range, the idle timeout from it', async (t) => {
  const api = await scriptedApi(t, (_req, res, seen) => {
    if (seen.query.get('watch') !== 'true') return json(res, 200, { metadata: { resourceVersion: '3' }, items: [] })
    startStream(res)
  })
  const secrets = source(t, api, { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' }, {
    watchTimeoutSeconds: { min: 10, max: 19 },
    idleTimeoutMs: (timeoutSeconds) => timeoutSeconds * 10,
    random: () => 0.99,
  })
  const scope = { namespace: 'ns', fieldSelector: 'metadata.name=tls' }
  await secrets.list(scope)
  const started = Date.now()
  await t.resolves(secrets.watch({ ...scope, resourceVersion: '3' }, () => {}).done, 'a silent watch ends normally')
  const took = Date.now() - started
  t.ok(took >= 150 && took < 2_000, `after the idle timeout made from its timeoutSeconds, 190 ms (${took} ms)`)
  const [listed, watched] = api.requests
  t.equal(listed?.query.get('fieldSelector'), 'metadata.name=tls', 'list: the field selector')
  t.equal(watched?.query.get('fieldSelector'), 'metadata.name=tls', 'watch: the field selector')
  t.equal(watched?.query.get('timeoutSeconds'), '19', 'drawn from the range, its upper end included')
})

t.test('watch: a non-200 answer rejects with its status; a dropped connection and a line that is not JSON are failures', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => json(res, 410, { kind: 'Status', reason: 'Expired', message: 'too old resource version: 1 (5)', code: 410 })
  const api = await scriptedApi(t, (_req, res) => answer(res))
  const jobs = source(t, api)
  const gone: unknown = await jobs.watch({ resourceVersion: '1' }, () => {}).done.catch((e: unknown) => e)
  t.equal(statusOf(gone), 410)
  t.match((gone as Error).message, /too old resource version/)

  answer = (res) => json(res, 403, { kind: 'Status', reason: 'Forbidden', message: 'nope', code: 403 })
  t.equal(statusOf(await jobs.watch({ resourceVersion: '1' }, () => {}).done.catch((e: unknown) => e)), 403)

  answer = (res) => {
    startStream(res)
    res.write(line('ADDED', job('a', '2')))
    setTimeout(() => res.socket?.destroy(), 20)
  }
  await t.rejects(jobs.watch({ resourceVersion: '1' }, () => {}).done, 'a connection cut mid-answer')

  answer = (res) => {
    startStream(res)
    res.write('<html>proxy error</html>\n')
  }
  await t.rejects(jobs.watch({ resourceVersion: '1' }, () => {}).done, /watch jobs: a line that is not JSON/)
})

/** An informer over the REST source: what the reflector makes of each end of a watch. */
t.test('through an informer: 410 (ERROR event or HTTP status) relists; other failures back off and resume from the resourceVersion', async (t) => {
  const watchAnswers: Array<(res: ServerResponse) => void> = [
    (res) => {
      startStream(res)
      res.write(line('ADDED', job('b', '21')))
      res.end(line('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }))
    },
    (res) => json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }),
    (res) => {
      startStream(res)
      res.end(line('ERROR', { kind: 'Status', code: 500, message: 'etcd unavailable' }))
    },
    (res) => json(res, 503, { kind: 'Status', code: 503, message: 'unavailable' }),
    (res) => {
      startStream(res)
      res.write(line('BOOKMARK', { kind: 'Job', metadata: { resourceVersion: '40' } }))
      res.end()
    },
  ]
  let lists = 0
  const api = await scriptedApi(t, (_req, res, seen) => {
    if (seen.query.get('watch') !== 'true') {
      lists++
      return json(res, 200, { metadata: { resourceVersion: String(lists * 10 + 10) }, items: [job('a', '5')] })
    }
    const next = watchAnswers.shift()
    if (next) return next(res)
    startStream(res) // then stay open
  })
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const informer = new Informer({ name: 'jobs', source: source(t, api), metrics, backoffInitialMs: 5, backoffMaxMs: 10, minWatchMs: 0 })
  t.teardown(() => informer.stop())
  informer.start()
  await informer.waitForSync()
  const watches = () => api.requests.filter((s) => s.query.get('watch') === 'true')
  await until('six watches', () => watches().length >= 6)
  const relists = async (reason: string) => metricValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'jobs', reason })
  t.equal(await relists('initial'), 1)
  t.equal(await relists('expired'), 2, 'the ERROR event with code 410, then the HTTP 410: one relist each')
  t.equal(await relists('watch_failures'), 0, 'the ERROR 500 and the 503 are failures, retried without a relist')
  t.same(
    watches().map((s) => s.query.get('resourceVersion')),
    ['20', '30', '40', '40', '40', '40'],
    'each relist watches from its own resourceVersion; failures resume from the last one, and so does the bookmark',
  )
  t.equal(informer.get('ns', 'b'), undefined, 'the relist replaced what the expired watch had added')
  t.ok(informer.get('ns', 'a'))
})

t.test('list: a page over the REST client default 4 MiB needs the larger limit the reconciler gives its list client', async (t) => {
  const big = Array.from({ length: 500 }, (_, i) => job(`j${i}`, '1', { status: { note: 'x'.repeat(10_000) } }))
  const api = await scriptedApi(t, (_req, res) => json(res, 200, { metadata: { resourceVersion: '1' }, items: big }))
  await t.rejects(source(t, api).list({}), /response larger than/, 'the default limit refuses ~5 MiB')
  const client = createRestClient(api.config, { maxResponseBytes: 64 * 1024 * 1024 })
  const streamer = createRestStreamer(api.config)
  t.teardown(() => {
    client.close()
    streamer.close()
  })
  t.equal((await restListWatchSource(client, streamer, JOB_RESOURCE).list({})).items.length, 500)
})
