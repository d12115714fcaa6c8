/**
 * Deploys runguard onto a node cluster (node.ts) the way the README tells users to: the CRDs, then
 * the self-signed overlay -- `runguard certs` makes the CA and the serving certificate for
 * runguard-webhook.runguard-system.svc, kustomize puts them into the Secret and the CA into the
 * webhook configurations' caBundle -- applied with `kubectl apply --server-side -k`. The shipped
 * manifests are used unchanged: the overlay here only points at the repository's base, because the
 * certificates must not be written into the repository. The image `runguard:0.1.0` is the one
 * test/node/build-images.sh built, already in every node's containerd.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { ControlPlane } from './controlplane.ts'
import { installCrds, REPO_ROOT, RUNGUARD_NAMESPACE } from './runguard.ts'

export const RUNGUARD_SELECTOR = 'app.kubernetes.io/name=runguard,app.kubernetes.io/instance=runguard'
export const WEBHOOK_SERVICE_DNS = `runguard-webhook.${RUNGUARD_NAMESPACE}.svc`

export interface Pod {
  metadata: { name: string; namespace?: string; uid?: string; creationTimestamp?: string; deletionTimestamp?: string; labels?: Record<string, string> }
  spec: { nodeName?: string; containers: Array<{ name: string }> }
  status?: {
    phase?: string
    podIP?: string
    conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }>
    containerStatuses?: Array<{
      name: string
      ready: boolean
      restartCount: number
      containerID?: string
      state?: { running?: { startedAt: string }; terminated?: { exitCode: number; reason?: string; startedAt?: string; finishedAt?: string }; waiting?: { reason?: string } }
    }>
  }
}

export interface RunguardDeployment {
  /** The kustomization that was applied (with certs/ beside it). */
  overlayDir: string
  caPem: string
  /** runguard's pods, not being deleted unless `all`. */
  pods(options?: { all?: boolean }): Promise<Pod[]>
  /** Waits until `replicas` pods are Ready and none other is left; returns them. */
  waitReady(replicas?: number, timeoutMs?: number): Promise<Pod[]>
  /** The reconciler Lease's holderIdentity (the leader pod's name). */
  leaseHolder(): Promise<string | undefined>
  /** Milliseconds from apply to every replica Ready. */
  rolloutMs: number
}

type Cp = Pick<ControlPlane, 'kubectl' | 'request'>

export async function deployRunguard(cp: Cp & Pick<ControlPlane, 'apply'>, dir: string, options: { log?: (m: string) => void; timeoutMs?: number } = {}): Promise<RunguardDeployment> {
  const log = options.log ?? (() => {})
  const timeoutMs = options.timeoutMs ?? 180_000
  await installCrds(cp as ControlPlane)

  const overlayDir = join(dir, 'overlays', 'self-signed')
  await mkdir(overlayDir, { recursive: true })
  const shipped = await readFile(join(REPO_ROOT, 'manifests', 'overlays', 'self-signed', 'kustomization.yaml'), 'utf8')
  if (!/^ {2}- \.\.\/\.\.\/base$/m.test(shipped)) throw new Error('manifests/overlays/self-signed no longer lists ../../base; update deploy.ts')
  await writeFile(join(overlayDir, 'kustomization.yaml'), shipped.replace(/^ {2}- \.\.\/\.\.\/base$/m, `  - ${relative(overlayDir, join(REPO_ROOT, 'manifests', 'base'))}`))
  // The README's command: npm run runguard -- certs --out <overlay>/certs --dns runguard-webhook.runguard-system.svc
  const certs = spawnSync(process.execPath, ['--', join(REPO_ROOT, 'src', 'cli.ts'), 'certs', '--out', join(overlayDir, 'certs'), '--dns', WEBHOOK_SERVICE_DNS], { encoding: 'utf8', timeout: 60_000 })
  if (certs.status !== 0) throw new Error(`runguard certs failed: ${certs.stderr}`)
  const caPem = await readFile(join(overlayDir, 'certs', 'ca.crt'), 'utf8')

  const applied = Date.now()
  await cp.kubectl(['apply', '--server-side', '-k', overlayDir], { timeoutMs: 120_000 })
  log(`runguard: applied the self-signed overlay`)

  const deployment: RunguardDeployment = {
    overlayDir,
    caPem,
    rolloutMs: 0,
    pods: async ({ all = false } = {}) => {
      const r = await cp.request('GET', `/api/v1/namespaces/${RUNGUARD_NAMESPACE}/pods?labelSelector=${encodeURIComponent(RUNGUARD_SELECTOR)}`)
      if (r.status !== 200) throw new Error(`list runguard pods: HTTP ${r.status} ${r.text}`)
      const items = (r.body as { items: Pod[] }).items
      return all ? items : items.filter((p) => p.metadata.deletionTimestamp === undefined)
    },
    waitReady: async (replicas = 2, waitMs = timeoutMs) => {
      const deadline = Date.now() + waitMs
      let last = ''
      for (;;) {
        const pods = await deployment.pods({ all: true })
        const ready = pods.filter((p) => p.metadata.deletionTimestamp === undefined && isReady(p))
        if (ready.length === replicas && pods.length === replicas) return ready
        last = pods.map((p) => `${p.metadata.name}:${p.status?.phase}${isReady(p) ? '/Ready' : ''}${p.metadata.deletionTimestamp ? '/deleting' : ''}`).join(' ')
        if (Date.now() > deadline) {
          const describe = await cp.kubectl(['-n', RUNGUARD_NAMESPACE, 'describe', 'pods'], { allowFailure: true })
          throw new Error(`runguard: ${replicas} Ready pods not reached in ${waitMs} ms (${last})\n${describe.stdout.slice(-6000)}`)
        }
        await new Promise((r) => setTimeout(r, 250))
      }
    },
    leaseHolder: async () => {
      const r = await cp.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${RUNGUARD_NAMESPACE}/leases/runguard-reconciler`)
      return r.status === 200 ? ((r.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? undefined) : undefined
    },
  }
  await deployment.waitReady(2)
  deployment.rolloutMs = Date.now() - applied
  log(`runguard: 2 replicas Ready ${deployment.rolloutMs} ms after apply`)
  await waitForDenial(cp, 60_000)
  log(`runguard: webhooks answering through the Service`)
  return deployment
}

/**
 * The webhook configurations are picked up asynchronously, and a failed call also names the
 * webhook: wait for runguard's own refusal of the invalid example (server-side dry run).
 */
export async function waitForDenial(cp: Pick<ControlPlane, 'kubectl'>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-f', join(REPO_ROOT, 'examples', 'agentrun-invalid.yaml')], { allowFailure: true })
    if (r.code !== 0 && r.stderr.includes('admission webhook "validate.runguard.proompteng.ai" denied the request')) return
    last = (r.stderr || r.stdout).trim()
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`runguard's webhooks did not answer within ${timeoutMs} ms: ${last}`)
}

export function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
}
