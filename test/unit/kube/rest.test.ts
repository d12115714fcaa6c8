/**
 * src/kube/rest.ts: where credentials come from (kubeconfig variants, in-cluster, precedence,
 * refusals) and what goes over the wire (TLS, client certificates, headers, JSON, keep-alive,
 * timeouts, token rotation and the one retry after a 401) against a local HTTPS server.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { issueClientCertificate } from '../../helpers/certs.ts'
import { createRestClient, loadRestConfig, TOKEN_REREAD_MS, type RestConfig } from '../../../src/kube/rest.ts'
import { version } from '../../../src/version.ts'
import { tlsApiServer, type Answer, type SeenRequest } from '../../helpers/tls-api-server.ts'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-rest-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A kubeconfig with one context `ctx` → cluster `c`, user `u`. */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'ctx',
    clusters: [{ name: 'c', cluster }],
    users: user === undefined ? [] : [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', ...(user === undefined ? {} : { user: 'u' }), namespace: 'ignored' } }],
    ...extra,
  })
}

function writeKubeconfig(dir: string, text: string, name = 'config'): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

t.test('kubeconfig: certificate data, token, tls-server-name', async (t) => {
  const dir = tempDir(t)
  const file = writeKubeconfig(
    dir,
    `apiVersion: v1
kind: Config
current-context: ctx
clusters:
  - name: c
    cluster:
      server: https://10.0.0.1:6443/
      certificate-authority-data: ${b64('CA PEM')}
      tls-server-name: kubernetes.default
users:
  - name: u
    user:
      client-certificate-data: ${b64('CERT PEM')}
      client-key-data: ${b64('KEY PEM')}
      token: abc
contexts:
  - name: ctx
    context: {cluster: c, user: u}
`,
  )
  t.same(loadRestConfig({}, file), {
    server: 'https://10.0.0.1:6443',
    ca: 'CA PEM',
    insecureSkipTlsVerify: false,
    tlsServerName: 'kubernetes.default',
    clientCert: 'CERT PEM',
    clientKey: 'KEY PEM',
    token: 'abc',
    source: file,
  })
})

t.test('kubeconfig: file paths resolve against the kubeconfig folder; tokenFile; insecure', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'kube', 'pki'), { recursive: true })
  writeFileSync(join(dir, 'kube', 'pki', 'ca.crt'), 'CA FROM FILE')
  writeFileSync(join(dir, 'kube', 'pki', 'user.crt'), 'CERT FROM FILE')
  writeFileSync(join(dir, 'kube', 'pki', 'user.key'), 'KEY FROM FILE')
  writeFileSync(join(dir, 'kube', 'token'), 'tok\n')
  const file = writeKubeconfig(
    join(dir, 'kube'),
    kubeconfig(
      { server: 'https://api.example:443', 'certificate-authority': 'pki/ca.crt' },
      { 'client-certificate': 'pki/user.crt', 'client-key': join(dir, 'kube', 'pki', 'user.key'), tokenFile: './token' },
    ),
  )
  t.same(loadRestConfig({}, file), {
    server: 'https://api.example:443',
    ca: 'CA FROM FILE',
    insecureSkipTlsVerify: false,
    clientCert: 'CERT FROM FILE',
    clientKey: 'KEY FROM FILE',
    tokenFile: join(dir, 'kube', 'token'),
    source: file,
  })

  const insecure = writeKubeconfig(dir, kubeconfig({ server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true }, { token: 't' }), 'insecure')
  t.match(loadRestConfig({}, insecure), { insecureSkipTlsVerify: true, token: 't' })
  t.notOk(loadRestConfig({}, insecure)?.ca)

  const anonymous = writeKubeconfig(dir, kubeconfig({ server: 'http://127.0.0.1:8001' }, undefined), 'anonymous')
  t.same(loadRestConfig({}, anonymous), { server: 'http://127.0.0.1:8001', insecureSkipTlsVerify: false, source: anonymous })
})

