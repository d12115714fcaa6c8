/**
 * One pass of the Lease holder over the self-managed TLS Secret: read it, decide (plan.ts), write
 * the new contents with the resourceVersion read. A 409 (someone wrote in between: a previous
 * leader, a person) re-reads and decides again, a few times.
 */
import { statusOf } from '../kube/errors.ts'
import type { Logger } from '../log.ts'
import { applyAction, inspectMaterial } from './material.ts'
import { planCertificates, type CertPlan } from './plan.ts'
import type { StoredSecret, TlsSecretClient } from './secret-client.ts'

const DAY_MS = 24 * 60 * 60 * 1000
const CONFLICT_RETRIES = 3

export interface RotationSettings {
  dnsNames: string[]
  ipAddresses?: string[]
  caValidityDays: number
  certValidityDays: number
  renewBeforeDays: number
}

export interface RotationResult {
  plan: CertPlan
  secret: StoredSecret
  written: boolean
}

/**
 * `injected(secret)`: every caBundle runguard manages already trusts the Secret's current CA
 * (decides when a rotated CA's serving certificate may be issued).
 */
export async function reconcileTlsSecret(
  secrets: TlsSecretClient,
  settings: RotationSettings,
  injected: (secret: StoredSecret) => Promise<boolean>,
  logger: Logger,
  now: () => Date = () => new Date(),
): Promise<RotationResult> {
  for (let attempt = 0; ; attempt++) {
    const secret = await secrets.get()
    const facts = inspectMaterial(secret.material, settings.dnsNames, await injected(secret), settings.ipAddresses ?? [])
    const plan = planCertificates(facts, now(), settings.renewBeforeDays * DAY_MS)
    if (plan.action === 'keep') return { plan, secret, written: false }
    const material = await applyAction(plan.action, secret.material, {
      dnsNames: settings.dnsNames,
      ipAddresses: settings.ipAddresses ?? [],
      caValidityDays: settings.caValidityDays,
      certValidityDays: settings.certValidityDays,
      now: now(),
    })
    try {
      const written = await secrets.write(secret, material)
      logger.info({ secret: `${secrets.namespace}/${secrets.name}`, action: plan.action, reason: plan.reason }, 'self-managed TLS: Secret written')
      return { plan, secret: written, written: true }
    } catch (err) {
      if (statusOf(err) !== 409 || attempt >= CONFLICT_RETRIES) throw err
      logger.debug({ err }, 'self-managed TLS: Secret changed under us; reading it again')
    }
  }
}
