/**
 * Self-managed TLS: what the Lease holder does with the Secret on each pass, decided from facts
 * about what it holds (inspect.ts) and the time. Pure, so every branch is unit-tested.
 *
 * Rotation with overlap (as Gatekeeper's and Kyverno's cert controllers do):
 * - the serving certificate is renewed `renewBefore` ahead of its expiry, signed by the same CA:
 *   nothing the API server trusts changes;
 * - the CA is rotated `renewBefore` ahead of ITS expiry in two steps: first a new CA is added to
 *   `ca.crt` next to the old one (the bundle that is injected) while the old serving certificate
 *   stays; only once the new CA is in every caBundle runguard manages is a serving certificate
 *   from the new CA issued. The old CA leaves the bundle when it expires.
 */

export interface CaFacts {
  notAfter: Date
}

export interface LeafFacts {
  notAfter: Date
  /** Signed by the CA whose key is in the Secret. */
  issuedByCurrentCa: boolean
  /** Covers every DNS name it must (the Service's). */
  coversNames: boolean
}

export interface CertFacts {
  /** The current CA (the bundle certificate matching `ca.key`); undefined when missing or unusable. */
  ca?: CaFacts | undefined
  /** The serving certificate; undefined when missing, unparseable or not matching `tls.key`. */
  leaf?: LeafFacts | undefined
  /** Expiry of every certificate in `ca.crt`. */
  bundle: Date[]
  /** `ca.crt` contains the current CA. */
  bundleHasCa: boolean
  /** Every caBundle runguard manages already trusts the current CA (true when it manages none). */
  injected: boolean
}

export type CertAction =
  /** New CA and serving certificate (nothing usable, or first start). */
  | 'create'
  /** New CA added to the bundle; the serving certificate stays until the new CA is injected. */
  | 'rotate-ca'
  /** New serving certificate from the current CA. */
  | 'issue-leaf'
  /** Bundle rebuilt: current CA first, expired certificates dropped. */
  | 'rebuild-bundle'
  | 'keep'

export interface CertPlan {
  action: CertAction
  reason: string
}

export function planCertificates(facts: CertFacts, now: Date, renewBeforeMs: number): CertPlan {
  const t = now.getTime()
  if (!facts.ca) return { action: 'create', reason: 'no usable CA and key in the Secret' }
  if (facts.ca.notAfter.getTime() - t <= renewBeforeMs) return { action: 'rotate-ca', reason: `CA expires ${facts.ca.notAfter.toISOString()}` }
  const leaf = facts.leaf
  if (!leaf) return { action: 'issue-leaf', reason: 'no usable serving certificate and key in the Secret' }
  if (!leaf.coversNames) return { action: 'issue-leaf', reason: 'serving certificate does not cover the Service\'s DNS names' }
  if (leaf.notAfter.getTime() <= t) return { action: 'issue-leaf', reason: `serving certificate expired ${leaf.notAfter.toISOString()}` }
  if (!leaf.issuedByCurrentCa) {
    return facts.injected
      ? { action: 'issue-leaf', reason: 'the rotated CA is injected; serving certificate moves to it' }
      : { action: 'keep', reason: 'waiting for the rotated CA to be injected before moving the serving certificate to it' }
  }
  if (leaf.notAfter.getTime() - t <= renewBeforeMs) return { action: 'issue-leaf', reason: `serving certificate expires ${leaf.notAfter.toISOString()}` }
  if (!facts.bundleHasCa || facts.bundle.some((notAfter) => notAfter.getTime() <= t)) return { action: 'rebuild-bundle', reason: 'ca.crt lacks the CA or holds an expired certificate' }
  return { action: 'keep', reason: 'valid' }
}

/** DNS names of the serving certificate for Service `service` in `namespace`. */
export function servingDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, service, `${service}.${namespace}`]
}
