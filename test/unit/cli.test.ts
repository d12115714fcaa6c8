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

t.test('check: usage errors exit 2 (commander would exit 1, which check uses for "denied"); --help exits 0', async (t) => {
  for (const args of [['check'], ['check', '-f', 'examples/agentrun.yaml', '--no-such-flag'], ['check', '-f', 'examples/agentrun.yaml', '-o', 'table']]) {
    const r = runguard(args)
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.match(r.stderr, /^error: /m)
  }
  t.equal(runguard(['check', '--help']).code, 0)
  const other = runguard(['manifests', '--no-such-flag'])
  t.not(other.code, 0, 'other commands still fail on usage errors')
  t.match(other.stderr, /unknown option '--no-such-flag'/)
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
  const good = runguard(['config', '--validate'])
  t.equal(good.code, 0)
  t.equal(good.stdout, 'configuration is valid\n')
  const bad = runguard(['config', '--validate'], { AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: 'soon' })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS must be integer/)
})

t.test('config --validate names unknown variables with the closest known name', async (t) => {
  const typo = runguard(['config', '--validate'], { AGENTS_CONTROLER_NAMESPACES: 'agents' })
  t.equal(typo.code, 2, 'an AGENTS_ name within 2 edits of a known one is a typo')
  t.match(typo.stderr, 'unknown variable AGENTS_CONTROLER_NAMESPACES (did you mean AGENTS_CONTROLLER_NAMESPACES?)')
  const ours = runguard(['config', '--validate'], { RUNGUARD_LOG_LEVL: 'debug', JANGAR_AGENTS_CONTROLLER_NAMESPACE: 'agents' })
  t.equal(ours.code, 2)
  t.match(ours.stderr, 'unknown variable RUNGUARD_LOG_LEVL (did you mean RUNGUARD_LOG_LEVEL?)')
  t.match(ours.stderr, 'unknown variable JANGAR_AGENTS_CONTROLLER_NAMESPACE (did you mean JANGAR_AGENTS_CONTROLLER_NAMESPACES?)')
  t.notMatch(ours.stdout, /configuration is valid/)
  const old = runguard(['config', '--validate'], { AGENTS_AGENTS_CONTROLLER_NAMESPACES: 'agents' })
  t.equal(old.code, 2, 'the double-prefixed spelling older runguard read is reported')
  t.match(old.stderr, 'AGENTS_AGENTS_CONTROLLER_NAMESPACES is not read')
  // The flags' variables are known names.
  const flags = runguard(['config', '--validate'], { RUNGUARD_PORT: '8443', RUNGUARD_TLS_CERT: '/tls.crt', RUNGUARD_RECONCILER_METRICS_PORT: '9091' })
  t.equal(flags.code, 0, flags.stderr)
  t.equal(flags.stderr, '')
})

t.test('config --validate: upstream chart\'s other AGENTS_ variables are notes, not errors', async (t) => {
  const r = runguard(['config', '--validate'], {
    AGENTS_GRPC_ENABLED: 'true',
    AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE: '10',
    AGENTS_LEADER_ELECTION_LEASE_NAME: 'agents-controller-leader',
    AGENTS_POD_NAMESPACE: 'agents',
    AGENTS_SERVICE_ACCOUNT_NAME: 'agents-sa',
    AGENTS_CONTROLLER_ENABLED: '1',
    AGENTS_SOMETHING_UPSTREAM_ADDS_LATER: 'x',
    AGENTS_CONTROLLER_NAMESPACES: 'agents',
  })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  t.match(r.stdout, 'note: AGENTS_GRPC_ENABLED is upstream\'s, not used by runguard')
  t.match(r.stdout, 'note: AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE is upstream\'s, not used by runguard')
  t.match(r.stdout, 'note: unknown variable AGENTS_SOMETHING_UPSTREAM_ADDS_LATER: not used by runguard')
  t.notMatch(r.stdout, /AGENTS_CONTROLLER_NAMESPACES/, 'a name runguard reads is not reported')
  t.match(r.stdout, /configuration is valid\n$/)
})

t.test('config --validate warns when two spellings disagree, and still passes', async (t) => {
  const r = runguard(['config', '--validate'], { AGENTS_CONTROLLER_NAMESPACES: 'a', JANGAR_AGENTS_CONTROLLER_NAMESPACES: 'b' })
  t.equal(r.code, 0)
  t.match(r.stderr, 'warning: AGENTS_CONTROLLER_NAMESPACES and JANGAR_AGENTS_CONTROLLER_NAMESPACES are set and disagree; using AGENTS_CONTROLLER_NAMESPACES')
  t.match(r.stdout, 'configuration is valid')
  const same = runguard(['config', '--validate'], { AGENTS_CONTROLLER_NAMESPACES: 'a,b', JANGAR_AGENTS_CONTROLLER_NAMESPACES: '["a","b"]' })
  t.equal(same.stderr, '', 'equal values in two spellings agree')
})

t.test('a process logs disagreeing spellings at start', async (t) => {
  // The webhook fails later (no certificate); the configuration warning is logged before that.
  const r = runguard(['webhook', '--port', '0', '--metrics-port', '0', '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'], {
    AGENTS_CONTROLLER_EVENTS_ENABLED: 'false',
    JANGAR_CONTROLLER_EVENTS_ENABLED: 'true',
  })
  const warning = (r.stdout + r.stderr).split('\n').find((line) => line.includes('are set and disagree'))
  t.ok(warning, r.stdout + r.stderr)
  t.match(JSON.parse(warning ?? '{}'), { level: 'warn', component: 'webhook', msg: 'configuration: AGENTS_CONTROLLER_EVENTS_ENABLED and JANGAR_CONTROLLER_EVENTS_ENABLED are set and disagree; using AGENTS_CONTROLLER_EVENTS_ENABLED' })
})

t.test('config --help documents the unknown-variable rule; config prints primary names then aliases', async (t) => {
  const help = runguard(['config', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /AGENTS_\* that runguard does not read: a note/)
  t.match(help.stdout, /within 2 edits/)
  const table = runguard(['config'])
  t.match(table.stdout, /^\| variable \| aliases \| default \| meaning \|$/m)
  t.match(table.stdout, '| `AGENTS_CONTROLLER_NAMESPACES` | `JANGAR_AGENTS_CONTROLLER_NAMESPACES` |')
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
