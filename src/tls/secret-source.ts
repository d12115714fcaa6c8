/**
 * Every webhook replica (Lease holder or not) serves the pair in the self-managed TLS Secret, as
 * the watch of that Secret delivers it (secret-watch.ts: list, then watch; no polling). A pair that
 * parses, matches its key and has not expired is handed to `onPair`; anything else (no Secret yet,
 * a Secret deleted, half-written or expired) keeps the current one. `loaded` says whether a good
 * pair from the Secret was ever handed over (/readyz).
 */
import type { Logger } from '../log.ts'
import { keyPairFromPem, type KeyPair } from '../server/tls.ts'
import type { TlsMaterial } from './material.ts'
import type { StoredSecret } from './secret-client.ts'
import { SecretWatch, type SecretWatchOptions, type SecretWatchSource } from './secret-watch.ts'

export interface SecretSourceOptions {
  source: SecretWatchSource
  onPair: (pair: KeyPair) => void
  logger: Logger
  /** Backoff and clock of the watch (tests). */
  watch?: Omit<SecretWatchOptions, 'source' | 'onChange' | 'logger'>
}

export class SecretSource {
  private readonly options: SecretSourceOptions
  readonly watch: SecretWatch
  private lastProblem = ''
  loaded = false

  constructor(options: SecretSourceOptions) {
    this.options = options
    this.watch = new SecretWatch({ ...options.watch, source: options.source, logger: options.logger, onChange: (secret) => this.changed(secret) })
  }

  start(): void {
    this.watch.start()
  }

  stop(): Promise<void> {
    return this.watch.stop()
  }

  /** Hands over a pair known without the watch (the Lease holder's own write). */
  offer(material: TlsMaterial): boolean {
    if (!material.tlsCrt || !material.tlsKey) return this.problem('TLS Secret has no tls.crt/tls.key yet')
    let pair: KeyPair
    try {
      pair = keyPairFromPem(material.tlsCrt, material.tlsKey)
    } catch (err) {
      return this.problem(`TLS Secret unusable: ${(err as Error).message}`)
    }
    if (pair.notAfter.getTime() <= Date.now()) return this.problem(`TLS Secret's certificate expired ${pair.notAfter.toISOString()}`)
    this.options.onPair(pair)
    if (!this.loaded) this.options.logger.info({ secret: this.secretName, notAfter: pair.notAfter.toISOString() }, 'self-managed TLS: serving the pair from the Secret')
    this.loaded = true
    this.lastProblem = ''
    return true
  }

  private changed(secret: StoredSecret | undefined): void {
    if (secret) this.offer(secret.material)
    else if (this.loaded) this.problem('TLS Secret deleted; serving the last pair until the Lease holder writes a new one')
    else this.problem('TLS Secret does not exist yet (the Lease holder creates it)')
  }

  private get secretName(): string {
    return `${this.options.source.namespace}/${this.options.source.name}`
  }

  private problem(message: string): false {
    // Logged when it changes, not at every event.
    if (message !== this.lastProblem) this.options.logger.warn(message)
    this.lastProblem = message
    return false
  }
}
