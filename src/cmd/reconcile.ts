/**
 * `runguard reconcile`: the sidecar reconciler process (SPEC §3, §5, §6). Wires config, logger,
 * metrics, the Event recorder, the Kubernetes client, runguard's informers and controllers
 * (src/reconcile/controllers.ts) and leader election together:
 *
 * - /metrics, /livez, /readyz on a plain-HTTP port (default 9091); ready once every informer
 *   has synced (on every replica, so a standby is ready to take over with a warm cache);
 * - Argo Workflows are watched (and terminated on cancel) only when discovery at start says
 *   argoproj.io/v1alpha1 workflows is served;
 * - leader election on a coordination.k8s.io/v1 Lease: only the leader registers the informer
 *   handlers and runs the controllers; losing the Lease ends the process with a non-zero exit
 *   (onFatal), like controller-runtime;
 * - close(): stop the controllers (in-flight reconciles finish), release the Lease, stop the
 *   informers, flush Events, close the metrics server.
 *
 * startReconciler() does not install signal handlers or exit, so tests run it in-process;
 * closeOnSignals() is for the CLI.
 */
import type { FastifyInstance } from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Config } from '../config.ts'
import { realClock, sleep } from '../controller/clock.ts'
import { leaseIdentity, runLeaderElection, type LeaderElector } from '../controller/leader.ts'
import { EventRecorder } from '../events/recorder.ts'
import { kubeEventTransport } from '../events/kube-transport.ts'
import { loadKubeConfig } from '../kube/client.ts'
import { apiResourceExists } from '../kube/discovery.ts'
import { statusOf } from '../kube/errors.ts'
import type { KubeconfigEnv } from '../kube/kubeconfig.ts'
import { createReconcilerApi } from '../kube/reconciler-api.ts'
import { WORKFLOW_RESOURCE } from '../kube/resources.ts'
import type { Logger } from '../log.ts'
import { createMetrics, type Metrics } from '../metrics.ts'
import { allInformers, createRunguardControllers, createRunguardInformers } from '../reconcile/controllers.ts'
import { buildMetricsApp } from '../server/metrics-app.ts'
import { version } from '../version.ts'

export interface ReconcilerOptions {
  metricsPort: number
  metricsHost?: string
  kubeconfig?: string
  /** Leadership was lost: the process must end (the CLI exits 1). Default: log only. */
  onFatal?: (reason: string) => void
}

export interface RunningReconciler {
  metrics: Metrics
  metricsApp: FastifyInstance
  /** Actual port (useful when 0 was asked for). */
  metricsPort: number
  elector: LeaderElector
  /** Whether argoproj.io/v1alpha1 workflows is served (discovery at start). */
  workflowsServed: boolean
  isReady(): boolean
  isLeader(): boolean
  close(): Promise<void>
}

/** Discovery with retries: network and server errors are retried until `signal` aborts; RBAC denial means "absent". */
async function discoverWorkflows(kubeConfig: KubeConfig, logger: Logger, signal: AbortSignal): Promise<boolean> {
  let delayMs = 500
  for (;;) {
    try {
      return await apiResourceExists(kubeConfig, WORKFLOW_RESOURCE.group, WORKFLOW_RESOURCE.version, WORKFLOW_RESOURCE.plural)
    } catch (err) {
      const code = statusOf(err)
      if (code === 401 || code === 403) {
        logger.warn({ err }, 'discovery of argoproj.io/v1alpha1 is forbidden; Argo Workflows will not be terminated on cancel')
        return false
      }
      if (signal.aborted) throw err
      logger.warn({ err, delayMs }, 'discovery of argoproj.io/v1alpha1 failed; retrying')
      await sleep(realClock, delayMs, signal)
      delayMs = Math.min(10_000, delayMs * 2)
    }
  }
}

