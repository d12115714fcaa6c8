/**
 * src/tls/secret-watch.ts and secret-source.ts (and the streaming GET of src/kube/rest.ts under
 * them) against a scripted API server: a plain HTTP server that answers the Secret's list from the
 * test's script and holds each watch open, writing the events the test pushes.
 *
 * - an update of the Secret reaches the served pair through the open watch, with one list and one
 *   watch request in all (no polling);
 * - a dropped watch reconnects from the last resourceVersion (a bookmark's included), without
 *   relisting; a watch the server ends normally resumes the same way;
 * - 410 Gone (ERROR event or HTTP status) relists, and the next watch starts from the new list;
 *   a 410 again right after that relist backs off first;
 * - errors back off and retry; a deleted Secret keeps the pair served.
 */
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createCertificateAuthority, issueServingCertificate } from '../../../src/certs/generate.ts'
import { statusOf } from '../../../src/kube/errors.ts'
import { createRestClient, createRestStreamer, type RestConfig } from '../../../src/kube/rest.ts'
import { silentLogger } from '../../../src/log.ts'
import type { KeyPair } from '../../../src/server/tls.ts'
import { secretDataOf } from '../../../src/tls/material.ts'
import { SecretSource } from '../../../src/tls/secret-source.ts'
import { secretWatchSource } from '../../../src/tls/secret-watch.ts'

const NS = 'guard'
const NAME = 'guard-runguard-webhook-tls'

interface SeenRequest {
  path: string
  query: URLSearchParams
  authorization: string | undefined
}

interface OpenWatch extends SeenRequest {
  res: ServerResponse
  /** Writes one watch event (a JSON line). */
  send(type: string, object: unknown): void
  /** Ends the answer normally (what the server does at timeoutSeconds). */
  end(): void
  /** Cuts the connection without ending the answer. */
  drop(): void
  closed: boolean
}

type ListAnswer = { status: number; body: unknown }
type WatchAnswer = 'stream' | { status: number; body: unknown }

interface ScriptedApi {
  url: string
  lists: SeenRequest[]
  watches: OpenWatch[]
  /** The next list answers (each used once; the last one repeats). */
  listAnswers: ListAnswer[]
  /** The next watch answers (each used once); 'stream' when empty. */
  watchAnswers: WatchAnswer[]
  close(): Promise<void>
}

async function scriptedApi(t: Test): Promise<ScriptedApi> {
  const api: ScriptedApi = { url: '', lists: [], watches: [], listAnswers: [], watchAnswers: [], close: async () => {} }
  const reply = (res: ServerResponse, answer: { status: number; body: unknown }): void => {
    res.writeHead(answer.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(answer.body))
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const seen: SeenRequest = { path: url.pathname, query: url.searchParams, authorization: req.headers.authorization }
    if (url.pathname !== `/api/v1/namespaces/${NS}/secrets`) return reply(res, { status: 404, body: { kind: 'Status', reason: 'NotFound', message: `no ${url.pathname}` } })
    if (url.searchParams.get('watch') !== 'true') {
      api.lists.push(seen)
      const answer = api.listAnswers.length > 1 ? api.listAnswers.shift()! : api.listAnswers[0]
      return reply(res, answer ?? { status: 500, body: { kind: 'Status', message: 'no list answer scripted' } })
    }
    const answer = api.watchAnswers.shift() ?? 'stream'
    if (answer !== 'stream') {
      api.watches.push({ ...seen, res, send() {}, end() {}, drop() {}, closed: true })
      return reply(res, answer)
    }
    res.writeHead(200, { 'content-type': 'application/json;stream=watch', 'transfer-encoding': 'chunked' })
    res.flushHeaders()
    const watch: OpenWatch = {
      ...seen,
      res,
      closed: false,
      send(type, object) {
        res.write(`${JSON.stringify({ type, object })}\n`)
      },
      end() {
        watch.closed = true
        res.end()
      },
      drop() {
        watch.closed = true
        res.socket?.destroy()
      },
    }
    res.on('close', () => (watch.closed = true))
    api.watches.push(watch)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  api.close = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(() => api.close())
  return api
}

/** A serving pair as the Secret holds it, and its KeyPair fingerprint source. */
async function secretObject(resourceVersion: string, days = 30): Promise<{ object: unknown; certPem: string }> {
  const ca = await createCertificateAuthority({ commonName: `ca-${resourceVersion}`, days: 60 })
  const leaf = await issueServingCertificate(ca, { dnsNames: [`guard-runguard-webhook.${NS}.svc`], days })
  return {
    object: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: NAME, namespace: NS, resourceVersion },
      data: secretDataOf({ tlsCrt: leaf.certPem, tlsKey: leaf.keyPem, caCrt: ca.certPem, caKey: ca.keyPem }),
    },
    certPem: leaf.certPem,
  }
}

