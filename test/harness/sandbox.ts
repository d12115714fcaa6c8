/**
 * `npm start`: the local sandbox.
 *
 * Default (needs root; `test/node/install-deps.sh` is run first, a no-op when the packages are
 * there): a real one-node cluster -- the control plane of controlplane.ts plus containerd, runc,
 * CNI, kubelet, kube-scheduler and kube-proxy (node.ts) -- with runguard deployed **from its
 * image as pods** with the shipped manifests, the way the README tells users to: the CRDs, then
 * `runguard certs` + `kubectl apply --server-side -k manifests/overlays/self-signed` (deploy.ts).
 * The image is built here without Docker (test/node/build-images.sh).
 *
 * `--processes` (machines without root): the earlier sandbox -- control plane only, runguard's
 * webhook and reconciler as local processes, webhook configurations pointing at them by URL.
 *
 * Both write a kubeconfig under .sandbox/, print how to use it, and stop everything on Ctrl-C.
 * `--smoke` applies the two examples itself, prints what kubectl answered, and exits (0 when the
 * valid one was admitted and the invalid one refused) -- the README's promise, checked by a test.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startControlPlane, type ControlPlane } from './controlplane.ts'
import { startReconcilerProcess, type ReconcilerProcess } from '../integration/reconcile-harness.ts'
import { deployRunguard } from './deploy.ts'
import { INSTALL_SCRIPT, nodePreflight, startNodeCluster, type NodeCluster } from './node.ts'
import { installRunguard, REPO_ROOT, RUNGUARD_NAMESPACE, type RunguardInstall } from './runguard.ts'

const smoke = process.argv.includes('--smoke')
const processes = process.argv.includes('--processes')
const sandboxDir = process.env.RUNGUARD_SANDBOX_DIR ?? join(REPO_ROOT, '.sandbox')
const say = (line: string) => process.stdout.write(`${line}\n`)

let cp: ControlPlane | undefined
let cluster: NodeCluster | undefined
let rg: RunguardInstall | undefined
let reconciler: ReconcilerProcess | undefined
let stopping = false

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    say(cluster ? 'stopping the cluster (pods, node, control plane)…' : 'stopping runguard and the control plane…')
    await reconciler?.stop().catch(() => undefined)
    await rg?.stop().catch(() => undefined)
    await cluster?.stop().catch(() => undefined)
    await cp?.stop().catch(() => undefined)
  }
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

async function startPods(): Promise<{ logs: string; metrics: string }> {
  if (process.getuid?.() !== 0) {
    throw new Error('npm start runs runguard as pods on a real node, which needs root (containerd, kubelet, a network namespace).\nRun it as root, or use the process-based sandbox: npm start -- --processes')
  }
  if (nodePreflight() !== undefined) {
    say(`installing the node's Debian packages (${INSTALL_SCRIPT})…`)
    const install = spawnSync('bash', [INSTALL_SCRIPT], { stdio: 'inherit' })
    if (install.status !== 0) throw new Error(`${INSTALL_SCRIPT} failed (exit ${install.status})`)
  }
  const problem = nodePreflight()
  if (problem !== undefined) throw new Error(`cannot start a node: ${problem}`)
  // A fresh cluster every start: nothing from an earlier run is reused (its leftovers, if it was
  // killed, are cleaned up by startNodeCluster).
  rmSync(join(sandboxDir, 'node'), { recursive: true, force: true })
  say('starting a one-node cluster (the first run builds Kubernetes and the runguard image; later runs reuse them)…')
  const started = Date.now()
  cluster = await startNodeCluster({ nodes: 1, workDir: join(sandboxDir, 'node'), keepWorkDir: true, handleSignals: false, log: (m) => say(`  ${m}`) })
  cp = cluster.cp
  say(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cp.server}`)
  say('deploying runguard from its image with manifests/overlays/self-signed…')
  await deployRunguard(cp, join(sandboxDir, 'node', 'deploy'), { log: (m) => say(`  ${m}`) })
  const pods = await cp.kubectl(['get', 'pods', '-n', RUNGUARD_NAMESPACE, '-o', 'wide'])
  say(`$ kubectl get pods -n ${RUNGUARD_NAMESPACE}\n${pods.stdout.trimEnd()}`)
  return {
    logs: `kubectl -n ${RUNGUARD_NAMESPACE} logs deploy/runguard -c webhook (or -c reconciler); node and control plane: ${cluster.dir}/logs, ${cp.logsDir}`,
    metrics: `kubectl -n ${RUNGUARD_NAMESPACE} port-forward deploy/runguard 9090 9091, then http://127.0.0.1:9090/metrics (webhook), http://127.0.0.1:9091/metrics (reconciler)`,
  }
}

async function startProcesses(): Promise<{ logs: string; metrics: string }> {
  // A fresh cluster every start: certificates and etcd data from an earlier run are not reused.
  rmSync(join(sandboxDir, 'controlplane'), { recursive: true, force: true })
  say('starting the control plane (the first run builds Kubernetes from Go modules; later runs reuse it)…')
  const started = Date.now()
  cp = await startControlPlane({ workDir: join(sandboxDir, 'controlplane'), keepWorkDir: true, handleSignals: false, log: (m) => say(`  ${m}`) })
  say(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cp.server}`)
  rg = await installRunguard(cp, { dir: join(sandboxDir, 'runguard') })
  reconciler = await startReconcilerProcess(cp, {
    name: 'runguard-reconciler',
    // The product's defaults, not the test suite's shortened ones.
    env: {
      RUNGUARD_LEASE_NAMESPACE: RUNGUARD_NAMESPACE,
      AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '30000',
      RUNGUARD_JOB_MISSING_GRACE_SECONDS: '30',
      RUNGUARD_RESYNC_SECONDS: '300',
    },
  })
  return {
    logs: `${rg.webhookLog}, ${reconciler.logPath}, ${cp.logsDir}`,
    metrics: `http://127.0.0.1:${rg.webhookMetricsPort}/metrics (webhook), http://127.0.0.1:${reconciler.metricsPort}/metrics (reconciler)`,
  }
}

try {
  const where = processes ? await startProcesses() : await startPods()
  const controlPlane = cp as ControlPlane
  const kubeconfig = join(sandboxDir, 'kubeconfig')
  copyFileSync(controlPlane.kubeconfigPath, kubeconfig)

  if (smoke) {
    for (const example of ['examples/agentrun.yaml', 'examples/agentrun-invalid.yaml']) {
      const r = await controlPlane.kubectl(['apply', '-f', join(REPO_ROOT, example)], { allowFailure: true })
      say(`$ kubectl apply -f ${example}\n${(r.stdout + r.stderr).trim()}\n(exit ${r.code})`)
      const expected = example.endsWith('invalid.yaml') ? 1 : 0
      if (r.code !== expected) await shutdown(1)
    }
    await shutdown(0)
  }

  say(`
runguard sandbox is up${processes ? ' (runguard as local processes)' : `: runguard runs as pods (kubectl get pods -n ${RUNGUARD_NAMESPACE})`}.

  export KUBECONFIG=${kubeconfig}
  export PATH=${controlPlane.binDir}:$PATH   # kubectl ${'v1.35'} built for the sandbox

  kubectl apply -f examples/agentrun.yaml           # admitted
  kubectl apply -f examples/agentrun-invalid.yaml   # refused by runguard
  kubectl get events                                # the InvalidSpec Event

  kubectl apply -f examples/orchestrationrun.yaml
  kubectl patch orchestrationrun nightly-release --type=merge -p '{"spec":{"cancel":true}}'
  kubectl get orchestrationrun nightly-release       # Phase: Cancelled (the reconciler)

Logs: ${where.logs}
Metrics: ${where.metrics}
Press Ctrl-C to stop.`)
  // The harness never lets its children keep Node alive; the sandbox must, until Ctrl-C.
  setInterval(() => {
    const down = cp?.pids().length === 0 || (cluster !== undefined && cluster.nodes.some((n) => !n.kubelet.running || !n.containerd.running))
    if (down && !stopping) {
      process.stderr.write('the cluster exited; see the logs above\n')
      void shutdown(1)
    }
  }, 5000)
} catch (err) {
  process.stderr.write(`sandbox failed: ${(err as Error).stack ?? String(err)}\n`)
  await shutdown(1)
}