t.test('kubeconfig refusals name what is wrong', async (t) => {
  const dir = tempDir(t)
  const cases: Array<{ name: string; text: string; error: RegExp }> = [
    {
      name: 'exec plugin',
      text: kubeconfig({ server: 'https://x' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } }),
      error: /unsupported: user "u" exec \(runguard's REST client supports client certificates, token and tokenFile/,
    },
    { name: 'auth-provider', text: kubeconfig({ server: 'https://x' }, { 'auth-provider': { name: 'oidc' } }), error: /unsupported: user "u" auth-provider/ },
    { name: 'basic auth', text: kubeconfig({ server: 'https://x' }, { username: 'a', password: 'b' }), error: /unsupported: user "u" username, user "u" password/ },
    { name: 'impersonation', text: kubeconfig({ server: 'https://x' }, { token: 't', as: 'admin' }), error: /unsupported: user "u" as\b/ },
    { name: 'proxy-url', text: kubeconfig({ server: 'https://x', 'proxy-url': 'http://proxy:3128' }, { token: 't' }), error: /unsupported: cluster "c" proxy-url/ },
    { name: 'no current-context', text: kubeconfig({ server: 'https://x' }, { token: 't' }, { 'current-context': '' }), error: /no current-context set/ },
    { name: 'unknown context', text: kubeconfig({ server: 'https://x' }, { token: 't' }, { 'current-context': 'other' }), error: /context "other" not found in contexts/ },
    { name: 'no server', text: kubeconfig({}, { token: 't' }), error: /cluster "c" has no server/ },
    { name: 'not a URL', text: kubeconfig({ server: 'x y' }, { token: 't' }), error: /server "x y" is not a URL/ },
    { name: 'cert without key', text: kubeconfig({ server: 'https://x' }, { 'client-certificate-data': b64('C') }), error: /client certificate or key without the other/ },
    { name: 'missing CA file', text: kubeconfig({ server: 'https://x', 'certificate-authority': 'nope.crt' }, { token: 't' }), error: /cluster "c" certificate-authority: ENOENT/ },
    { name: 'missing tokenFile', text: kubeconfig({ server: 'https://x' }, { tokenFile: 'nope' }), error: /user "u" tokenFile .*nope does not exist/ },
    { name: 'not YAML', text: 'a: [', error: /^kubeconfig .*: / },
    { name: 'not a mapping', text: '- 1', error: /not a kubeconfig/ },
  ]
  for (const c of cases) {
    const file = writeKubeconfig(dir, c.text, c.name.replaceAll(' ', '-'))
    t.throws(() => loadRestConfig({}, file), c.error, c.name)
  }
})

t.test('precedence: explicit file, then KUBECONFIG (first of the list), then in-cluster, else undefined', async (t) => {
  const dir = tempDir(t)
  const first = writeKubeconfig(dir, kubeconfig({ server: 'https://first' }, { token: '1' }), 'first')
  const second = writeKubeconfig(dir, kubeconfig({ server: 'https://second' }, { token: '2' }), 'second')
  const sa = join(dir, 'sa')
  mkdirSync(sa)
  writeFileSync(join(sa, 'token'), 'sa-token')
  writeFileSync(join(sa, 'ca.crt'), 'CLUSTER CA')
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }

  t.match(loadRestConfig({ ...inCluster, KUBECONFIG: first }, second, sa), { server: 'https://second', source: second }, 'explicit file first')
  t.match(loadRestConfig({ ...inCluster, KUBECONFIG: `${first}:${second}` }, undefined, sa), { server: 'https://first', source: first }, 'then the first file of KUBECONFIG')
  t.match(loadRestConfig({ ...inCluster, KUBECONFIG: `:${second}` }, undefined, sa), { server: 'https://second' }, 'empty list entries skipped')
  t.throws(() => loadRestConfig({ KUBECONFIG: join(dir, 'missing') }, undefined, sa), /kubeconfig .*missing does not exist/)

  t.same(
    loadRestConfig(inCluster, undefined, sa),
    { server: 'https://10.96.0.1:443', ca: 'CLUSTER CA', insecureSkipTlsVerify: false, tokenFile: join(sa, 'token'), source: 'in-cluster' },
    'then in-cluster',
  )
  t.match(loadRestConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, undefined, sa), { server: 'https://[fd00::1]:443' }, 'IPv6 host bracketed')
  t.equal(loadRestConfig({}, undefined, sa), undefined, 'no KUBERNETES_SERVICE_HOST')
  t.equal(loadRestConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, undefined, sa), undefined, 'no port')
  t.equal(loadRestConfig(inCluster, undefined, join(dir, 'no-sa')), undefined, 'no token file')
  rmSync(join(sa, 'ca.crt'))
  t.notOk(loadRestConfig(inCluster, undefined, sa)?.ca, 'no ca.crt: default roots, like client-go')
})

