/** src/certs/write.ts: the bundle `runguard certs` writes, renewed with the CA it finds. */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readCertificateAuthority, writeCertificateBundle } from '../../../src/certs/write.ts'

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
