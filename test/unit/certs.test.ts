import { X509Certificate, createPrivateKey, createPublicKey, createSign, createVerify } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { request, createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  createCertificateAuthority,
  createServiceAccountKeyPair,
  issueClientCertificate,
  issueServingCertificate,
  type CertificateAuthority,
  type IssuedCertificate,
} from '../../src/certs/generate.ts'
import { readCertificateAuthority, writeCertificateBundle } from '../../src/certs/write.ts'

/** GETs `/` over TLS from 127.0.0.1:port, trusting only `caPem`; resolves with the body. */
async function handshake(port: number, caPem: string, servername: string, client?: IssuedCertificate): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: caPem,
        servername,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        agent: false,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve(body))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

async function serve(serving: IssuedCertificate, extra: { ca?: string; requestCert?: boolean } = {}): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ...extra }, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate()
    res.end(peer.subject ? `hello ${peer.subject.CN}` : 'hello')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

for (const keyAlgorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
  t.test(`serving certificate (${keyAlgorithm})`, async (t) => {
    const ca = await createCertificateAuthority({ commonName: 'unit-ca', days: 30, keyAlgorithm })
    const serving = await issueServingCertificate(ca, {
      dnsNames: ['runguard.runguard-system.svc', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      days: 2,
      keyAlgorithm,
    })
    const caCert = new X509Certificate(ca.certPem)
    const cert = new X509Certificate(serving.certPem)

    t.equal(caCert.ca, true, 'the CA certificate is a CA')
    t.equal(caCert.subject, 'CN=unit-ca')
    t.ok(caCert.checkIssued(caCert) && caCert.verify(caCert.publicKey), 'the CA is self-signed')
    t.equal(cert.ca, false, 'the serving certificate is not a CA')
    t.equal(cert.subjectAltName, 'DNS:runguard.runguard-system.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
    t.equal(cert.checkIP('127.0.0.1'), '127.0.0.1')
    t.equal(cert.checkHost('localhost'), 'localhost')
    t.equal(cert.checkHost('other.example'), undefined)
    t.ok(cert.checkIssued(caCert), 'issued by the CA (names and key identifiers)')
    t.ok(cert.verify(caCert.publicKey), 'signed by the CA key')
    t.ok(cert.checkPrivateKey(createPrivateKey(serving.keyPem)), 'the key matches the certificate')
    t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth')
    t.match(serving.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8 PEM')
    for (const pem of [ca.certPem, serving.certPem, serving.keyPem]) {
      t.ok(pem.endsWith('-----\n') && !pem.includes('\r'), 'PEM ends with one newline (safe to concatenate into a bundle)')
    }

    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000
    t.ok(days > 1.9 && days <= 2, `valid for the days asked (${days.toFixed(3)})`)
    t.ok(Date.parse(cert.validFrom) <= Date.now(), 'already valid')

    const server = await serve(serving)
    t.teardown(server.close)
    t.equal(await handshake(server.port, ca.certPem, 'runguard.runguard-system.svc'), 'hello', 'TLS by DNS name, trusting only the CA')

    const stranger = await createCertificateAuthority({ commonName: 'someone-else' })
    await t.rejects(handshake(server.port, stranger.certPem, 'localhost'), 'a client trusting another CA refuses')
    await t.rejects(handshake(server.port, ca.certPem, 'wrong.example'), /altnames/i, 'a name not in the SANs is refused')
  })
}

t.test('IP-only serving certificate works for https://127.0.0.1 (no servername)', async (t) => {
  const ca = await createCertificateAuthority()
  const serving = await issueServingCertificate(ca, { ipAddresses: ['127.0.0.1'] })
  t.equal(new X509Certificate(serving.certPem).subject, 'CN=127.0.0.1')
  const server = await serve(serving)
  t.teardown(server.close)
  const body = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.port, ca: ca.certPem, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(String(res.statusCode)))
    })
      .on('error', reject)
      .end()
  })
  t.equal(body, '200')
})

t.test('serving certificate input checks', async (t) => {
  const ca = await createCertificateAuthority()
  await t.rejects(issueServingCertificate(ca, {}), /at least one DNS name or IP address/)
  await t.rejects(issueServingCertificate(ca, { ipAddresses: ['localhost'] }), /not an IP address/)
  await t.rejects(issueServingCertificate(ca, { dnsNames: ['a'], days: 0 }), /positive number of days/)
})

t.test('client certificate carries CN and every O; mutual TLS accepts it', async (t) => {
  const ca = await createCertificateAuthority()
  const client = await issueClientCertificate(ca, { commonName: 'admin', organizations: ['system:masters', 'runguard:testers'] })
  const cert = new X509Certificate(client.certPem)
  t.equal(cert.subject, 'O=system:masters\nO=runguard:testers\nCN=admin')
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extended key usage: clientAuth')
  t.ok(cert.checkIssued(new X509Certificate(ca.certPem)))
  t.ok(cert.verify(new X509Certificate(ca.certPem).publicKey))
  t.ok(cert.checkPrivateKey(createPrivateKey(client.keyPem)))

  const serving = await issueServingCertificate(ca, { dnsNames: ['localhost'] })
  const server = await serve(serving, { ca: ca.certPem, requestCert: true })
  t.teardown(server.close)
  t.equal(await handshake(server.port, ca.certPem, 'localhost', client), 'hello admin', 'the server sees the client certificate')
})