export async function startReconciler(options: ReconcilerOptions, config: Config, logger: Logger, env: KubeconfigEnv = process.env): Promise<RunningReconciler> {
  const kube = loadKubeConfig(env, options.kubeconfig)
  if (!kube) throw new Error('the reconciler needs Kubernetes API access: no in-cluster service account and no KUBECONFIG')
  const kubeConfig = kube.kubeConfig
  const metrics = createMetrics({ component: 'reconciler', version: version() })
  const recorder = new EventRecorder({
    transport: kubeEventTransport(kubeConfig),
    config,
    metrics,
    logger,
    component: 'runguard.proompteng.ai/reconciler',
    defaultAction: 'Reconcile',
  })
  const stopping = new AbortController()
  let closing = false
  let informers: ReturnType<typeof allInformers> = []
  const isReady = (): boolean => !closing && informers.length > 0 && informers.every((i) => i.hasSynced())

  const metricsApp = buildMetricsApp(metrics, isReady)
  await metricsApp.listen({ port: options.metricsPort, host: options.metricsHost ?? '0.0.0.0' })
  const address = metricsApp.server.address()
  const metricsPort = typeof address === 'object' && address ? address.port : 0
  logger.info({ kubeconfig: kube.source, metricsPort, namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'reconciler starting')

  let workflowsServed: boolean
  try {
    workflowsServed = await discoverWorkflows(kubeConfig, logger, stopping.signal)
  } catch (err) {
    await metricsApp.close()
    throw err
  }
  logger.info({ workflowsServed }, workflowsServed ? 'Argo Workflows API found; cancel terminates Workflows' : 'Argo Workflows API not served; Workflows are not watched')

  const runguardInformers = createRunguardInformers(kubeConfig, config, { workflowsServed, logger, metrics })
  informers = allInformers(runguardInformers)
  // Reads and writes through one lean keep-alive client whose concurrency adapts to the API server.
  const writeClient = createReconcilerApi({
    env,
    ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
    kubeConfig,
    logger,
    onLimit: (limit) => metrics.apiConcurrencyLimit.set(limit),
    onThrottled: (status) => metrics.apiThrottled.inc({ code: String(status) }),
  })
  const { controllers, watch } = createRunguardControllers({ config, informers: runguardInformers, api: writeClient.api, recorder, metrics, logger })

  let leading = false
  const startLeading = async (signal: AbortSignal): Promise<void> => {
    await Promise.all(informers.map((i) => i.waitForSync(signal)))
    if (signal.aborted) return
    leading = true
    watch()
    for (const controller of controllers) controller.start()
    logger.info({ controllers: controllers.map((c) => c.name) }, 'leading: controllers started')
  }

  for (const informer of informers) informer.start()

  const elector = runLeaderElection({
    config: {
      namespace: config.leaseNamespace,
      name: config.leaseName,
      durationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.leaseRenewDeadlineSeconds,
      retryPeriodSeconds: config.leaseRetryPeriodSeconds,
    },
    identity: leaseIdentity(config.podName),
    kubeConfig,
    metrics,
    logger,
    onStartedLeading: (signal) => startLeading(signal),
    onStoppedLeading: (reason) => {
      leading = false
      if (reason === 'lost') {
        // Work in flight can no longer be trusted: stop taking work and end the process.
        for (const controller of controllers) controller.queue.shutDown()
        logger.fatal('lost the reconciler lease; exiting so a fresh process competes again')
        options.onFatal?.('leader election lost')
      }
    },
  })

  return {
    metrics,
    metricsApp,
    metricsPort,
    elector,
    workflowsServed,
    isReady,
    isLeader: () => leading && elector.isLeader(),
    async close() {
      if (closing) return
      closing = true
      stopping.abort()
      // Finish in-flight reconciles before another replica may take the Lease.
      await Promise.all(controllers.map((c) => c.stop()))
      await elector.stop()
      await Promise.all(informers.map((i) => i.stop()))
      writeClient.close()
      await recorder.close()
      await metricsApp.close()
      logger.info('reconciler stopped')
    },
  }
}

/** SIGTERM/SIGINT → close() (the CLI only). */
export function closeOnSignals(reconciler: RunningReconciler, logger: Logger, delayMs = 25_000): void {
  closeWithGrace({ delay: delayMs, logger: false }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error; shutting down')
    else logger.info({ signal }, 'shutting down: finishing in-flight reconciles and releasing the lease')
    await reconciler.close()
  })
}
