/**
 * The webhook's TLS and registration controller (README "TLS" and "Safe ordering"), started by
 * `runguard webhook` with RUNGUARD_TLS_MODE=self-managed or RUNGUARD_WEBHOOK_CONFIGURATIONS set:
 *
 * - every replica, self-managed: watches the TLS Secret and serves its pair (secret-source.ts,
 *   secret-watch.ts: list + watch of that one Secret, on a streaming connection of its own);
 * - the holder of Lease RUNGUARD_TLS_LEASE_NAME (pod namespace), every `intervalMs`:
 *   self-managed, creates/renews/rotates the Secret (src/tls/rotation.ts; owned by the webhook
 *   Service, service-owner.ts, so deleting the Service deletes it) and injects its CA bundle
 *   into our Service's entries; in every mode, arms the annotated entries once it serves,
 *   the webhook Service has a ready endpoint and the entry's caBundle verifies the certificate
 *   served (registrar.ts).
 *
 * Losing the Lease only stops the writing (the webhook keeps serving) and competing starts again.
 */
import { X509Certificate } from 'node:crypto'
import type { TlsSettings } from '../config.ts'
import { leaseIdentity, startLeaseElection, type LeaderElector } from '../controller/elector.ts'
import { realClock, sleep } from '../controller/clock.ts'
import { restLeaseClient } from '../controller/rest-lease-client.ts'
import { createRestStreamer, type RestClient, type RestConfig, type RestStreamer } from '../kube/rest.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { KeyPair } from '../server/tls.ts'
import { currentCa } from '../tls/material.ts'
import { servingDnsNames } from '../tls/plan.ts'
import { reconcileTlsSecret } from '../tls/rotation.ts'
import { tlsSecretClient, type StoredSecret } from '../tls/secret-client.ts'
import { SecretSource } from '../tls/secret-source.ts'
import { secretWatchSource } from '../tls/secret-watch.ts'
import { configurationClient } from './configuration-client.ts'
import { serviceHasReadyEndpoint } from './endpoints.ts'
import { serviceOwnerReference } from './service-owner.ts'
import { bundleVerifiesLeaf, injectedEverywhere } from './inject.ts'
import { Registrar } from './registrar.ts'

export interface RegistrationControllerOptions {
  client: RestClient
  /** The credentials of `client`, for the Secret's watch (its own streaming connection); needed self-managed. */
  restConfig?: RestConfig
  settings: TlsSettings
  namespace: string
  podName: string
  lease: { durationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number }
  /** The pair being served now (its certificate is what a caBundle must verify before arming). */
  servingPair: () => KeyPair
  /** Self-managed: a good pair from the Secret, to serve from the next handshake. */
  onPair: (pair: KeyPair) => void
  /** This process answers reviews (listening, not draining, and — self-managed — a pair from the Secret). */
  isReady: () => boolean
  metrics: Metrics
  logger: Logger
  /** Lease holder's pass period; default 5 s. */
  intervalMs?: number
  /** Self-managed: extra IP SANs of the serving certificate (`--tls-ip`). */
  ipAddresses?: string[]
}

export interface RegistrationController {
  /** Self-managed: a good pair from the Secret has been served at least once (true in other modes). */
  loaded(): boolean
  isLeader(): boolean
  stop(): Promise<void>
}

