/**
 * src/certs/generate.ts: CA and leaf certificates that real TLS clients and servers accept; also
 * the client certificates and service-account key pair of test/helpers/certs.ts built on it.
 */
import { X509Certificate, createPrivateKey, createPublicKey, createSign, createVerify } from 'node:crypto'
import { once } from 'node:events'
import { request, createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createCertificateAuthority, issueServingCertificate, type CertificateAuthority, type IssuedCertificate } from '../../../src/certs/generate.ts'
import { createServiceAccountKeyPair, issueClientCertificate } from '../../helpers/certs.ts'

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
