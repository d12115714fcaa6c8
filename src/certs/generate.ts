/**
 * Certificate material as PEM strings: a self-signed CA and certificates signed by it.
 *
 * Used by `runguard certs`, the tests and the local sandbox. Everything is made with WebCrypto
 * (through @peculiar/x509); nothing touches the disk here — see write.ts for that.
 */
import { createPrivateKey, webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
// tsyringe (a dependency of @peculiar/x509) needs the Reflect metadata API loaded first.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

/** `ecdsa-p256` (default: small, fast, accepted by Kubernetes and Node) or `rsa-2048`. */
export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048'

/** A CA that can sign: its certificate and its PKCS#8 private key, both PEM. */
export interface CertificateAuthority {
  certPem: string
  keyPem: string
}

/** A leaf certificate (PEM) and its PKCS#8 private key (PEM). */
export interface IssuedCertificate {
  certPem: string
  keyPem: string
}

export interface CertificateAuthorityOptions {
  /** Default `runguard-ca`. */
  commonName?: string
  /** Validity in days; default 3650 (10 years). */
  days?: number
  keyAlgorithm?: KeyAlgorithm
}

export interface ServingCertificateOptions {
  /** Subject CN; default the first DNS name, else the first IP address. */
  commonName?: string
  /** DNS SANs, e.g. `runguard.runguard-system.svc`. */
  dnsNames?: string[]
  /** IP SANs, e.g. `127.0.0.1` for a webhook a loopback API server calls by URL. */
  ipAddresses?: string[]
  /** Validity in days; default 365. */
  days?: number
  keyAlgorithm?: KeyAlgorithm
}

/** What a leaf certificate says. issueServingCertificate() fills it in for a serving certificate. */
export interface CertificateRequest {
  /** Subject CN; for a client certificate, the user name Kubernetes sees. */
  commonName: string
  /** Subject O, one RDN each before the CN; for a client certificate, the groups Kubernetes sees. */
  organizations?: string[]
  dnsNames?: string[]
  ipAddresses?: string[]
  usages: ReadonlyArray<'serverAuth' | 'clientAuth'>
  /** Validity in days; default 365. */
  days?: number
  keyAlgorithm?: KeyAlgorithm
}

const DAY_MS = 24 * 60 * 60 * 1000
/** Back-date certificates a little so a peer whose clock runs behind still accepts them. */
const CLOCK_SKEW_MS = 5 * 60 * 1000

const ECDSA_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const
const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const
const RSA_KEY = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const
const RSA_GENERATE = { ...RSA_KEY, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }

const subtle = webcrypto.subtle

/** Makes a self-signed CA certificate (basicConstraints CA, keyCertSign) and its key. */
export async function createCertificateAuthority(options: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
  const algorithm = options.keyAlgorithm ?? 'ecdsa-p256'
  const keys = await generateKeyPair(algorithm)
  const name = new x509.Name([{ CN: [options.commonName ?? 'runguard-ca'] }])
  const cert = await x509.X509CertificateGenerator.create({
    ...validity(options.days ?? 3650),
    serialNumber: serialNumber(),
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: signingAlgorithm(algorithm),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) }
}

/**
 * Issues a TLS serving certificate signed by `ca`, valid for every DNS name and IP address given
 * (at least one is required).
 */
export async function issueServingCertificate(ca: CertificateAuthority, options: ServingCertificateOptions): Promise<IssuedCertificate> {
  const dnsNames = options.dnsNames ?? []
  const ipAddresses = options.ipAddresses ?? []
  const commonName = options.commonName ?? dnsNames[0] ?? ipAddresses[0]
  if (commonName === undefined) throw new Error('a serving certificate needs at least one DNS name or IP address')
  return issueCertificate(ca, { commonName, dnsNames, ipAddresses, usages: ['serverAuth'], days: options.days, keyAlgorithm: options.keyAlgorithm })
}

/** Issues a leaf certificate signed by `ca`: subject O=…, O=…, CN=…, the SANs and extended key usages asked for. */
export async function issueCertificate(ca: CertificateAuthority, request: CertificateRequest): Promise<IssuedCertificate> {
  for (const ip of request.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new Error(`not an IP address: ${JSON.stringify(ip)}`)
  }
  const sans: x509.JsonGeneralNames = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  // One RDN per attribute (O=…, O=…, CN=…), the layout openssl and Kubernetes' own tools produce.
  const subject = new x509.Name([...(request.organizations ?? []).map((o) => ({ O: [o] })), { CN: [request.commonName] }])
  const keyAlgorithm = request.keyAlgorithm ?? 'ecdsa-p256'
  const caCert = new x509.X509Certificate(ca.certPem)
  const { key: caKey, algorithm: caAlgorithm } = await importSigningKey(ca.keyPem)
  const keys = await generateKeyPair(keyAlgorithm)
  let keyUsage = x509.KeyUsageFlags.digitalSignature
  // RSA key exchange (TLS 1.2 without ECDHE) encrypts with the certificate's key.
  if (keyAlgorithm === 'rsa-2048') keyUsage |= x509.KeyUsageFlags.keyEncipherment
  const cert = await x509.X509CertificateGenerator.create({
    ...validity(request.days ?? 365),
    serialNumber: serialNumber(),
    subject,
    issuer: caCert.subjectName,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: signingAlgorithm(caAlgorithm),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      new x509.ExtendedKeyUsageExtension(request.usages.map((usage) => x509.ExtendedKeyUsage[usage]), false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
    ],
  })
  if (caCert.notAfter < cert.notAfter) {
    // Not an error (clients reject the chain once the CA expires anyway), but worth knowing early.
    process.emitWarning(`certificate for ${subject.toString()} outlives its CA (${caCert.notAfter.toISOString()})`)
  }
  return { certPem: certificatePem(cert), keyPem: await privateKeyPem(keys.privateKey) }
}

async function generateKeyPair(algorithm: KeyAlgorithm): Promise<webcrypto.CryptoKeyPair> {
  if (algorithm === 'ecdsa-p256') return subtle.generateKey(ECDSA_KEY, true, ['sign', 'verify'])
  return subtle.generateKey(RSA_GENERATE, true, ['sign', 'verify'])
}

/** Imports a PEM private key (PKCS#8, PKCS#1 or SEC1) as a WebCrypto signing key. */
async function importSigningKey(pem: string): Promise<{ key: webcrypto.CryptoKey; algorithm: KeyAlgorithm }> {
  const keyObject = createPrivateKey(pem)
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' })
  const type = keyObject.asymmetricKeyType
  if (type === 'ec' && keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { key: await subtle.importKey('pkcs8', pkcs8, ECDSA_KEY, false, ['sign']), algorithm: 'ecdsa-p256' }
  }
  if (type === 'rsa') {
    return { key: await subtle.importKey('pkcs8', pkcs8, RSA_KEY, false, ['sign']), algorithm: 'rsa-2048' }
  }
  throw new Error(`unsupported CA key type ${type ?? 'unknown'} (want ECDSA P-256 or RSA)`)
}

function signingAlgorithm(algorithm: KeyAlgorithm): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return algorithm === 'ecdsa-p256' ? ECDSA_SIGN : RSA_KEY
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validity must be a positive number of days, got ${days}`)
  const now = Date.now()
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + days * DAY_MS) }
}

/** 16 random bytes, first bit cleared so the DER integer is positive (RFC 5280 §4.1.2.2). */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01
  return Buffer.from(bytes).toString('hex')
}

/** PEM with `\n` line ends and a final newline, so bundles can be made with plain `cat`. */
function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return toPem(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY')
}

function toPem(der: ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der).toString('base64')
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}
