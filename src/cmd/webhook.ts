/**
 * `runguard webhook`: wires config, logger, metrics, event recorder, TLS and the two Fastify
 * apps together, listens, and drains on shutdown. startWebhookServer() is separate from signal
 * handling so tests can start and stop servers in-process.
 */
import type { Server as TlsServer } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { Config } from '../config.ts'
import { EventRecorder } from '../events/recorder.ts'
import { restEventTransport } from '../events/transport.ts'
import { createRestClient, loadRestConfig, type RestConfig } from '../kube/rest.ts'
import type { Logger } from '../log.ts'
import { startIdleMemoryReducer } from '../idle-memory.ts'
import { createMetrics, type Metrics } from '../metrics.ts'
import { buildMetricsApp } from '../server/metrics-app.ts'
import { startRegistrationController, type RegistrationController } from '../registration/controller.ts'
import { CertificateWatcher, keyPairFromPem, loadKeyPair, type KeyPair } from '../server/tls.ts'
import { buildWebhookApp } from '../server/webhook-app.ts'
import { version } from '../version.ts'
import { WEBHOOKS } from '../../webhooks/index.ts'

/** How long shutdown waits for pending Events, well inside the 25 s drain. */
const EVENT_FLUSH_TIMEOUT_MS = 5_000

export interface WebhookServerOptions {
  port: number
  host: string
  tlsCert: string
  tlsKey: string
  metricsPort: number
  metricsHost?: string
  kubeconfig?: string
  bodyLimit?: number
  certPollMs?: number
  /** TLS/registration controller period (tests); default 5 s. */
  registrationIntervalMs?: number
  /** Self-managed TLS: extra IP SANs of the serving certificate (`--tls-ip`). */
  tlsIps?: string[]
  /**
   * Lame-duck period at shutdown (`--shutdown-lame-duck-seconds`): keep answering, each answer
   * with `Connection: close`, before closing the listener. Default 0 (tests); the CLI sets 3 s.
   */
  lameDuckMs?: number
}

export interface RunningWebhookServer {
  app: FastifyInstance
  metricsApp: FastifyInstance
  metrics: Metrics
  recorder: EventRecorder | undefined
  certificates: CertificateWatcher
  /** Running with self-managed TLS or RUNGUARD_WEBHOOK_CONFIGURATIONS set (Secret, CA injection, arming). */
  registration: RegistrationController | undefined
  /** Actual ports (useful when 0 was asked for). */
  port: number
  metricsPort: number
  /** Stops accepting, drains in-flight requests, flushes Events. */
  close(): Promise<void>
}

