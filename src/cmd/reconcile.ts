/**
 * `runguard reconcile`: the sidecar reconciler process (SPEC §3, §5, §6). Wires config, logger,
 * metrics, the Event recorder, the Kubernetes client, runguard's informers and controllers
 * (src/reconcile/controllers.ts) and leader election together:
 *
 * - every API call (lists, watches, the Lease, Events, discovery, reads and writes) goes through
 *   the lean REST client from one RestConfig (restReconcilerKube below); @kubernetes/client-node
 *   (~89 MiB RSS to import) is loaded only, by dynamic imports, for a kubeconfig that client does
 *   not support (exec plugins, auth providers): nothing this file imports statically loads it
 *   (test/unit/reconciler-imports.test.ts);
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
import type { Config } from '../config.ts'
import { realClock, sleep } from '../controller/clock.ts'
import { leaseIdentity, startLeaseElection, type LeaderElector } from '../controller/elector.ts'
import type { LeaseClient } from '../controller/lease-types.ts'
import { LIST_TIMEOUT_MS, restListWatchSources, type ListWatchSources } from '../controller/list-watch.ts'
import { restLeaseClient } from '../controller/rest-lease-client.ts'
import { EventRecorder } from '../events/recorder.ts'
import { restEventTransport, type EventTransport } from '../events/transport.ts'
import { apiResourceExists, restApiResources, type ApiResources } from '../kube/discovery.ts'
import { statusOf } from '../kube/errors.ts'
import { resolveKubeconfig, type KubeconfigEnv } from '../kube/kubeconfig.ts'
import { createReconcilerApi, type ReconcilerApiOptions } from '../kube/reconciler-api.ts'
import type { ResourceClient } from '../kube/resource-client.ts'
import { createRestClient, createRestStreamer, loadRestConfig, type RestClient, type RestConfig } from '../kube/rest.ts'
import { WORKFLOW_RESOURCE } from '../kube/resources.ts'
import type { Logger } from '../log.ts'
import { startIdleMemoryReducer } from '../idle-memory.ts'
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

/**
 * Everything the reconciler says to the API server, from one set of credentials: its informers'
 * lists and watches, the Lease, Events, discovery, and its reads and writes.
 */
export interface ReconcilerKube {
  /** `in-cluster` or the kubeconfig path(s), for the start-up log line. */
  source: string
  /** `rest`, or `client-node` on the fallback. */
  client: 'rest' | 'client-node'
  /** Reads and writes; on the REST client at a concurrency that adapts to the API server. */
  api: ResourceClient
  listWatch: ListWatchSources
  events: EventTransport
  /** The Lease client for leader election; each call gives up after `timeoutMs`. */
  lease(namespace: string, name: string, timeoutMs: number): LeaseClient
  apiResources: ApiResources
  /** Closes the connections (the watches' too). */
  close(): void
}

/** Informers listing at once before one waits for a connection (3 run kinds, 2 Job and 2 Workflow labels). */
const LIST_SOCKETS = 8
/** A list page holds up to 500 whole objects; the REST client's other calls keep its 4 MiB limit. */
const MAX_LIST_PAGE_BYTES = 256 * 1024 * 1024

/**
 * The lean REST client, from one RestConfig:
 * - reads and writes: a keep-alive pool behind the adaptive limiter, a socket per call it allows
 *   (createReconcilerApi);
 * - list pages and discovery: a keep-alive pool of their own (a page of 500 objects may take
 *   longer, and be larger, than a write);
 * - watches: the streamer, a connection per watch (held for minutes; no keep-alive);
 * - Events, and the Lease: pools of their own, so a renewal never waits behind other calls.
 */
export function restReconcilerKube(config: RestConfig, options: ReconcilerApiOptions = {}): ReconcilerKube {
  const writes = createReconcilerApi(config, options)
  const lists = createRestClient(config, { timeoutMs: LIST_TIMEOUT_MS, maxSockets: LIST_SOCKETS, maxResponseBytes: MAX_LIST_PAGE_BYTES })
  const events = createRestClient(config)
  const streamer = createRestStreamer(config)
  const clients: RestClient[] = [lists, events]
  return {
    source: config.source,
    client: 'rest',
    api: writes.api,
    listWatch: restListWatchSources(lists, streamer),
    events: restEventTransport(events),
    lease(namespace, name, timeoutMs) {
      const client = createRestClient(config, { timeoutMs, maxSockets: 2 })
      clients.push(client)
      return restLeaseClient(client, namespace, name)
    },
    apiResources: restApiResources(lists),
    close() {
      streamer.close()
      writes.close()
      for (const client of clients) client.close()
    },
  }
}

/**
 * client-node, for a kubeconfig the REST client refuses (exec plugins, auth providers,
 * impersonation): loaded here, by dynamic imports, and nowhere else — the process does not pay its
 * ~89 MiB otherwise. Writes run at a fixed concurrency.
 */
