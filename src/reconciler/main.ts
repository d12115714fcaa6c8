/**
 * `runguard reconcile`: the sidecar reconciler process (SPEC §3, §5, §6). Wires config, logger,
 * metrics, the Event recorder, informers, leader election and the controllers together:
 *
 * - /metrics, /livez, /readyz on a plain-HTTP port (default 9091); ready once every informer
 *   has synced (on every replica, so a standby is ready to take over with a warm cache);
 * - informers (list + watch, 410 relist, resync) on the three run kinds, on Jobs with the
 *   agent-run / tool-run labels, and on Argo Workflows with those labels when discovery says
 *   argoproj.io/v1alpha1 workflows is served;
 * - leader election on a coordination.k8s.io/v1 Lease: only the leader registers the informer
 *   handlers and runs the controllers (one per run kind, plus the AgentRun retention pass);
 *   losing the Lease ends the process with a non-zero exit (onFatal), like controller-runtime;
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
import { EventRecorder } from '../events/recorder.ts'
import { kubeEventTransport } from '../events/kube-transport.ts'
import { loadKubeConfig } from '../kube/client.ts'
import type { KubeObject } from '../kube/objects.ts'
import { JOB_RUN_LABELS, RUN_KINDS, type RunKind, type RunKindName } from '../kube/run-kinds.ts'
import type { Logger } from '../log.ts'
import { createMetrics, type Metrics } from '../metrics.ts'
import { kubeRunguardApi, statusCodeOf, type RunguardApi } from '../reconcile/api.ts'
import { ReconcileMemory } from '../reconcile/memory.ts'
import { createRunReconciler } from '../reconcile/reconciler.ts'
import { createRetentionReconciler, retentionDelay, retentionRequest } from '../reconcile/retention-reconciler.ts'
import { nameOf, namespaceOf, qualified } from '../reconcile/refs.ts'
import { ownerRunsOf, parentRunOf, terminalTransition } from '../reconcile/triggers.ts'
import { buildMetricsApp } from '../server/metrics-app.ts'
import { version } from '../version.ts'
import { Controller } from './controller.ts'
import { apiResourceExists, createKubeInformer, JOB_RESOURCE, runResource, WORKFLOW_RESOURCE, type Informer } from './informer.ts'
import { runLeaderElection, type LeaderElector } from './leader.ts'
import { sleep, realClock } from './clock.ts'

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
      const code = statusCodeOf(err)
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

export async function startReconciler(options: ReconcilerOptions, config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningReconciler> {
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
  const api: RunguardApi = kubeRunguardApi(kubeConfig)
  const memory = new ReconcileMemory()
  const stopping = new AbortController()
  let informers: Informer[] = []
  let closing = false
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

  const common = { namespaces: config.namespaces, resyncMs: config.resyncSeconds * 1000, logger }
  const runInformers = Object.fromEntries(RUN_KINDS.map((kind) => [kind.kind, createKubeInformer<KubeObject>(kubeConfig, runResource(kind), common)])) as Record<RunKindName, Informer>
  const jobInformers = JOB_RUN_LABELS.map((label) => createKubeInformer<KubeObject>(kubeConfig, JOB_RESOURCE, { ...common, labelSelector: label }))
  const workflowInformers = workflowsServed ? JOB_RUN_LABELS.map((label) => createKubeInformer<KubeObject>(kubeConfig, WORKFLOW_RESOURCE, { ...common, labelSelector: label })) : []
  informers = [...Object.values(runInformers), ...jobInformers, ...workflowInformers]

  // Filled in below: the reconciler needs the controllers to keep a failed pass's deadline.
  let controllers: Record<RunKindName, Controller> | undefined
  const runReconciler = createRunReconciler({
    requeue: (request, afterMs) => controllers?.[request.kind as RunKindName]?.enqueueAfter(request, afterMs),
    config,
    caches: { runs: runInformers, jobs: jobInformers, ...(workflowsServed ? { workflows: workflowInformers } : {}) },
    memory,
    api,
    recorder,
    metrics,
    logger,
  })
  const runControllers = Object.fromEntries(
    RUN_KINDS.map((kind) => [kind.kind, new Controller({ name: kind.kind.toLowerCase(), reconciler: runReconciler, concurrency: config.reconcileConcurrency, metrics, logger })]),
  ) as Record<RunKindName, Controller>
  controllers = runControllers
  const retention = config.retentionEnabled
    ? new Controller({
        name: 'agentrun-retention',
        reconciler: createRetentionReconciler({ config, cache: runInformers.AgentRun, api, recorder, logger }),
        concurrency: 1,
        metrics,
        logger,
      })
    : undefined
  const allControllers = [...Object.values(runControllers), ...(retention ? [retention] : [])]

  const enqueueRun = (kind: RunKindName, obj: KubeObject): void => runControllers[kind].enqueue({ kind, namespace: namespaceOf(obj), name: nameOf(obj) })
  const enqueueParent = (obj: KubeObject): void => {
    const parent = parentRunOf(obj)
    if (parent) runControllers.OrchestrationRun.enqueue(parent)
  }
  const scheduleRetention = (kind: RunKind, obj: KubeObject): void => {
    if (!retention || kind.kind !== 'AgentRun') return
    const delay = retentionDelay(obj, config, Date.now())
    if (delay !== undefined) retention.enqueueAfter(retentionRequest(namespaceOf(obj)), delay)
  }
  const enqueueOwners = (obj: KubeObject): void => {
    for (const request of ownerRunsOf(obj)) runControllers[request.kind as RunKindName]?.enqueue(request)
  }

  const registerHandlers = (): void => {
    for (const kind of RUN_KINDS) {
      runInformers[kind.kind].addHandlers({
        onAdd: (obj) => {
          enqueueRun(kind.kind, obj)
          enqueueParent(obj)
          scheduleRetention(kind, obj)
        },
        onUpdate: (oldObj, obj) => {
          enqueueRun(kind.kind, obj)
          enqueueParent(obj)
          scheduleRetention(kind, obj)
          const outcome = terminalTransition(kind.kind, oldObj, obj)
          if (outcome) metrics.runOutcomes.inc({ ...outcome })
        },
        onDelete: (obj) => {
          memory.forgetRun(obj.metadata?.uid ?? '')
          enqueueParent(obj)
        },
      })
    }
    for (const informer of jobInformers) {
      informer.addHandlers({
        onAdd: (job) => {
          memory.noteJobPresent(qualified(namespaceOf(job), nameOf(job)))
          enqueueOwners(job)
        },
        onUpdate: (_old, job) => enqueueOwners(job),
        onDelete: (job) => {
          memory.noteJobGone(qualified(namespaceOf(job), nameOf(job)), Date.now())
          enqueueOwners(job)
        },
      })
    }
    for (const informer of workflowInformers) {
      informer.addHandlers({ onAdd: enqueueOwners, onUpdate: (_old, wf) => enqueueOwners(wf), onDelete: enqueueOwners })
    }
  }

  let leading = false
  const startLeading = async (signal: AbortSignal): Promise<void> => {
    await Promise.all(informers.map((i) => i.waitForSync(signal)))
    if (signal.aborted) return
    leading = true
    registerHandlers()
    for (const controller of allControllers) controller.start()
    logger.info({ controllers: allControllers.map((c) => c.name) }, 'leading: controllers started')
  }

  for (const informer of informers) informer.start()

  const elector = runLeaderElection({
    config,
    kubeConfig,
    metrics,
    logger,
    onStartedLeading: (signal) => startLeading(signal),
    onStoppedLeading: (reason) => {
      leading = false
      if (reason === 'lost') {
        // Work in flight can no longer be trusted: stop taking work and end the process.
        for (const controller of allControllers) controller.queue.shutDown()
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
      await Promise.all(allControllers.map((c) => c.stop()))
      await elector.stop()
      await Promise.all(informers.map((i) => i.stop()))
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