/** Server + client over real TLS; the client trusts the server's CA. */
async function setup(t: Test, answer: (req: SeenRequest) => Answer, config: Partial<RestConfig> = {}, now?: () => number) {
  const api = await tlsApiServer(answer)
  t.teardown(api.close)
  const client = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, source: 'test', ...config }, { timeoutMs: 2_000, ...(now ? { now } : {}) })
  t.teardown(() => client.close())
  return { api, client }
}

t.test('requests: method, path, headers, JSON both ways, non-2xx returned, keep-alive', async (t) => {
  const { api, client } = await setup(
    t,
    (req) =>
      req.url.endsWith('/missing')
        ? { status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } }
        : req.url.endsWith('/text')
          ? { status: 404, body: '404 page not found\n' }
          : req.url.endsWith('/empty')
            ? { status: 200 }
            : { status: 201, body: { echoed: req.json } },
    { token: 'sekret' },
  )

  const created = await client.request('POST', '/api/v1/namespaces/a/events', { a: 1, s: 'é' })
  t.same(created, { status: 201, body: { echoed: { a: 1, s: 'é' } } })
  const [post] = api.seen
  t.match(post, { method: 'POST', url: '/api/v1/namespaces/a/events', text: '{"a":1,"s":"é"}' })
  t.match(post?.headers, {
    authorization: 'Bearer sekret',
    'user-agent': `runguard/${version()}`,
    accept: 'application/json',
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength('{"a":1,"s":"é"}')),
  })

  await client.request('PATCH', '/api/v1/namespaces/a/events/x', { count: 2 }, 'application/merge-patch+json')
  t.equal(api.seen[1]?.headers['content-type'], 'application/merge-patch+json')

  t.same(await client.request('GET', '/missing'), { status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } }, 'a Status body parsed, not thrown')
  t.same(await client.request('GET', '/text'), { status: 404, body: '404 page not found\n' }, 'a text body stays text')
  t.same(await client.request('GET', '/empty'), { status: 200, body: undefined })
  t.notOk(api.seen[2]?.headers['content-type'], 'no body, no content type')

  await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => client.request('GET', '/empty')))
  t.ok(api.connections() <= 4, `at most 4 connections (maxSockets), saw ${api.connections()}`)
  t.equal(new Set(api.seen.slice(0, 5).map((s) => s.connection)).size, 1, 'sequential requests share one kept-alive connection')
})

t.test('a path prefix in the server URL is kept', async (t) => {
  const api = await tlsApiServer(() => ({ status: 200, body: {} }))
  t.teardown(api.close)
  const client = createRestClient({ server: `${api.url}/k8s/clusters/c-1`, ca: api.caPem, insecureSkipTlsVerify: false, source: 'test' })
  t.teardown(() => client.close())
  await client.request('GET', '/api/v1/namespaces')
  t.equal(api.seen[0]?.url, '/k8s/clusters/c-1/api/v1/namespaces')
})