t.test('CA rotation: a bundle of old + new CA trusts serving certificates from either', async (t) => {
  const oldCa = await createCertificateAuthority({ commonName: 'old' })
  const newCa = await createCertificateAuthority({ commonName: 'new' })
  const bundle = oldCa.certPem + newCa.certPem // plain concatenation, as README's `cat` does
  for (const [label, ca] of [['old', oldCa], ['new', newCa]] as const) {
    const server = await serve(await issueServingCertificate(ca, { dnsNames: ['localhost'] }))
    t.equal(await handshake(server.port, bundle, 'localhost'), 'hello', `certificate from the ${label} CA`)
    await server.close()
  }
})

t.test('certificates can be issued from a CA read back from PEM (RSA CA, ECDSA leaf)', async (t) => {
  const ca = await createCertificateAuthority({ keyAlgorithm: 'rsa-2048' })
  const copy: CertificateAuthority = { certPem: `${ca.certPem}`, keyPem: `${ca.keyPem}` }
  const leaf = await issueServingCertificate(copy, { dnsNames: ['x.example'] })
  t.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey))
})

t.test('service-account key pair is RSA, PKCS#8 + SPKI, and the halves match', async (t) => {
  const pair = await createServiceAccountKeyPair()
  t.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/)
  t.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/)
  const priv = createPrivateKey(pair.privateKeyPem)
  t.equal(priv.asymmetricKeyType, 'rsa')
  t.equal(priv.asymmetricKeyDetails?.modulusLength, 2048)
  const signature = createSign('sha256').update('token').sign(priv)
  t.ok(createVerify('sha256').update('token').verify(createPublicKey(pair.publicKeyPem), signature))
})

t.test('writeCertificateBundle writes ca.crt, ca.key, tls.crt, tls.key and renews with the CA it finds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'runguard-certs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const out = join(dir, 'nested', 'certs')

  const first = await writeCertificateBundle(out, { dnsNames: ['runguard.runguard-system.svc'], ipAddresses: ['127.0.0.1'] })
  t.equal(first.certPath, join(out, 'tls.crt'))
  t.equal(first.caKeyPath, join(out, 'ca.key'))
  for (const [file, mode] of [['ca.crt', 0o644], ['tls.crt', 0o644], ['tls.key', 0o600], ['ca.key', 0o600]] as const) {
    const permissions = (await stat(join(out, file))).mode & 0o777
    if (mode === 0o600) t.equal(permissions, 0o600, `${file} is 0600`)
    else t.equal(permissions & 0o022, 0, `${file} is not writable by group or others`)
  }
  const caPem = await readFile(join(out, 'ca.crt'), 'utf8')
  t.equal(caPem, first.caPem)
  const cert = new X509Certificate(await readFile(join(out, 'tls.crt'), 'utf8'))
  t.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(out, 'tls.key'), 'utf8'))))
  t.ok(cert.verify(new X509Certificate(caPem).publicKey))
  t.equal(cert.subjectAltName, 'DNS:runguard.runguard-system.svc, IP Address:127.0.0.1')

  t.equal(first.caSource, 'new')

  // Running again on the same folder renews the serving certificate with the CA found there.
  const caKeyBefore = await readFile(join(out, 'ca.key'), 'utf8')
  const renewed = await writeCertificateBundle(out, { dnsNames: ['runguard.runguard-system.svc'] })
  t.equal(renewed.caSource, 'reused')
  t.equal(renewed.caKeyPath, undefined, 'a reused CA key is not rewritten')
  t.equal(await readFile(join(out, 'ca.key'), 'utf8'), caKeyBefore)
  t.equal(await readFile(join(out, 'ca.crt'), 'utf8'), caPem, 'caBundle unchanged by a renewal')
  const next = new X509Certificate(await readFile(join(out, 'tls.crt'), 'utf8'))
  t.not(next.serialNumber, cert.serialNumber, 'a new serving certificate')
  t.ok(next.verify(new X509Certificate(caPem).publicKey))
  t.same((await readdir(out)).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'], 'no temporary files left')

  // An explicit CA (e.g. read from elsewhere) wins; reuseCa: false starts over.
  const given = await writeCertificateBundle(join(dir, 'other'), { dnsNames: ['x'], ca: await readCertificateAuthority(out) })
  t.equal(given.caSource, 'given')
  t.equal(given.caPem, caPem)
  const fresh = await writeCertificateBundle(out, { dnsNames: ['x'], reuseCa: false })
  t.equal(fresh.caSource, 'new')
  t.not(fresh.caPem, caPem, 'a new CA')
  t.not(await readFile(join(out, 'ca.key'), 'utf8'), caKeyBefore, 'and its key')

  await t.rejects(writeCertificateBundle(out, { dnsNames: [] }), /at least one DNS name or IP address/)
})
