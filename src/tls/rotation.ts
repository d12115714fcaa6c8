/**
 * One pass of the Lease holder over the self-managed TLS Secret: read it, decide (plan.ts), write
 * the new contents with the resourceVersion read. A 409 (someone wrote in between: a previous
 * leader, a person) re-reads and decides again, a few times.
 *
 * With `owner` (the webhook Service), every write names it as an owner of the Secret, and a Secret
 * that does not yet name it (made by an older runguard) is rewritten as it is with the owner added:
 * deleting the Service (`helm uninstall`) then lets the garbage collector delete the Secret, CA key
 * and all, instead of leaving it behind.
 */
import { statusOf } from '../kube/errors.ts'
import type { Logger } from '../log.ts'
import { applyAction, inspectMaterial, type TlsMaterial } from './material.ts'
import { planCertificates, type CertPlan } from './plan.ts'
import { ownedBy, type OwnerReference, type StoredSecret, type TlsSecretClient } from './secret-client.ts'

const DAY_MS = 24 * 60 * 60 * 1000
const CONFLICT_RETRIES = 3

export interface RotationSettings {
  dnsNames: string[]
  ipAddresses?: string[]
  caValidityDays: number
  certValidityDays: number
  renewBeforeDays: number
  /** The object whose deletion deletes the Secret (the webhook Service). */
  owner?: OwnerReference | undefined
}

export interface RotationResult {
  plan: CertPlan
  secret: StoredSecret
  written: boolean
  /** Only the owner reference was added (the contents kept). */
  adopted?: boolean
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
    const adopt = plan.action === 'keep' && settings.owner !== undefined && !ownedBy(secret, settings.owner) && complete(secret.material)
    if (plan.action === 'keep' && !adopt) return { plan, secret, written: false }
    const material = plan.action === 'keep'
      ? (secret.material as Required<TlsMaterial>)
      : await applyAction(plan.action, secret.material, {
          dnsNames: settings.dnsNames,
          ipAddresses: settings.ipAddresses ?? [],
          caValidityDays: settings.caValidityDays,
          certValidityDays: settings.certValidityDays,
          now: now(),
        })
    try {
      const written = await secrets.write(secret, material, settings.owner)
      const where = { secret: `${secrets.namespace}/${secrets.name}`, ...(settings.owner ? { owner: `${settings.owner.kind}/${settings.owner.name}` } : {}) }
      if (adopt) logger.info(where, 'self-managed TLS: Secret now owned by the webhook Service (deleted with it)')
      else logger.info({ ...where, action: plan.action, reason: plan.reason }, 'self-managed TLS: Secret written')
      return { plan, secret: written, written: true, ...(adopt ? { adopted: true } : {}) }
    } catch (err) {
      if (statusOf(err) !== 409 || attempt >= CONFLICT_RETRIES) throw err
      logger.debug({ err }, 'self-managed TLS: Secret changed under us; reading it again')
    }
  }
}

const complete = (material: TlsMaterial): material is Required<TlsMaterial> =>
  Boolean(material.tlsCrt && material.tlsKey && material.caCrt && material.caKey)
