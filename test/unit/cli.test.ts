/** The `runguard` executable's small commands, run as a user would. */
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))
const runguard = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, ['src/cli.ts', ...args], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('--help lists every command', async (t) => {
  const r = runguard(['--help'])
  t.equal(r.code, 0)
  for (const command of ['webhook', 'reconcile', 'check', 'certs', 'manifests', 'config']) t.match(r.stdout, new RegExp(`^  ${command}`, 'm'), command)
})

t.test('certs writes a CA and a serving pair with the asked names; keys are private', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-cli-certs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = runguard(['certs', '--out', dir, '--dns', 'runguard-webhook.runguard-system.svc', '--ip', '127.0.0.1'])
  t.equal(r.code, 0, r.stderr)
  const cert = new X509Certificate(readFileSync(join(dir, 'tls.crt')))
  t.match(cert.subjectAltName, /DNS:runguard-webhook\.runguard-system\.svc/)
  t.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/)
  t.ok(cert.checkIssued(new X509Certificate(readFileSync(join(dir, 'ca.crt')))))
  t.equal(statSync(join(dir, 'tls.key')).mode & 0o077, 0, 'tls.key is not readable by others')
})

t.test('manifests renders both configurations from webhooks/', async (t) => {
  const r = runguard(['manifests', '--url', 'https://127.0.0.1:8443'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /kind: MutatingWebhookConfiguration/)
  t.match(r.stdout, /kind: ValidatingWebhookConfiguration/)
  t.match(r.stdout, /url: https:\/\/127\.0\.0\.1:8443\/validate/)
  t.match(r.stdout, /- agentruns\/status/)
})

t.test('config --validate names a bad variable and exits 2', async (t) => {
  t.equal(runguard(['config', '--validate']).code, 0)
  const bad = runguard(['config', '--validate'], { AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: 'soon' })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS must be integer/)
})

t.test('webhook refuses to start without a usable certificate, saying which file', async (t) => {
  const missing = runguard(['webhook', '--port', '0', '--metrics-port', '0', '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'])
  t.equal(missing.code, 1)
  t.match(missing.stdout + missing.stderr, /nonexistent\/tls\.crt/)
  const noFlags = runguard(['webhook'])
  t.not(noFlags.code, 0)
  t.match(noFlags.stderr, /--tls-cert/)
  const badPort = runguard(['webhook', '--port', '70000', '--tls-cert', 'x', '--tls-key', 'y'])
  t.not(badPort.code, 0)
  t.match(badPort.stderr, /must be a port number/)
})
