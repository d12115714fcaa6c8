/**
 * Certificate material only the tests need: a client certificate (for an admin of the test
 * control plane, or mutual TLS against a fake API server) and the RSA key pair the test API server
 * signs service-account tokens with. Serving certificates come from src/certs.
 */
import { generateKeyPair } from 'node:crypto'
import { promisify } from 'node:util'
import { issueCertificate, type CertificateAuthority, type IssuedCertificate, type KeyAlgorithm } from '../../src/certs/generate.ts'

export interface ClientCertificateOptions {
  /** The user name Kubernetes sees (subject CN). */
  commonName: string
  /** The groups Kubernetes sees (subject O), e.g. `['system:masters']` for an admin. */
  organizations?: string[]
  /** Validity in days; default 365. */
  days?: number
  keyAlgorithm?: KeyAlgorithm
}

/** Issues a TLS client certificate with subject CN = user and one O per group. */
export async function issueClientCertificate(ca: CertificateAuthority, options: ClientCertificateOptions): Promise<IssuedCertificate> {
  if (options.commonName === '') throw new Error('a client certificate needs a common name')
  return issueCertificate(ca, { ...options, usages: ['clientAuth'] })
}

/** An RSA key pair: PKCS#8 private key and SPKI public key, both PEM. */
export interface ServiceAccountKeyPair {
  privateKeyPem: string
  publicKeyPem: string
}

/** Makes the RSA 2048 key pair for `--service-account-signing-key-file` / `--service-account-key-file`. */
export async function createServiceAccountKeyPair(): Promise<ServiceAccountKeyPair> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  return { privateKeyPem: privateKey, publicKeyPem: publicKey }
}