const list = (resourceVersion: string, ...items: unknown[]): ListAnswer => ({ status: 200, body: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion }, items } })

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A SecretSource on the REST stack against `api`, recording every pair it hands over. */
function startSource(t: Test, api: ScriptedApi, watch: { backoffInitialMs?: number; backoffMaxMs?: number } = {}) {
  const config: RestConfig = { server: api.url, insecureSkipTlsVerify: false, token: 'watch-token', source: 'test' }
  const client = createRestClient(config)
  const streamer = createRestStreamer(config)
  const pairs: KeyPair[] = []
  const source = new SecretSource({
    source: secretWatchSource(client, streamer, NS, NAME, () => 0.5),
    onPair: (pair) => pairs.push(pair),
    logger: silentLogger(),
    watch: { backoffInitialMs: 20, backoffMaxMs: 200, random: () => 0.5, ...watch },
  })
  source.start()
  t.teardown(async () => {
    await source.stop()
    streamer.close()
    client.close()
  })
  return { source, pairs, streamer }
}

t.test('an update arrives through the open watch: one list, one watch, no polling', async (t) => {
  const api = await scriptedApi(t)
  const v1 = await secretObject('10')
  api.listAnswers = [list('10', v1.object)]
  const { source, pairs } = startSource(t, api)

  const watch = await until('the watch', () => api.watches[0])
  t.equal(pairs.length, 1, 'the listed Secret\'s pair is served')
  t.equal(pairs[0]!.cert, v1.certPem)
  t.ok(source.loaded, 'loaded (ready)')
  t.equal(api.lists[0]!.query.get('fieldSelector'), `metadata.name=${NAME}`, 'list: by name with a field selector')
  t.equal(api.lists[0]!.authorization, 'Bearer watch-token', 'list: with the credentials')
  t.equal(watch.query.get('fieldSelector'), `metadata.name=${NAME}`, 'watch: by name with a field selector')
  t.equal(watch.query.get('resourceVersion'), '10', 'watch: from the list\'s resourceVersion')
  t.equal(watch.query.get('allowWatchBookmarks'), 'true', 'watch: bookmarks asked for')
  t.equal(watch.query.get('timeoutSeconds'), '450', 'watch: a server-side timeout in 5–10 min')
  t.equal(watch.authorization, 'Bearer watch-token', 'watch: with the credentials')

  // The Lease holder rotates: the Secret changes, the watch delivers it at once.
  const v2 = await secretObject('11')
  const sentAt = Date.now()
  watch.send('MODIFIED', v2.object)
  await until('the new pair', () => pairs.length === 2)
  t.equal(pairs[1]!.cert, v2.certPem, 'the updated pair is served')
  t.comment(`update → served in ${Date.now() - sentAt} ms`)
  t.equal(source.watch.resourceVersion, '11', 'resourceVersion moved on')

  // Nothing else is asked for while nothing happens.
  await new Promise((r) => setTimeout(r, 300))
  t.equal(api.lists.length, 1, 'one list in all')
  t.equal(api.watches.length, 1, 'one watch in all (held open)')
  t.notOk(watch.closed, 'the watch is still open')
})