async function clientNodeReconcilerKube(env: KubeconfigEnv, kubeconfig: string | undefined): Promise<ReconcilerKube> {
  const [{ loadKubeConfig, kubeApiResources, kubeResourceClient }, { kubeLeaseClient, kubeListWatchSources }, { kubeEventTransport }] = await Promise.all([
    import('../kube/client.ts'),
    import('../controller/client-node.ts'),
    import('../events/kube-transport.ts'),
  ])
  const loaded = loadKubeConfig(env, kubeconfig)
  if (!loaded) throw noApiAccess()
  const { kubeConfig, source } = loaded
  return {
    source,
    client: 'client-node',
    api: kubeResourceClient(kubeConfig),
    listWatch: kubeListWatchSources(kubeConfig),
    events: kubeEventTransport(kubeConfig),
    lease: (namespace, name, timeoutMs) => kubeLeaseClient(kubeConfig, namespace, name, timeoutMs),
    apiResources: kubeApiResources(kubeConfig),
    // client-node keeps no connections to close; each watch is aborted by its informer.
    close: () => undefined,
  }
}

const noApiAccess = (): Error => new Error('the reconciler needs Kubernetes API access: no in-cluster service account and no KUBECONFIG')

/** The REST client when it supports the kubeconfig (one RestConfig for every call), else client-node with a warning. */
export async function connectReconciler(env: KubeconfigEnv, kubeconfig: string | undefined, logger: Logger, options: ReconcilerApiOptions = {}): Promise<ReconcilerKube> {
  let restConfig: RestConfig | undefined
  try {
    restConfig = loadRestConfig(env, kubeconfig)
  } catch (err) {
    // A kubeconfig that is missing or malformed: the resolver's own error, without loading client-node.
    resolveKubeconfig(env, kubeconfig)
    const kube = await clientNodeReconcilerKube(env, kubeconfig)
    logger.warn({ err }, 'the lean REST client does not support this kubeconfig; the reconciler uses client-node (more memory; writes at a fixed concurrency)')
    return kube
  }
  if (!restConfig) throw noApiAccess()
  return restReconcilerKube(restConfig, options)
}

/** Discovery with retries: network and server errors are retried until `signal` aborts; RBAC denial means "absent". */
async function discoverWorkflows(apiResources: ApiResources, logger: Logger, signal: AbortSignal): Promise<boolean> {
  let delayMs = 500
  for (;;) {
    try {
      return await apiResourceExists(apiResources, WORKFLOW_RESOURCE.group, WORKFLOW_RESOURCE.version, WORKFLOW_RESOURCE.plural)
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
  const metrics = createMetrics({ component: 'reconciler', version: version() })
  // Every call through one set of credentials: the lean REST client, or client-node (loaded only
  // then) for a kubeconfig it does not support. Reads and writes adapt their concurrency to the API server.
  const kube = await connectReconciler(env, options.kubeconfig, logger, {
    onLimit: (limit) => metrics.apiConcurrencyLimit.set(limit),
    onThrottled: (status) => metrics.apiThrottled.inc({ code: String(status) }),
  })
  const recorder = new EventRecorder({
    transport: kube.events,
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
  try {
    await metricsApp.listen({ port: options.metricsPort, host: options.metricsHost ?? '0.0.0.0' })
  } catch (err) {
    kube.close()
    throw err
  }
  const address = metricsApp.server.address()
  const metricsPort = typeof address === 'object' && address ? address.port : 0
  const stopIdleMemory = startIdleMemoryReducer({ idleSeconds: config.idleMemoryReleaseSeconds, metrics, log: logger })
  logger.info({ kubeconfig: kube.source, client: kube.client, metricsPort, namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'reconciler starting')

  let workflowsServed: boolean
  try {
    workflowsServed = await discoverWorkflows(kube.apiResources, logger, stopping.signal)
  } catch (err) {
    await metricsApp.close()
    kube.close()
    throw err
  }
  logger.info({ workflowsServed }, workflowsServed ? 'Argo Workflows API found; cancel terminates Workflows' : 'Argo Workflows API not served; Workflows are not watched')

  const runguardInformers = createRunguardInformers(kube.listWatch, config, { workflowsServed, logger, metrics })
  informers = allInformers(runguardInformers)
  const { controllers, watch } = createRunguardControllers({ config, informers: runguardInformers, api: kube.api, recorder, metrics, logger })

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

  const elector = startLeaseElection({
    config: {
      namespace: config.leaseNamespace,
      name: config.leaseName,
      durationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.leaseRenewDeadlineSeconds,
      retryPeriodSeconds: config.leaseRetryPeriodSeconds,
    },
    identity: leaseIdentity(config.podName),
    leaseClient: kube.lease(config.leaseNamespace, config.leaseName, config.leaseRenewDeadlineSeconds * 1000),
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
      await recorder.close()
      kube.close()
      stopIdleMemory()
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
