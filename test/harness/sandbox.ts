/**
 * `npm start`: the local sandbox. Builds (once) and starts a real control plane, installs the
 * CRDs, runguard's webhook and reconciler and the webhook configurations, writes a kubeconfig
 * under .sandbox/, prints how to use it, and stops everything on Ctrl-C.
 *
 * `--smoke` applies the two examples itself, prints what kubectl answered, and exits (0 when the
 * valid one was admitted and the invalid one refused) — the README's promise, checked by a test.
 */
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startControlPlane, type ControlPlane } from './controlplane.ts'
import { startReconcilerProcess, type ReconcilerProcess } from '../integration/reconcile-harness.ts'
import { installRunguard, REPO_ROOT, RUNGUARD_NAMESPACE, type RunguardInstall } from './runguard.ts'

const smoke = process.argv.includes('--smoke')
const sandboxDir = process.env.RUNGUARD_SANDBOX_DIR ?? join(REPO_ROOT, '.sandbox')
const say = (line: string) => process.stdout.write(`${line}\n`)

let cp: ControlPlane | undefined
let rg: RunguardInstall | undefined
let reconciler: ReconcilerProcess | undefined
let stopping = false

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    say('stopping runguard and the control plane…')
    await reconciler?.stop().catch(() => undefined)
    await rg?.stop().catch(() => undefined)
    await cp?.stop().catch(() => undefined)
  }
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

try {
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
  const kubeconfig = join(sandboxDir, 'kubeconfig')
  copyFileSync(cp.kubeconfigPath, kubeconfig)

  if (smoke) {
    for (const example of ['examples/agentrun.yaml', 'examples/agentrun-invalid.yaml']) {
      const r = await cp.kubectl(['apply', '-f', join(REPO_ROOT, example)], { allowFailure: true })
      say(`$ kubectl apply -f ${example}\n${(r.stdout + r.stderr).trim()}\n(exit ${r.code})`)
      const expected = example.endsWith('invalid.yaml') ? 1 : 0
      if (r.code !== expected) await shutdown(1)
    }
    await shutdown(0)
  }

  say(`
runguard sandbox is up.

  export KUBECONFIG=${kubeconfig}
  export PATH=${cp.binDir}:$PATH   # kubectl ${'v1.35'} built for the sandbox

  kubectl apply -f examples/agentrun.yaml           # admitted
  kubectl apply -f examples/agentrun-invalid.yaml   # refused by runguard
  kubectl get events                                # the InvalidSpec Event

  kubectl apply -f examples/orchestrationrun.yaml
  kubectl patch orchestrationrun nightly-release --type=merge -p '{"spec":{"cancel":true}}'
  kubectl get orchestrationrun nightly-release       # Phase: Cancelled (the reconciler)

Logs: ${rg.webhookLog}, ${reconciler.logPath}, ${cp.logsDir}
Metrics: http://127.0.0.1:${rg.webhookMetricsPort}/metrics (webhook), http://127.0.0.1:${reconciler.metricsPort}/metrics (reconciler)
Press Ctrl-C to stop.`)
  // The harness never lets its children keep Node alive; the sandbox must, until Ctrl-C.
  setInterval(() => {
    const down = cp?.pids().length === 0
    if (down && !stopping) {
      process.stderr.write('the control plane exited; see the logs above\n')
      void shutdown(1)
    }
  }, 5000)
} catch (err) {
  process.stderr.write(`sandbox failed: ${(err as Error).stack ?? String(err)}\n`)
  await shutdown(1)
}