export function startRegistrationController(options: RegistrationControllerOptions): RegistrationController {
  const { client, settings, namespace, logger: parent } = options
  const logger = parent.child({ component: 'tls-registration' })
  const selfManaged = settings.mode === 'self-managed'
  const interval = options.intervalMs ?? 5_000
  const service = { namespace, name: settings.serviceName }
  const dnsNames = servingDnsNames(settings.serviceName, namespace)
  const secrets = selfManaged ? tlsSecretClient(client, namespace, settings.secretName) : undefined
  let streamer: RestStreamer | undefined
  if (selfManaged) {
    if (!options.restConfig) throw new Error('self-managed TLS needs the REST config to watch the TLS Secret')
    streamer = createRestStreamer(options.restConfig)
  }
  const source = streamer && new SecretSource({ source: secretWatchSource(client, streamer, namespace, settings.secretName), onPair: options.onPair, logger })
  const configurations = configurationClient(client)

  // Refreshed at the start of each pass (endpoints.ts).
  let endpointReady = false
  let servingLeaf: { pem: string; cert: X509Certificate } | undefined
  const leaf = (): X509Certificate | undefined => {
    const pem = options.servingPair().cert
    if (servingLeaf?.pem !== pem) servingLeaf = { pem, cert: new X509Certificate(pem) }
    return servingLeaf.cert
  }
  const registrar = new Registrar({
    configurations,
    names: settings.webhookConfigurations,
    service: selfManaged ? service : undefined,
    canServe: (entry) => {
      const cert = leaf()
      return options.isReady() && endpointReady && cert !== undefined && bundleVerifiesLeaf(entry.clientConfig?.caBundle, cert)
    },
    metrics: options.metrics,
    logger,
  })

  /** Every caBundle we manage trusts the Secret's current CA. */
  const injected = async (secret: StoredSecret): Promise<boolean> => {
    const ca = currentCa(secret.material)
    if (!ca) return false
    const found = []
    for (const name of settings.webhookConfigurations) {
      const c = await configurations.get(name)
      if (c) found.push(c.object)
    }
    return injectedEverywhere(found, service, ca)
  }

  let serviceMissingLogged = false
  const pass = async (): Promise<void> => {
    let caBundle: string | undefined
    // The Secret is owned by the webhook Service (service-owner.ts); without the Service, no Secret.
    const owner = secrets && (await serviceOwnerReference(client, namespace, settings.serviceName))
    if (secrets && source && !owner) {
      if (!serviceMissingLogged) logger.warn({ service: `${namespace}/${settings.serviceName}` }, 'the webhook Service does not exist: not writing the TLS Secret it owns')
      serviceMissingLogged = true
    } else if (secrets && source && owner) {
      serviceMissingLogged = false
      const result = await reconcileTlsSecret(secrets, { dnsNames, ipAddresses: options.ipAddresses ?? [], caValidityDays: settings.caValidityDays, certValidityDays: settings.certValidityDays, renewBeforeDays: settings.renewBeforeDays, owner }, injected, logger)
      // Serve what was just written without waiting for the watch to deliver it.
      if (result.written) source.offer(result.secret.material)
      if (result.secret.material.caCrt) caBundle = Buffer.from(result.secret.material.caCrt, 'utf8').toString('base64')
    }
    if (settings.webhookConfigurations.length === 0) return
    try {
      endpointReady = await serviceHasReadyEndpoint(client, namespace, settings.serviceName)
    } catch (err) {
      endpointReady = false
      logger.warn({ err }, 'cannot read the webhook Service\'s EndpointSlices; not arming until it can')
    }
    await registrar.pass(caBundle)
  }

  const lead = async (signal: AbortSignal): Promise<void> => {
    logger.info('holding the TLS Lease: managing the TLS Secret and webhook configurations')
    while (!signal.aborted) {
      try {
        await pass()
      } catch (err) {
        logger.warn({ err }, 'TLS/registration pass failed; retrying')
      }
      await sleep(realClock, interval, signal).catch(() => undefined)
    }
  }

  let stopped = false
  let elector: LeaderElector | undefined
  let restart: NodeJS.Timeout | undefined
  const compete = (): void => {
    elector = startLeaseElection({
      config: { namespace, name: settings.leaseName, ...options.lease },
      leaseClient: restLeaseClient(client, namespace, settings.leaseName),
      identity: leaseIdentity(options.podName),
      logger,
      onStartedLeading: (signal) => lead(signal),
      onStoppedLeading: (reason) => {
        if (reason !== 'lost' || stopped) return
        // The webhook keeps serving; only the writing stops. Compete again after a pause.
        logger.warn('lost the TLS Lease; competing again')
        restart = setTimeout(() => {
          if (!stopped) compete()
        }, options.lease.retryPeriodSeconds * 1000)
        restart.unref()
      },
    })
  }
  source?.start()
  compete()

  return {
    loaded: () => (source ? source.loaded : true),
    isLeader: () => elector?.isLeader() ?? false,
    async stop() {
      stopped = true
      if (restart) clearTimeout(restart)
      await source?.stop()
      streamer?.close()
      await elector?.stop()
    },
  }
}