export async function startWebhookServer(
  options: WebhookServerOptions,
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningWebhookServer> {
  const metrics = createMetrics({ component: 'webhook', version: version() })
  const kube = kubeAccess(logger, env, options.kubeconfig)
  const events = createRecorder(config, logger, metrics, kube)
  const recorder = events?.recorder
  const tlsMode = config.tls.mode
  const selfManaged = tlsMode === 'self-managed'
  // The TLS/registration controller: self-managed TLS, and/or arming of the named configurations.
  const manages = selfManaged || config.tls.webhookConfigurations.length > 0
  if (selfManaged && !kube) throw new Error('RUNGUARD_TLS_MODE=self-managed needs API access (in-cluster or a kubeconfig): the serving certificate comes from a Secret')
  if (manages && !kube) logger.warn('RUNGUARD_WEBHOOK_CONFIGURATIONS is set but there is no API access: the webhooks stay as registered (not armed)')

  let draining = false
  let app: FastifyInstance | undefined
  let registration: RegistrationController | undefined
  const certificates = new CertificateWatcher({
    // Self-managed: the pair comes from the Secret through the API (every replica watches it); the
    // mounted copy, when the kubelet has synced one, only serves until then.
    ...(selfManaged ? { initial: await initialPair(options, logger) } : { certFile: options.tlsCert, keyFile: options.tlsKey }),
    logger,
    pollIntervalMs: options.certPollMs,
    onReload: (pair) => {
      // New handshakes use the new pair; open connections keep theirs.
      ;(app?.server as unknown as TlsServer | undefined)?.setSecureContext({ cert: pair.cert, key: pair.key })
      metrics.certExpiry.set(pair.notAfter.getTime() / 1000)
    },
  })
  metrics.certExpiry.set(certificates.keyPair.notAfter.getTime() / 1000)

  app = await buildWebhookApp({
    config,
    logger,
    metrics,
    events: recorder,
    webhooks: WEBHOOKS,
    https: certificates.keyPair,
    bodyLimit: options.bodyLimit,
    isReady: () => ready(),
    closesConnections: () => draining,
  })
  // Ready: not draining and, self-managed, serving a pair from the Secret that has not expired.
  function ready(): boolean {
    if (draining || app === undefined) return false
    if (!selfManaged) return true
    return registration !== undefined && registration.loaded() && certificates.keyPair.notAfter.getTime() > Date.now()
  }
  const metricsApp = buildMetricsApp(metrics, ready)

  try {
    await app.listen({ port: options.port, host: options.host })
    await metricsApp.listen({ port: options.metricsPort, host: options.metricsHost ?? options.host })
  } catch (err) {
    // A half-started server (e.g. the metrics port taken) must not keep the HTTPS port open.
    await Promise.allSettled([app.close(), metricsApp.close(), events?.close(0)])
    throw err
  }
  certificates.start()
  const stopIdleMemory = startIdleMemoryReducer({ idleSeconds: config.idleMemoryReleaseSeconds, metrics, log: logger })
  const registrationClient = manages && kube ? createRestClient(kube) : undefined
  if (registrationClient) {
    registration = startRegistrationController({
      client: registrationClient,
      ...(kube ? { restConfig: kube } : {}),
      settings: config.tls,
      namespace: config.podNamespace,
      podName: config.podName,
      lease: { durationSeconds: config.leaseDurationSeconds, renewDeadlineSeconds: config.leaseRenewDeadlineSeconds, retryPeriodSeconds: config.leaseRetryPeriodSeconds },
      servingPair: () => certificates.keyPair,
      onPair: (pair) => certificates.use(pair),
      isReady: ready,
      metrics,
      logger,
      ...(options.registrationIntervalMs !== undefined ? { intervalMs: options.registrationIntervalMs } : {}),
      ...(options.tlsIps !== undefined ? { ipAddresses: options.tlsIps } : {}),
    })
  }
  const port = addressPort(app)
  const metricsPort = addressPort(metricsApp)
  logger.info({ port, metricsPort, webhooks: WEBHOOKS.map((w) => `${w.name} ${w.path}`), events: recorder !== undefined }, 'webhook server listening')

  const server = app
  return {
    app: server,
    metricsApp,
    metrics,
    recorder,
    certificates,
    get registration() {
      return registration
    },
    port,
    metricsPort,
    async close() {
      draining = true
      // Lame duck: the API server keeps keep-alive connections to this pod after its endpoint is
      // gone (a ClusterIP pins them), so closing idle connections at once races a request being
      // written into one (measured on a real node: about 1 write in 1,000 per termination failed
      // with a reset). Answering with `Connection: close` for a while retires every connection
      // the API server still uses, each right after a complete answer.
      if (options.lameDuckMs) await new Promise((resolve) => setTimeout(resolve, options.lameDuckMs))
      certificates.stop()
      stopIdleMemory()
      // Hands the TLS Lease back so a peer takes over the writing at once.
      await registration?.stop()
      registrationClient?.close()
      await server.close()
      // Bounded: with the API server unreachable, pending Events must not hold up the exit.
      await events?.close(EVENT_FLUSH_TIMEOUT_MS)
      await metricsApp.close()
    },
  }
}

function addressPort(app: FastifyInstance): number {
  const address = app.server.address()
  return typeof address === 'object' && address ? address.port : 0
}

/**
 * Events go through the small REST client (src/kube/rest.ts), not @kubernetes/client-node: that
 * library alone costs ~85 MiB RSS, and the webhook must stay within 100 MiB.
 */
interface Events {
  recorder: EventRecorder
  /** Stops accepting Events, waits up to `timeoutMs` for pending ones, closes the connections. */
  close(timeoutMs: number): Promise<void>
}

function kubeAccess(logger: Logger, env: NodeJS.ProcessEnv, kubeconfig?: string): RestConfig | undefined {
  let kube
  try {
    kube = loadRestConfig(env, kubeconfig)
  } catch (err) {
    logger.warn({ err }, 'kubeconfig unusable; admission keeps working, Events are off')
    return undefined
  }
  if (!kube) {
    logger.info('no in-cluster config and no KUBECONFIG; admission keeps working, Events are off')
    return undefined
  }
  return kube
}

/**
 * Self-managed TLS: what to serve until the Secret is read — the mounted copy when the kubelet
 * has synced one (a restarted pod), else a throwaway self-signed pair, so the HTTPS port answers
 * /livez at once while /readyz stays 503 until the Secret's pair is loaded.
 */
async function initialPair(options: WebhookServerOptions, logger: Logger): Promise<KeyPair> {
  try {
    return loadKeyPair(options.tlsCert, options.tlsKey)
  } catch {
    logger.info('self-managed TLS: no mounted pair yet; serving a placeholder until the Secret is read')
  }
  const { createCertificateAuthority, issueServingCertificate } = await import('../certs/generate.ts')
  const ca = await createCertificateAuthority({ commonName: 'runguard-placeholder', days: 1 })
  const leaf = await issueServingCertificate(ca, { dnsNames: ['runguard-placeholder.invalid'], days: 1 })
  return keyPairFromPem(leaf.certPem, leaf.keyPem)
}

function createRecorder(config: Config, logger: Logger, metrics: Metrics, kube: RestConfig | undefined): Events | undefined {
  if (!kube) return undefined
  logger.info({ kubeconfig: kube.source }, 'kube access configured for Events')
  const client = createRestClient(kube)
  const recorder = new EventRecorder({
    transport: restEventTransport(client),
    config,
    metrics,
    logger,
    component: 'runguard.proompteng.ai/webhook',
  })
  return {
    recorder,
    async close(timeoutMs) {
      await recorder.close(timeoutMs)
      client.close()
    },
  }
}

/** Installs signal handlers that drain the server; used by the CLI only. */
export function closeOnSignals(server: RunningWebhookServer, logger: Logger, delayMs = 25_000): void {
  closeWithGrace({ delay: delayMs, logger: false }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error; shutting down')
    else logger.info({ signal }, 'shutting down: draining in-flight admission requests')
    await server.close()
  })
}