t.test('a dropped watch reconnects from the last resourceVersion (bookmarks count), without relisting', async (t) => {
  const api = await scriptedApi(t)
  const v1 = await secretObject('20')
  api.listAnswers = [list('20', v1.object)]
  const { source, pairs } = startSource(t, api)
  const first = await until('the first watch', () => api.watches[0])
  first.send('BOOKMARK', { kind: 'Secret', apiVersion: 'v1', metadata: { resourceVersion: '25' } })
  await until('the bookmark', () => source.watch.resourceVersion === '25')
  t.equal(pairs.length, 1, 'a bookmark hands nothing over')

  first.drop()
  const second = await until('a new watch', () => api.watches[1])
  t.equal(second.query.get('resourceVersion'), '25', 'resumed from the bookmark\'s resourceVersion')
  t.equal(api.lists.length, 1, 'no relist')
  t.ok(source.watch.stats.failures >= 1, 'the drop counted as a failure (backoff)')

  const v2 = await secretObject('26')
  second.send('MODIFIED', v2.object)
  await until('the pair through the new watch', () => pairs.length === 2)
  t.equal(pairs[1]!.cert, v2.certPem)

  // The server ends a watch at its timeoutSeconds: resume, no relist, no failure.
  const failures = source.watch.stats.failures
  second.end()
  const third = await until('a watch after the normal end', () => api.watches[2])
  t.equal(third.query.get('resourceVersion'), '26', 'resumed from the last event')
  t.equal(api.lists.length, 1, 'still one list')
  t.equal(source.watch.stats.failures, failures, 'a normal end is no failure')
})

t.test('410 Gone relists and watches from the new list', async (t) => {
  const api = await scriptedApi(t)
  const v1 = await secretObject('30')
  const v2 = await secretObject('90')
  api.listAnswers = [list('30', v1.object), list('90', v2.object)]
  const { pairs } = startSource(t, api)
  const first = await until('the first watch', () => api.watches[0])
  // The watch cache no longer holds resourceVersion 30.
  first.send('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version: 30 (85)', reason: 'Expired', code: 410 })
  const second = await until('a watch after the relist', () => api.watches[1])
  t.equal(api.lists.length, 2, 'relisted')
  t.equal(second.query.get('resourceVersion'), '90', 'watching from the new list\'s resourceVersion')
  t.equal(pairs.at(-1)?.cert, v2.certPem, 'the relisted Secret is served')

  // The same as an HTTP status.
  api.listAnswers = [list('95', v2.object)]
  api.watchAnswers = [{ status: 410, body: { kind: 'Status', reason: 'Expired', code: 410, message: 'too old resource version' } }]
  second.drop()
  const fourth = await until('a watch after the second relist', () => api.watches.find((w, i) => i >= 2 && !w.closed && w.query.get('resourceVersion') === '95'))
  t.ok(fourth, 'HTTP 410 relisted too')
  t.equal(api.lists.length, 3, 'three lists in all')
})

t.test('410 Gone again right after the relist backs off before the next relist', async (t) => {
  const api = await scriptedApi(t)
  const v1 = await secretObject('50')
  api.listAnswers = [list('50', v1.object), list('60', v1.object), list('70', v1.object)]
  const gone = { status: 410, body: { kind: 'Status', reason: 'Expired', code: 410, message: 'too old resource version' } }
  api.watchAnswers = [gone, gone]
  const { source } = startSource(t, api, { backoffInitialMs: 1_000, backoffMaxMs: 1_000 })
  await until('the second 410', () => api.watches.length === 2)
  t.equal(api.lists.length, 2, 'the first 410 relisted at once')
  await new Promise((r) => setTimeout(r, 200))
  t.equal(api.lists.length, 2, 'the second, before any event, waits out a backoff')
  t.equal(source.watch.stats.failures, 1, 'and counts as a failure')
  const third = await until('the watch after the backoff', () => api.watches.find((w) => !w.closed))
  t.equal(third.query.get('resourceVersion'), '70', 'from the list made after it')
  t.equal(api.lists.length, 3)
})

