/**
 * The self-managed TLS Secret's contents, read into facts for plan.ts and rewritten for an action.
 *
 * Layout (type kubernetes.io/tls, as Gatekeeper's cert-controller keeps it): `tls.crt`/`tls.key`
 * the serving pair, `ca.crt` the CA bundle that is injected into caBundle (current CA first, then a
 * rotated-out CA until it expires), `ca.key` the current CA's key. All PEM.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import type { CertAction, CertFacts } from './plan.ts'

export interface TlsMaterial {
  tlsCrt?: string | undefined
  tlsKey?: string | undefined
  caCrt?: string | undefined
  caKey?: string | undefined
}

export const SECRET_KEYS = { tlsCrt: 'tls.crt', tlsKey: 'tls.key', caCrt: 'ca.crt', caKey: 'ca.key' } as const

/** The Secret's `data` (base64) as PEM strings; missing keys are undefined. */
export function materialFromSecretData(data: Record<string, string> | undefined): TlsMaterial {
  const get = (key: string) => (data?.[key] ? Buffer.from(data[key], 'base64').toString('utf8') : undefined)
  return { tlsCrt: get(SECRET_KEYS.tlsCrt), tlsKey: get(SECRET_KEYS.tlsKey), caCrt: get(SECRET_KEYS.caCrt), caKey: get(SECRET_KEYS.caKey) }
}

export function secretDataOf(material: Required<TlsMaterial>): Record<string, string> {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')
  return {
    [SECRET_KEYS.tlsCrt]: b64(material.tlsCrt),
    [SECRET_KEYS.tlsKey]: b64(material.tlsKey),
    [SECRET_KEYS.caCrt]: b64(material.caCrt),
    [SECRET_KEYS.caKey]: b64(material.caKey),
  }
}

/** Every certificate of a PEM bundle, unparseable blocks skipped. */
export function pemCertificates(bundle: string | undefined): X509Certificate[] {
  const blocks = bundle?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  const out: X509Certificate[] = []
  for (const block of blocks) {
    try {
      out.push(new X509Certificate(block))
    } catch {
      // skipped: an unreadable block is as good as absent
    }
  }
  return out
}

const pemOf = (cert: X509Certificate): string => `${cert.toString().replace(/\r\n/g, '\n').trimEnd()}\n`

function privateKey(pem: string | undefined): KeyObject | undefined {
  if (!pem) return undefined
  try {
    return createPrivateKey(pem)
  } catch {
    return undefined
  }
}

/** `leaf` is signed by `ca` (issuer name and signature). */
export function issuedBy(leaf: X509Certificate, ca: X509Certificate): boolean {
  try {
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
  } catch {
    return false
  }
}

/** The CA certificate in the bundle matching `ca.key`. */
export function currentCa(material: TlsMaterial): X509Certificate | undefined {
  const key = privateKey(material.caKey)
  if (!key) return undefined
  return pemCertificates(material.caCrt).find((cert) => {
    try {
      return cert.ca && cert.checkPrivateKey(key)
    } catch {
      return false
    }
  })
}

/** The serving certificate when it parses and matches tls.key. */
export function servingLeaf(material: TlsMaterial): X509Certificate | undefined {
  const key = privateKey(material.tlsKey)
  const [leaf] = pemCertificates(material.tlsCrt)
  if (!key || !leaf) return undefined
  try {
    return leaf.checkPrivateKey(key) ? leaf : undefined
  } catch {
    return undefined
  }
}

function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
}

function ipAddressesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('IP Address:'))
    .map((entry) => entry.slice('IP Address:'.length))
}

/** Facts for planCertificates(); `injected` comes from the configurations (inject.ts). */
export function inspectMaterial(material: TlsMaterial, dnsNames: readonly string[], injected: boolean, ipAddresses: readonly string[] = []): CertFacts {
  const ca = currentCa(material)
  const leaf = servingLeaf(material)
  const bundle = pemCertificates(material.caCrt)
  const names = leaf ? new Set(dnsNamesOf(leaf)) : new Set<string>()
  const ips = leaf ? new Set(ipAddressesOf(leaf)) : new Set<string>()
  return {
    ca: ca && { notAfter: new Date(ca.validTo) },
    leaf: leaf && {
      notAfter: new Date(leaf.validTo),
      issuedByCurrentCa: ca !== undefined && issuedBy(leaf, ca),
      coversNames: dnsNames.every((name) => names.has(name)) && ipAddresses.every((ip) => ips.has(ip)),
    },
    bundle: bundle.map((cert) => new Date(cert.validTo)),
    bundleHasCa: ca !== undefined && bundle.some((cert) => cert.fingerprint256 === ca.fingerprint256),
    injected,
  }
}

export interface IssueSettings {
  dnsNames: string[]
  /** Extra IP SANs (`--tls-ip`: a webhook the API server calls by URL on an address). */
  ipAddresses?: string[]
  caValidityDays: number
  certValidityDays: number
  now: Date
}

/**
 * The Secret's new contents for `action` (not 'keep'). Loads the certificate generator on demand:
 * only the Lease holder ever needs it, and it costs memory every replica would otherwise pay.
 */
export async function applyAction(action: Exclude<CertAction, 'keep'>, material: TlsMaterial, settings: IssueSettings): Promise<Required<TlsMaterial>> {
  const { createCertificateAuthority, issueServingCertificate } = await import('../certs/generate.ts')
  const stillValid = (cert: X509Certificate) => new Date(cert.validTo).getTime() > settings.now.getTime()
  const issueLeaf = (ca: { certPem: string; keyPem: string }) => issueServingCertificate(ca, { dnsNames: settings.dnsNames, ipAddresses: settings.ipAddresses ?? [], days: settings.certValidityDays })

  if (action === 'create') {
    const ca = await createCertificateAuthority({ days: settings.caValidityDays, commonName: `runguard-ca@${Math.floor(settings.now.getTime() / 1000)}` })
    const leaf = await issueLeaf(ca)
    return { tlsCrt: leaf.certPem, tlsKey: leaf.keyPem, caCrt: ca.certPem, caKey: ca.keyPem }
  }
  const ca = currentCa(material)
  if (!ca || !material.caKey) throw new Error(`cannot ${action}: no usable CA in the Secret`)
  const others = pemCertificates(material.caCrt).filter((cert) => cert.fingerprint256 !== ca.fingerprint256 && stillValid(cert))
  const keepLeaf = () => ({ tlsCrt: material.tlsCrt ?? '', tlsKey: material.tlsKey ?? '' })

  if (action === 'rotate-ca') {
    // The new CA joins the bundle first; the old serving certificate stays until it is injected.
    const next = await createCertificateAuthority({ days: settings.caValidityDays, commonName: `runguard-ca@${Math.floor(settings.now.getTime() / 1000)}` })
    const bundle = [next.certPem, ...(stillValid(ca) ? [pemOf(ca)] : []), ...others.map(pemOf)].join('')
    const leaf = servingLeaf(material) ? keepLeaf() : await issueLeaf(next).then((l) => ({ tlsCrt: l.certPem, tlsKey: l.keyPem }))
    return { ...leaf, caCrt: bundle, caKey: next.keyPem }
  }
  const bundle = [pemOf(ca), ...others.map(pemOf)].join('')
  if (action === 'rebuild-bundle') return { ...keepLeaf(), caCrt: bundle, caKey: material.caKey }
  const leaf = await issueLeaf({ certPem: pemOf(ca), keyPem: material.caKey })
  return { tlsCrt: leaf.certPem, tlsKey: leaf.keyPem, caCrt: bundle, caKey: material.caKey }
}
