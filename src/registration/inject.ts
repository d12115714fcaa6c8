/**
 * CA injection (self-managed TLS): the JSON patch that puts our CA bundle into
 * `clientConfig.caBundle` of every entry of a configuration that points at our Service — and only
 * those: an entry someone pointed elsewhere (a URL, another Service) is not ours to trust.
 */
import { X509Certificate } from 'node:crypto'
import { testName, type JsonPatchOp, type WebhookConfiguration, type WebhookEntry } from './configuration.ts'

export interface ServiceRef {
  namespace: string
  name: string
}

export const pointsAt = (entry: WebhookEntry, service: ServiceRef): boolean =>
  entry.clientConfig?.service?.name === service.name && entry.clientConfig.service.namespace === service.namespace

/** Ops setting `caBundle` (base64 of the PEM bundle) on our Service's entries that differ; [] when all match. */
export function caBundlePatch(configuration: WebhookConfiguration, service: ServiceRef, caBundle: string): JsonPatchOp[] {
  return (configuration.webhooks ?? []).flatMap((entry, index) =>
    pointsAt(entry, service) && entry.clientConfig?.caBundle !== caBundle
      ? [testName(index, entry.name), { op: 'add' as const, path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle }]
      : [],
  )
}

/** Certificates in a base64 caBundle; [] when absent or unreadable. */
export function bundleCertificates(caBundle: string | undefined): X509Certificate[] {
  if (!caBundle) return []
  const pem = Buffer.from(caBundle, 'base64').toString('utf8')
  const out: X509Certificate[] = []
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.push(new X509Certificate(block))
    } catch {
      // an unreadable block trusts nothing
    }
  }
  return out
}

/** A base64 caBundle includes the CA certificate `ca` (by fingerprint). */
export function bundleTrusts(caBundle: string | undefined, ca: X509Certificate): boolean {
  return bundleCertificates(caBundle).some((cert) => cert.fingerprint256 === ca.fingerprint256)
}

/** A base64 caBundle holds a CA that signed `leaf`: the API server will accept the pair we serve. */
export function bundleVerifiesLeaf(caBundle: string | undefined, leaf: X509Certificate): boolean {
  const now = Date.now()
  return bundleCertificates(caBundle).some((ca) => {
    try {
      return new Date(ca.validTo).getTime() > now && leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
    } catch {
      return false
    }
  })
}

/** Every entry of `configurations` pointing at our Service trusts `ca` (vacuously true when none does). */
export function injectedEverywhere(configurations: readonly WebhookConfiguration[], service: ServiceRef, ca: X509Certificate): boolean {
  return configurations.every((c) => (c.webhooks ?? []).filter((entry) => pointsAt(entry, service)).every((entry) => bundleTrusts(entry.clientConfig?.caBundle, ca)))
}