t.test('errors back off and retry; a deleted Secret keeps the pair served', async (t) => {
  const api = await scriptedApi(t)
  api.listAnswers = [{ status: 503, body: { kind: 'Status', message: 'etcd is busy' } }, list('40')]
  api.watchAnswers = [{ status: 500, body: { kind: 'Status', message: 'internal' } }, { status: 403, body: { kind: 'Status', reason: 'Forbidden', message: 'secrets is forbidden' } }]
  const { source, pairs } = startSource(t, api)
  const watch = await until('a streaming watch after the errors', () => api.watches.find((w) => !w.closed))
  t.equal(api.lists.length, 2, 'the failed list was retried')
  t.equal(api.watches.length, 3, 'the failed watches were retried')
  t.equal(watch.query.get('resourceVersion'), '40', 'from the list\'s resourceVersion')
  t.equal(source.watch.stats.failures, 3, 'three failures counted')
  t.notOk(source.loaded, 'no Secret yet: not loaded')

  const v1 = await secretObject('41')
  watch.send('ADDED', v1.object)
  await until('the created Secret\'s pair', () => source.loaded)
  t.equal(pairs[0]!.cert, v1.certPem)

  // An ERROR event that is not 410 ends the watch; it reconnects from the same resourceVersion.
  watch.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' })
  const next = await until('a watch after the ERROR event', () => api.watches.find((w, i) => i > 2 && !w.closed))
  t.equal(next.query.get('resourceVersion'), '41')

  next.send('DELETED', { ...(v1.object as object), metadata: { name: NAME, namespace: NS, resourceVersion: '42' } })
  await until('the deletion', () => source.watch.resourceVersion === '42')
  t.ok(source.loaded, 'still loaded: the last pair stays served')
  t.equal(pairs.length, 1, 'nothing new handed over')
})

t.test('the streaming GET: lines split across chunks, idle timeout, stop ends the stream', async (t) => {
  const chunks: string[] = []
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    if (req.url === '/split') {
      res.write('{"a":')
      setTimeout(() => res.write('1}\n{"b"'), 20)
      setTimeout(() => res.end(':2}'), 40)
    } else if (req.url === '/silent') {
      res.flushHeaders()
    } else res.flushHeaders()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const config: RestConfig = { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, insecureSkipTlsVerify: false, source: 'test' }
  const streamer = createRestStreamer(config, { idleTimeoutMs: 200 })
  t.teardown(() => streamer.close())

  await streamer.stream('/split', (line) => chunks.push(line)).done
  t.same(chunks, ['{"a":1}', '{"b":2}'], 'each line whole, the last one without a newline too')

  const started = Date.now()
  await t.rejects(streamer.stream('/silent', () => {}).done, /nothing received for 200 ms/, 'silence ends the stream as an error')
  t.ok(Date.now() - started < 2_000)
  await t.rejects(streamer.stream('/silent', () => {}, { idleTimeoutMs: 80 }).done, /nothing received for 80 ms/, 'a stream may set its own idle timeout')

  const open = streamer.stream('/open', () => {})
  setTimeout(() => open.abort(), 50)
  await t.resolves(open.done, 'abort() ends the stream without an error')
})

t.test('the streaming GET: a 401 re-reads a rotated token file, so the retry carries the new token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-stream-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'old-token\n')
  const seen: Array<string | undefined> = []
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization)
    if (req.headers.authorization !== 'Bearer new-token') {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ kind: 'Status', reason: 'Unauthorized', message: 'Unauthorized', code: 401 }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ok":true}\n')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const config: RestConfig = { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, insecureSkipTlsVerify: false, tokenFile, source: 'test' }
  const streamer = createRestStreamer(config)
  t.teardown(() => streamer.close())
  const failed = (): Promise<number | undefined> => streamer.stream('/w', () => {}).done.then(() => undefined, (err: unknown) => statusOf(err))
  t.equal(await failed(), 401, 'the 401 rejects with its status (the file re-read: still the old token)')
  writeFileSync(tokenFile, 'new-token\n')
  t.equal(await failed(), 401, 'the file was just read: the old token once more, and the 401 re-reads it')
  const lines: string[] = []
  await streamer.stream('/w', (line) => lines.push(line)).done
  t.same(lines, ['{"ok":true}'], 'the stream after a 401 carries the rotated token')
  t.same(seen, ['Bearer old-token', 'Bearer old-token', 'Bearer new-token'])
})
