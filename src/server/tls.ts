/**
 * Serving certificate with hot reload (SPEC §6). The files are watched (fs.watch on the folder,
 * since Secret volumes and cert-manager replace files by renaming a symlink) and polled as a
 * backstop; a new pair is checked — parseable, key matches cert — before it replaces the old one,
 * so a half-written rotation never takes the server down. New handshakes use the new pair;
 * connections already open keep theirs.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from '../log.ts'

export interface KeyPair {
  cert: string
  key: string
  notAfter: Date
  fingerprint: string
}

/** Reads and checks a certificate/key pair; throws with a message naming the file at fault. */
export function loadKeyPair(certFile: string, keyFile: string): KeyPair {
  return keyPairFromPem(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'), certFile, keyFile)
}

/**
 * Checks a pair given in memory (self-managed TLS reads it from the Secret through the API); throws
 * naming `certSource`/`keySource` when a part is unreadable or the key does not match.
 */
export function keyPairFromPem(cert: string, key: string, certSource = 'tls.crt', keySource = 'tls.key'): KeyPair {
  const certFile = certSource
  const keyFile = keySource
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (err) {
    throw new Error(`${certFile}: not a PEM certificate (${(err as Error).message})`)
  }
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new Error(`${keyFile}: not a PEM private key (${(err as Error).message})`)
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`${keyFile} does not match the certificate in ${certFile}`)
  return { cert, key, notAfter: new Date(x509.validTo), fingerprint: createHash('sha256').update(cert).update(key).digest('hex') }
}

export interface CertificateWatcherOptions {
  /** Files to serve and watch; without them only pairs given to use() are served. */
  certFile?: string
  keyFile?: string
  /** The pair to start with instead of reading the files (self-managed TLS). */
  initial?: KeyPair
  logger: Logger
  onReload: (pair: KeyPair) => void
  /** Backstop poll for file systems where fs.watch misses renames. */
  pollIntervalMs?: number
}

export class CertificateWatcher {
  private readonly options: CertificateWatcherOptions
  private current: KeyPair
  private watchers: FSWatcher[] = []
  private poll: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined

  constructor(options: CertificateWatcherOptions) {
    this.options = options
    if (options.initial) this.current = options.initial
    else if (options.certFile !== undefined && options.keyFile !== undefined) this.current = loadKeyPair(options.certFile, options.keyFile)
    else throw new Error('CertificateWatcher needs certFile and keyFile, or an initial pair')
  }

  /**
   * Serves `pair` from the next handshake on (self-managed TLS hands over what it read from the
   * Secret). Returns true when it differed from the current pair.
   */
  use(pair: KeyPair): boolean {
    if (pair.fingerprint === this.current.fingerprint) return false
    this.current = pair
    this.options.onReload(pair)
    this.options.logger.info({ notAfter: pair.notAfter.toISOString() }, 'serving certificate replaced')
    return true
  }

  get keyPair(): KeyPair {
    return this.current
  }

  start(): void {
    const { certFile, keyFile } = this.options
    if (certFile === undefined || keyFile === undefined || this.options.initial) return
    const dirs = new Set([dirname(certFile), dirname(keyFile)])
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, () => this.schedule())
        watcher.on('error', (err) => this.options.logger.warn({ err, dir }, 'certificate folder watch failed; relying on polling'))
        this.watchers.push(watcher)
      } catch (err) {
        this.options.logger.warn({ err, dir }, 'cannot watch certificate folder; relying on polling')
      }
    }
    this.poll = setInterval(() => this.check(), this.options.pollIntervalMs ?? 10_000)
    this.poll.unref()
  }

  stop(): void {
    for (const watcher of this.watchers) watcher.close()
    this.watchers = []
    if (this.poll) clearInterval(this.poll)
    if (this.debounce) clearTimeout(this.debounce)
  }

  /** Writers replace cert and key one after the other; wait for both before reading. */
  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce)
    this.debounce = setTimeout(() => this.check(), 200)
    this.debounce.unref()
  }

  /** Reloads when the files changed and the new pair is good. Returns true when it swapped. */
  check(): boolean {
    const { certFile, keyFile } = this.options
    if (certFile === undefined || keyFile === undefined) return false
    let next: KeyPair
    try {
      next = loadKeyPair(certFile, keyFile)
    } catch (err) {
      this.options.logger.warn({ err }, 'serving certificate not reloaded; keeping the current one')
      return false
    }
    if (next.fingerprint === this.current.fingerprint) return false
    this.current = next
    this.options.onReload(next)
    this.options.logger.info({ notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded')
    return true
  }
}
