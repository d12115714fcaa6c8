/**
 * There is no container engine here, so the image is proved by its content instead: the test
 * assembles the same production tree the Dockerfile's final stage holds — compiled output plus a
 * fresh `npm ci --omit=dev` — in a temporary folder, checks no dev dependency made it in, and starts
 * both subcommands from it against the real control plane.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { renderAdmission, writerIdentities } from '../../src/admission/manifests.ts'
import { loadConfig } from '../../src/config.ts'
import { writeCertificateBundle } from '../../src/certs/write.ts'
import { EXCLUDED_NAMESPACES, WEBHOOKS } from '../../webhooks/index.ts'
import { freePorts, startControlPlaneForTest } from '../harness/controlplane.ts'
import { startProcess } from '../harness/processes.ts'
import { installCrds, REPO_ROOT, RUNGUARD_NAMESPACE, waitForHttpReady } from '../harness/runguard.ts'

const app = mkdtempSync(join(tmpdir(), 'runguard-image-'))
t.teardown(() => rmSync(app, { recursive: true, force: true }))

function run(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 300_000 })
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return r.stdout
}

t.test('the Dockerfile builds what this test assembles', async (t) => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
  t.match(dockerfile, /^FROM node:24[^\n]* AS build$/m, 'build stage on Node 24')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only')
  t.match(dockerfile, /^USER 65532:65532$/m, 'non-root')
  t.match(dockerfile, /COPY --from=build \/src\/dist \.\/dist/, 'compiled output only')
  t.match(dockerfile, /^ENTRYPOINT \["node", "--", "\/app\/dist\/src\/cli\.js"\]$/m)
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  for (const entry of ['node_modules', '.cache', 'test', '*.key']) t.match(ignore, new RegExp(`^${entry.replace(/[.*]/g, '\\$&')}$`, 'm'), entry)
})

t.test('production tree: compiled output + npm ci --omit=dev', async (t) => {
  run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], REPO_ROOT)
  copyFileSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'))
  copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(app, 'package-lock.json'))
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], app)
  t.ok(existsSync(join(app, 'dist', 'src', 'cli.js')), 'entry point compiled')
  for (const dev of ['typescript', 'tap', 'autocannon', 'node']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev} in the image`)
  for (const prod of ['fastify', '@kubernetes/client-node', 'prom-client', 'pino', 'ajv']) t.ok(existsSync(join(app, 'node_modules', prod)), `${prod} present`)
  t.notOk(existsSync(join(app, 'dist', 'test')), 'no tests in the image')
})

t.test('both subcommands run from the production tree against a real API server', async (t) => {
  const cp = await startControlPlaneForTest(t)
  await installCrds(cp)
  await cp.kubectl(['create', 'namespace', RUNGUARD_NAMESPACE])
  const certs = await writeCertificateBundle(join(app, 'tls'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const [port = 0, metricsPort = 0, reconcilerMetricsPort = 0] = await freePorts(3)
  const cli = join(app, 'dist', 'src', 'cli.js')
  const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'production', RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE }
  const webhook = startProcess({
    name: 'image-webhook',
    command: process.execPath,
    args: [cli, 'webhook', '--port', String(port), '--host', '127.0.0.1', '--tls-cert', certs.certPath, '--tls-key', certs.keyPath, '--metrics-port', String(metricsPort), '--kubeconfig', cp.kubeconfigPath],
    logPath: join(cp.logsDir, 'image-webhook.log'),
    env,
  })
  t.teardown(() => webhook.stop())
  const reconciler = startProcess({
    name: 'image-reconciler',
    command: process.execPath,
    args: [cli, 'reconcile', '--metrics-port', String(reconcilerMetricsPort), '--metrics-host', '127.0.0.1', '--kubeconfig', cp.kubeconfigPath],
    logPath: join(cp.logsDir, 'image-reconciler.log'),
    env,
  })
  t.teardown(() => reconciler.stop())
  await waitForHttpReady(metricsPort, 'webhook from the production tree', webhook)
  await waitForHttpReady(reconcilerMetricsPort, 'reconciler from the production tree', reconciler, 60_000)

  await cp.apply(
    renderAdmission(WEBHOOKS, {
      target: { url: `https://127.0.0.1:${port}`, caBundlePem: certs.caPem },
      excludedNamespaces: [...EXCLUDED_NAMESPACES, RUNGUARD_NAMESPACE],
      ...writerIdentities(loadConfig({ RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE })),
    }),
  )
  const invalid = readFileSync(join(REPO_ROOT, 'examples', 'agentrun-invalid.yaml'), 'utf8')
  let denied = { code: 0, stdout: '', stderr: '' }
  for (let i = 0; i < 100 && !denied.stderr.includes('denied the request'); i++) {
    denied = await cp.kubectl(['apply', '-f', '-'], { input: invalid, allowFailure: true })
    if (!denied.stderr.includes('denied the request')) await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(denied.code, 1)
  t.match(denied.stderr, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request/)

  await cp.apply(readFileSync(join(REPO_ROOT, 'examples', 'orchestrationrun.yaml'), 'utf8'))
  await cp.kubectl(['patch', 'orchestrationrun/nightly-release', '--type=merge', '-p', '{"spec":{"cancel":true}}'])
  let phase = ''
  for (let i = 0; i < 150 && phase !== 'Cancelled'; i++) {
    phase = (await cp.kubectl(['get', 'orchestrationrun/nightly-release', '-o', 'jsonpath={.status.phase}'])).stdout
    if (phase !== 'Cancelled') await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(phase, 'Cancelled', 'the reconciler from the production tree cancelled the run')
})
