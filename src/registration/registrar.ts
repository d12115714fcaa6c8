/**
 * One pass of the Lease holder over runguard's webhook configurations: inject the CA bundle into
 * the entries pointing at our Service (self-managed TLS), then arm the annotated entries this
 * process can serve. Runs every few seconds, so a `helm upgrade` that resets failurePolicy to the
 * chart's Ignore (or drops the caBundle) is undone within one period.
 */
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { ARMED_ANNOTATION, armingDecisions, armingPatch, parseArmedAnnotation } from './arming.ts'
import type { WebhookConfiguration, WebhookEntry } from './configuration.ts'
import type { ConfigurationClient, FoundConfiguration } from './configuration-client.ts'
import { caBundlePatch, type ServiceRef } from './inject.ts'

export interface RegistrarOptions {
  configurations: ConfigurationClient
  names: readonly string[]
  /** Self-managed TLS: the Service whose entries get the CA bundle. */
  service?: ServiceRef | undefined
  /** This process answers and `entry`'s caBundle verifies the certificate it serves. */
  canServe: (entry: WebhookEntry) => boolean
  metrics: Metrics
  logger: Logger
}

export interface RegistrationResult {
  /** Configurations found (after this pass's patches). */
  found: FoundConfiguration[]
  /** Names in RUNGUARD_WEBHOOK_CONFIGURATIONS that exist neither as mutating nor as validating. */
  missing: string[]
  /** Webhook entries armed in this pass, as `<configuration>/<webhook>`. */
  armed: string[]
}

export class Registrar {
  private readonly options: RegistrarOptions
  private readonly warned = new Set<string>()

  constructor(options: RegistrarOptions) {
    this.options = options
  }

  /** `caBundle`: base64 PEM bundle to inject (self-managed), or undefined to inject nothing. */
  async pass(caBundle: string | undefined): Promise<RegistrationResult> {
    const { configurations, names, service, canServe, metrics, logger } = this.options
    const result: RegistrationResult = { found: [], missing: [], armed: [] }
    for (const name of names) {
      const found = await configurations.get(name)
      if (!found) {
        result.missing.push(name)
        this.warnOnce(`missing:${name}`, { configuration: name }, 'webhook configuration not found (or not readable); nothing to inject or arm there')
        continue
      }
      let object: WebhookConfiguration = found.object
      if (caBundle !== undefined && service) {
        const ops = caBundlePatch(object, service, caBundle)
        if (ops.length > 0) {
          object = await configurations.patch(found, ops)
          logger.info({ configuration: name, entries: ops.length / 2 }, 'self-managed TLS: CA bundle injected')
        }
      }
      const { errors } = parseArmedAnnotation(object.metadata?.annotations?.[ARMED_ANNOTATION])
      for (const error of errors) this.warnOnce(`annotation:${name}:${error}`, { configuration: name }, `${ARMED_ANNOTATION}: ${error}`)
      const decisions = armingDecisions(object, canServe)
      const ops = armingPatch(object, decisions)
      if (ops.length > 0) {
        object = await configurations.patch(found, ops)
        for (const d of decisions.filter((d) => d.state === 'arm')) {
          result.armed.push(`${name}/${d.webhook}`)
          logger.info({ configuration: name, webhook: d.webhook, from: d.current, failurePolicy: d.armed }, 'webhook armed: failurePolicy set now that runguard answers')
        }
      }
      for (const d of decisions) {
        if (d.state === 'skip') this.warnOnce(`skip:${name}:${d.webhook}`, { configuration: name, webhook: d.webhook }, `not arming: ${d.reason}`)
        const now = object.webhooks?.find((e) => e.name === d.webhook)?.failurePolicy
        metrics.webhookArmed.set({ configuration: name, webhook: d.webhook }, now === d.armed ? 1 : 0)
      }
      result.found.push({ ...found, object })
    }
    return result
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.options.logger.warn(fields, message)
  }
}
