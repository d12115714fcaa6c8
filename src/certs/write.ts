/**
 * Writes a webhook certificate bundle to a directory — what `runguard certs --out DIR --dns NAME…`
 * does. Files are replaced atomically (write to a temporary file, then rename), so a server that
 * watches tls.crt/tls.key never reads half a file. Run again on the same directory, it renews the
 * serving certificate with the CA already there, so the webhooks' `caBundle` stays valid.
 */
import { randomBytes } from 'node:crypto'
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createCertificateAuthority,
  issueServingCertificate,
  type CertificateAuthority,
  type KeyAlgorithm,
} from './generate.ts'

/** File names inside the bundle directory (the names of a `kubernetes.io/tls` Secret's keys). */
const BUNDLE_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const

export interface CertificateBundleOptions {
  /** DNS SANs of the serving certificate, e.g. `runguard-webhook.runguard-system.svc`. */
  dnsNames: string[]
  /** IP SANs, e.g. `127.0.0.1` when a loopback API server calls the webhook by URL. */
  ipAddresses?: string[]
  /** Serving certificate validity in days; default 365. */
  days?: number
  /** CA validity in days when a new CA is made; default 3650. */
  caDays?: number
  /**
   * Sign with this CA instead of making a new one — renews the serving certificate without
   * changing the webhook configurations' `caBundle`. See {@link readCertificateAuthority}.
   */
  ca?: CertificateAuthority
  /**
   * When `ca` is not given and `outDir` already holds ca.crt and ca.key, sign with that CA
   * (default true). false always makes a new CA.
   */
  reuseCa?: boolean
  /**
   * Write a newly made CA's private key as ca.key (mode 0600) so later runs can reuse the CA
   * (default true). A CA that was passed in or reused is never rewritten.
   */
  writeCaKey?: boolean
  keyAlgorithm?: KeyAlgorithm
}

export interface WrittenCertificateBundle {
  caCertPath: string
  /** Present only when ca.key was written (a new CA). */
  caKeyPath?: string
  /** `new`, `given` (options.ca) or `reused` (found in outDir). */
  caSource: 'new' | 'given' | 'reused'
  certPath: string
  keyPath: string
  /** The CA certificate, for a webhook configuration's `caBundle` (base64 it first). */
  caPem: string
}

/**
 * Makes a serving certificate for `dnsNames`/`ipAddresses` and writes `ca.crt`, `tls.crt` and
 * `tls.key` (0600) into `outDir` (created if missing). The signing CA is `options.ca`, else the
 * one already in `outDir` (ca.crt + ca.key), else a new one whose key is written as `ca.key`
 * (0600). Files are replaced atomically; the key before the certificate.
 */
export async function writeCertificateBundle(outDir: string, options: CertificateBundleOptions): Promise<WrittenCertificateBundle> {
  if (options.dnsNames.length === 0 && (options.ipAddresses ?? []).length === 0) {
    throw new Error('writeCertificateBundle: give at least one DNS name or IP address')
  }
  const keyAlgorithm = options.keyAlgorithm ?? 'ecdsa-p256'
  let ca = options.ca
  let caSource: WrittenCertificateBundle['caSource'] = 'given'
  if (ca === undefined && options.reuseCa !== false && (await hasCertificateAuthority(outDir))) {
    ca = await readCertificateAuthority(outDir)
    caSource = 'reused'
  }
  if (ca === undefined) {
    ca = await createCertificateAuthority({ commonName: 'runguard-webhook-ca', days: options.caDays ?? 3650, keyAlgorithm })
    caSource = 'new'
  }
  const serving = await issueServingCertificate(ca, {
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses ?? [],
    days: options.days ?? 365,
    keyAlgorithm,
  })

  await mkdir(outDir, { recursive: true })
  const written: WrittenCertificateBundle = {
    caCertPath: join(outDir, BUNDLE_FILES.caCert),
    certPath: join(outDir, BUNDLE_FILES.cert),
    keyPath: join(outDir, BUNDLE_FILES.key),
    caPem: ca.certPem,
    caSource,
  }
  if (caSource === 'new' && options.writeCaKey !== false) {
    written.caKeyPath = join(outDir, BUNDLE_FILES.caKey)
    await writeAtomically(written.caKeyPath, ca.keyPem, 0o600)
  }
  await writeAtomically(written.caCertPath, ca.certPem, 0o644)
  await writeAtomically(written.keyPath, serving.keyPem, 0o600)
  await writeAtomically(written.certPath, serving.certPem, 0o644)
  return written
}

async function hasCertificateAuthority(dir: string): Promise<boolean> {
  try {
    await Promise.all([access(join(dir, BUNDLE_FILES.caCert)), access(join(dir, BUNDLE_FILES.caKey))])
    return true
  } catch {
    return false
  }
}

/** Reads `ca.crt` and `ca.key` from a bundle directory written earlier. */
export async function readCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const [certPem, keyPem] = await Promise.all([
    readFile(join(dir, BUNDLE_FILES.caCert), 'utf8'),
    readFile(join(dir, BUNDLE_FILES.caKey), 'utf8'),
  ])
  return { certPem, keyPem }
}

/** Writes `content` to a sibling temporary file with `mode`, then renames it over `path`. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    // `mode` applies only when the file is created, which a fresh temporary name guarantees.
    await writeFile(temporary, content, { mode, flag: 'wx' })
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}
