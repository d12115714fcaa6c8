/** Serving-certificate reload keeps the old pair when the new files are bad or half-written. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { writeCertificateBundle } from '../../../src/certs/write.ts'
import { silentLogger } from '../../../src/log.ts'
import { CertificateWatcher, loadKeyPair, type KeyPair } from '../../../src/server/tls.ts'

const dir = mkdtempSync(join(tmpdir(), 'runguard-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const first = await writeCertificateBundle(join(dir, 'a'), { dnsNames: ['localhost'] })
const second = await writeCertificateBundle(join(dir, 'b'), { dnsNames: ['localhost'] })
const live = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
const install = (from: { certPath: string; keyPath: string }) => {
  writeFileSync(live.key, readFileSync(from.keyPath))
  writeFileSync(live.cert, readFileSync(from.certPath))
}

t.test('loadKeyPair names the file at fault', async (t) => {
  install(first)
  t.ok(loadKeyPair(live.cert, live.key).notAfter.getTime() > Date.now())
  t.throws(() => loadKeyPair(join(dir, 'missing.crt'), live.key), /ENOENT/)
  writeFileSync(join(dir, 'junk.crt'), 'not a certificate')
  t.throws(() => loadKeyPair(join(dir, 'junk.crt'), live.key), /junk\.crt: not a PEM certificate/)
  t.throws(() => loadKeyPair(first.certPath, join(dir, 'junk.crt')), /junk\.crt: not a PEM private key/)
  t.throws(() => loadKeyPair(first.certPath, second.keyPath), /does not match the certificate/)
})

t.test('the watcher swaps only to a good, different pair', async (t) => {
  install(first)
  const reloads: KeyPair[] = []
  const watcher = new CertificateWatcher({ certFile: live.cert, keyFile: live.key, logger: silentLogger(), onReload: (p) => reloads.push(p) })
  t.teardown(() => watcher.stop())
  t.equal(watcher.check(), false, 'unchanged files: no reload')
  // Half-way through a rotation: new key, old certificate.
  writeFileSync(live.key, readFileSync(second.keyPath))
  t.equal(watcher.check(), false, 'mismatched pair: keep serving the old one')
  t.equal(watcher.keyPair.cert, readFileSync(first.certPath, 'utf8'))
  writeFileSync(live.cert, readFileSync(second.certPath))
  t.equal(watcher.check(), true, 'complete pair: reload')
  t.equal(reloads.length, 1)
  t.equal(watcher.keyPair.cert, readFileSync(second.certPath, 'utf8'))
})

t.test('fs.watch picks up a rotation without polling', async (t) => {
  install(first)
  const watcher = new CertificateWatcher({ certFile: live.cert, keyFile: live.key, logger: silentLogger(), onReload: () => {}, pollIntervalMs: 3_600_000 })
  t.teardown(() => watcher.stop())
  watcher.start()
  install(second)
  const deadline = Date.now() + 5000
  while (watcher.keyPair.cert !== readFileSync(second.certPath, 'utf8') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(watcher.keyPair.cert, readFileSync(second.certPath, 'utf8'))
})

t.test('a pair given in memory (self-managed TLS): checked, and swapped in by use()', async (t) => {
  const { createCertificateAuthority, issueServingCertificate } = await import('../../../src/certs/generate.ts')
  const { keyPairFromPem } = await import('../../../src/server/tls.ts')
  const ca = await createCertificateAuthority()
  const one = await issueServingCertificate(ca, { dnsNames: ['a'] })
  const two = await issueServingCertificate(ca, { dnsNames: ['a'] })
  t.throws(() => keyPairFromPem(one.certPem, two.keyPem, 'secret tls.crt', 'secret tls.key'), /secret tls.key does not match the certificate in secret tls.crt/)
  t.throws(() => keyPairFromPem('nope', one.keyPem), /tls.crt: not a PEM certificate/)
  const reloads: KeyPair[] = []
  const watcher = new CertificateWatcher({ initial: keyPairFromPem(one.certPem, one.keyPem), logger: silentLogger(), onReload: (pair) => reloads.push(pair) })
  watcher.start() // no files: nothing to watch
  t.equal(watcher.use(keyPairFromPem(one.certPem, one.keyPem)), false, 'the same pair: no swap')
  t.equal(watcher.use(keyPairFromPem(two.certPem, two.keyPem)), true)
  t.equal(watcher.keyPair.cert, two.certPem)
  t.equal(reloads.length, 1)
  t.equal(watcher.check(), false, 'no files to check')
  watcher.stop()
  t.throws(() => new CertificateWatcher({ logger: silentLogger(), onReload: () => {} }), /needs certFile and keyFile, or an initial pair/)
})