t.test('TLS: the server is verified against the CA; insecure skips that; tls-server-name', async (t) => {
  const api = await tlsApiServer(() => ({ status: 200, body: {} }), { dnsNames: ['api.internal'], ipAddresses: [] })
  t.teardown(api.close)
  const base: RestConfig = { server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, source: 'test' }
  const clients = [
    createRestClient(base),
    createRestClient({ ...base, tlsServerName: 'api.internal' }),
    createRestClient({ ...base, ca: undefined, tlsServerName: 'api.internal' }),
    createRestClient({ ...base, ca: undefined, insecureSkipTlsVerify: true }),
  ]
  t.teardown(() => clients.forEach((c) => c.close()))
  const [byIp, byName, untrusted, insecure] = clients

  await t.rejects(byIp!.request('GET', '/'), /IP: 127\.0\.0\.1 is not in the cert's list|does not match/, 'certificate is for api.internal, not 127.0.0.1')
  t.equal((await byName!.request('GET', '/')).status, 200, 'tls-server-name: verified as api.internal')
  await t.rejects(untrusted!.request('GET', '/'), /self[- ]signed|unable to verify|unable to get local issuer/, 'an unknown CA is refused')
  t.equal((await insecure!.request('GET', '/')).status, 200, 'insecure-skip-tls-verify')
})

t.test('client certificate authentication', async (t) => {
  const api = await tlsApiServer(() => ({ status: 200, body: {} }))
  t.teardown(api.close)
  const cert = await issueClientCertificate(api.ca, { commonName: 'system:serviceaccount:runguard-system:runguard', organizations: ['system:serviceaccounts'] })
  const client = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, clientCert: cert.certPem, clientKey: cert.keyPem, source: 'test' })
  t.teardown(() => client.close())
  await client.request('GET', '/api')
  t.equal(api.seen[0]?.clientCommonName, 'system:serviceaccount:runguard-system:runguard', 'the server saw our client certificate')
  t.notOk(api.seen[0]?.headers.authorization, 'and no bearer token')

  // The same certificate through a kubeconfig file (relative paths), end to end.
  writeFileSync(join(api.dir, 'user.crt'), cert.certPem)
  writeFileSync(join(api.dir, 'user.key'), cert.keyPem)
  writeFileSync(join(api.dir, 'ca.crt'), api.caPem)
  const file = writeKubeconfig(api.dir, kubeconfig({ server: api.url, 'certificate-authority': 'ca.crt' }, { 'client-certificate': 'user.crt', 'client-key': 'user.key' }))
  const fromFile = createRestClient(loadRestConfig({}, file)!)
  t.teardown(() => fromFile.close())
  await fromFile.request('GET', '/api')
  t.equal(api.seen[1]?.clientCommonName, 'system:serviceaccount:runguard-system:runguard')
})

t.test('network errors and timeouts reject', async (t) => {
  const { api, client } = await setup(t, (req) => (req.url === '/hang' ? 'hang' : { status: 200, body: {} }))
  const slow = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, source: 'test' }, { timeoutMs: 200 })
  t.teardown(() => slow.close())
  const started = Date.now()
  await t.rejects(slow.request('GET', '/hang'), /GET \/hang: no response within 200 ms/)
  // Without the timeout the request would hang until the test's own timeout; 5 s is slack for a loaded machine.
  t.ok(Date.now() - started < 5_000, 'gave up after the timeout')
  t.equal((await client.request('GET', '/fine')).status, 200, 'the client still works')

  const closedPort = createRestClient({ server: 'https://127.0.0.1:1', insecureSkipTlsVerify: true, source: 'test' })
  t.teardown(() => closedPort.close())
  await t.rejects(closedPort.request('GET', '/'), { code: 'ECONNREFUSED' })
})

