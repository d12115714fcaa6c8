/**
 * Every webhook replica (Lease holder or not) serves the pair in the self-managed TLS Secret,
 * read through the API: a GET by name every few seconds (polling, not a watch: one small GET per
 * period is cheap, and there is no watch connection to keep alive and re-establish). A pair that
 * parses, matches its key and has not expired is handed to `onPair`; anything else keeps the
 * current one. `loaded` says whether a good pair from the Secret was ever handed over (/readyz).
 */
import type { Logger } from '../log.ts'
import { keyPairFromPem, type KeyPair } from '../server/tls.ts'
import type { TlsMaterial } from './material.ts'
import type { TlsSecretClient } from './secret-client.ts'

export interface SecretSourceOptions {
  secrets: TlsSecretClient
  onPair: (pair: KeyPair) => void
  logger: Logger
  /** Default 5 s. */
  pollMs?: number
}

export class SecretSource {
  private readonly options: SecretSourceOptions
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private lastProblem = ''
  loaded = false

  constructor(options: SecretSourceOptions) {
    this.options = options
  }

  start(): void {
    const tick = async () => {
      await this.check()
      if (!this.stopped) {
        this.timer = setTimeout(tick, this.options.pollMs ?? 5_000)
        this.timer.unref()
      }
    }
    void tick()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
  }

  /** Reads the Secret once; true when it held a good pair. */
  async check(): Promise<boolean> {
    try {
      const { material, resourceVersion } = await this.options.secrets.get()
      if (resourceVersion === undefined) return this.problem('TLS Secret does not exist yet (the Lease holder creates it)')
      return this.offer(material)
    } catch (err) {
      return this.problem(`reading the TLS Secret failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /** Hands over a pair known without a read (the Lease holder's own write). */
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
    if (!this.loaded) this.options.logger.info({ secret: `${this.options.secrets.namespace}/${this.options.secrets.name}`, notAfter: pair.notAfter.toISOString() }, 'self-managed TLS: serving the pair from the Secret')
    this.loaded = true
    this.lastProblem = ''
    return true
  }

  private problem(message: string): false {
    // Logged when it changes, not every poll.
    if (message !== this.lastProblem) this.options.logger.warn(message)
    this.lastProblem = message
    return false
  }
}
