/**
 * Installs runguard into a control plane the way a cluster would run it: the CRDs from
 * manifests/crds, the real `runguard webhook` process serving HTTPS with a freshly made
 * certificate, and webhook configurations rendered from webhooks/ pointing at it by URL with the
 * CA as caBundle. Used by the end-to-end tests and by the sandbox (`npm start`).
 */
import { mkdir } from 'node:fs/promises'
import { request } from 'node:http'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderAdmission, writerIdentities } from '../../src/admission/manifests.ts'
import { loadConfig } from '../../src/config.ts'
import { writeCertificateBundle } from '../../src/certs/write.ts'
import { EXCLUDED_NAMESPACES, WEBHOOKS } from '../../webhooks/index.ts'
import { freePorts, type ControlPlane } from './controlplane.ts'
import { startProcess, type ManagedProcess } from './processes.ts'

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)))
export const RUNGUARD_NAMESPACE = 'runguard-system'
const CLI = join(REPO_ROOT, 'src', 'cli.ts')

export interface RunguardOptions {
  /** Extra environment for the runguard processes (policy lists, enforcement, event rate…). */
  env?: Record<string, string>
  /** Folder for certificates and logs; default inside the control plane's work dir. */
  dir?: string
}

export interface RunguardInstall {
  webhookPort: number
  webhookMetricsPort: number
  caPem: string
  webhookLog: string
  /** Starts the webhook process (again); resolves once it is ready. */
  startWebhook(): Promise<void>
  /** Stops the webhook process (SIGTERM, drain). */
  stopWebhook(): Promise<void>
  /** Stops every runguard process started here. */
  stop(): Promise<void>
}

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume()
      resolveStatus(res.statusCode ?? 0)
    })
    req.on('error', () => resolveStatus(0))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

export async function waitForHttpReady(port: number, what: string, process?: ManagedProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (process && !process.running) throw new Error(`${what} exited (${process.exitStatus}):\n${process.logTail()}`)
    if ((await getStatus(port, '/readyz')) === 200) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what} not ready on port ${port} after ${timeoutMs} ms${process ? `:\n${process.logTail()}` : ''}`)
}

/** Applies the CRDs and waits until the API server serves them. */
export async function installCrds(cp: ControlPlane): Promise<void> {
  await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'manifests', 'crds')])
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/agentruns.agents.proompteng.ai', 'crd/orchestrationruns.orchestration.proompteng.ai', 'crd/toolruns.tools.proompteng.ai'])
}

export async function installRunguard(cp: ControlPlane, options: RunguardOptions = {}): Promise<RunguardInstall> {
  const dir = options.dir ?? join(cp.workDir, 'runguard')
  await mkdir(dir, { recursive: true })
  await installCrds(cp)
  await cp.kubectl(['create', 'namespace', RUNGUARD_NAMESPACE], { allowFailure: true })

  const certs = await writeCertificateBundle(join(dir, 'webhook-certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const [webhookPort = 0, webhookMetricsPort = 0] = await freePorts(2)
  const webhookLog = join(dir, 'webhook.log')
  let webhook: ManagedProcess | undefined

  const startWebhook = async () => {
    webhook = startProcess({
      name: 'runguard-webhook',
      command: process.execPath,
      args: [
        CLI,
        'webhook',
        '--port',
        String(webhookPort),
        '--host',
        '127.0.0.1',
        '--tls-cert',
        certs.certPath,
        '--tls-key',
        certs.keyPath,
        '--metrics-port',
        String(webhookMetricsPort),
        '--kubeconfig',
        cp.kubeconfigPath,
      ],
      logPath: webhookLog,
      env: { PATH: process.env.PATH ?? '', RUNGUARD_POD_NAME: 'runguard-webhook-0', RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE, ...options.env },
    })
    await waitForHttpReady(webhookMetricsPort, 'runguard webhook', webhook)
  }
  const stopWebhook = async () => {
    await webhook?.stop(10_000)
    webhook = undefined
  }

  await startWebhook()
  const configurations = renderAdmission(WEBHOOKS, {
    target: { url: `https://127.0.0.1:${webhookPort}`, caBundlePem: certs.caPem },
    excludedNamespaces: [...EXCLUDED_NAMESPACES, RUNGUARD_NAMESPACE],
    // The same identity lists the webhook process reads from its environment.
    ...writerIdentities(loadConfig({ RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE, ...options.env })),
  })
  await cp.apply(configurations)
  await waitForWebhooksActive(cp)

  return {
    webhookPort,
    webhookMetricsPort,
    caPem: certs.caPem,
    webhookLog,
    startWebhook,
    stopWebhook,
    stop: stopWebhook,
  }
}

/**
 * The API server picks up new webhook configurations asynchronously; wait until a server-side
 * dry run of an object only runguard refuses is refused.
 */
async function waitForWebhooksActive(cp: ControlPlane, timeoutMs = 30_000): Promise<void> {
  const probe = [
    'apiVersion: agents.proompteng.ai/v1alpha1',
    'kind: AgentRun',
    'metadata: {name: runguard-webhook-probe, namespace: default}',
    'spec: {agentRef: {name: probe}, implementationSpecRef: {name: probe}, runtime: {type: job}, parameters: {p: "' + 'x'.repeat(3000) + '"}}',
  ].join('\n')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: probe, allowFailure: true })
    if (r.code !== 0 && r.stderr.includes('runguard.proompteng.ai')) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('runguard webhooks did not become active')
}