t.test('a kept-alive connection closed before any answer is retried once on a new one', async (t) => {
  const { api, client } = await setup(t, (req) => {
    const onThisConnection = api.seen.filter((s) => s.connection === req.connection).length
    return req.url === '/drop-always' || (req.url === '/drop-reused' && onThisConnection === 2) ? 'drop' : { status: 200, body: { n: api.seen.length } }
  })
  t.equal((await client.request('GET', '/first')).status, 200)
  t.same(await client.request('POST', '/drop-reused', { x: 1 }), { status: 200, body: { n: 3 } })
  t.same(
    api.seen.map((s) => [s.connection, s.url, s.text]),
    [
      [1, '/first', ''],
      [1, '/drop-reused', '{"x":1}'],
      [2, '/drop-reused', '{"x":1}'],
    ],
  )
  await t.rejects(client.request('GET', '/drop-always'), { code: 'ECONNRESET' }, 'closed on a reused connection, then on a fresh one: the error')
  t.equal(api.seen.filter((s) => s.url === '/drop-always').length, 2, 'sent twice, not more')
})

t.test('token file: read at most once a minute', async (t) => {
  const dir = tempDir(t)
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'first\n')
  let now = 1_000_000
  const { api, client } = await setup(t, () => ({ status: 200, body: {} }), { tokenFile, token: 'fixed-fallback' }, () => now)
  const tokens = () => api.seen.map((s) => s.headers.authorization)

  await client.request('GET', '/')
  writeFileSync(tokenFile, 'second\n')
  now += TOKEN_REREAD_MS - 1
  await client.request('GET', '/')
  now += 1
  await client.request('GET', '/')
  t.same(tokens(), ['Bearer first', 'Bearer first', 'Bearer second'], 'the rotated token is picked up after a minute, not before')

  rmSync(tokenFile)
  now += TOKEN_REREAD_MS
  await client.request('GET', '/')
  t.equal(tokens()[3], 'Bearer second', 'an unreadable file keeps the last good token')
})

t.test('token file: unreadable from the start is an error', async (t) => {
  const dir = tempDir(t)
  const { client } = await setup(t, () => ({ status: 200, body: {} }), { tokenFile: join(dir, 'gone') })
  await t.rejects(client.request('GET', '/'), /cannot read token file .*gone: ENOENT/)
})

t.test('401: the token file is re-read at once and the request sent again, once', async (t) => {
  const dir = tempDir(t)
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'old')
  const valid = new Set(['old'])
  const { api, client } = await setup(t, (req) => (valid.has(req.headers.authorization?.slice('Bearer '.length) ?? '') ? { status: 200, body: { ok: true } } : { status: 401, body: { kind: 'Status', reason: 'Unauthorized', code: 401 } }), { tokenFile }, () => 0)
  t.equal((await client.request('GET', '/')).status, 200, 'the token file has been read')

  // The token rotates and the old one is revoked, all within the minute the file is not re-read.
  writeFileSync(tokenFile, 'new')
  valid.clear()
  valid.add('new')
  const answered = await client.request('POST', '/api/v1/namespaces/a/events', { n: 1 })
  t.same(answered, { status: 200, body: { ok: true } }, 'after the 401 the rotated token was read and used')
  t.same(
    api.seen.slice(1).map((s) => [s.method, s.headers.authorization, s.text]),
    [
      ['POST', 'Bearer old', '{"n":1}'],
      ['POST', 'Bearer new', '{"n":1}'],
    ],
    'the retry carries the same body',
  )

  valid.clear()
  const rejected = await client.request('GET', '/')
  t.same(rejected, { status: 401, body: { kind: 'Status', reason: 'Unauthorized', code: 401 } }, 'the token did not change: the 401 is returned')
  t.equal(api.seen.length, 4, 'without a retry')

  writeFileSync(tokenFile, 'newer')
  t.equal((await client.request('GET', '/')).status, 401)
  t.same(api.seen.slice(4).map((s) => s.headers.authorization), ['Bearer new', 'Bearer newer'], 'one retry, not more')

  const fixed = createRestClient({ server: api.url, ca: api.caPem, insecureSkipTlsVerify: false, token: 'static', source: 'test' })
  t.teardown(() => fixed.close())
  const before = api.seen.length
  t.equal((await fixed.request('GET', '/')).status, 401)
  t.equal(api.seen.length, before + 1, 'a fixed token is not retried')
})
