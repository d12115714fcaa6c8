/**
 * Every webhook replica's view of the self-managed TLS Secret: a list+watch of that one object
 * (client-go's Reflector with a `metadata.name` field selector), so a new pair is served as soon as
 * the Lease holder writes it, without polling:
 *
 * - list `?fieldSelector=metadata.name=<name>` → the Secret (or none) and the list's resourceVersion;
 * - watch from there with bookmarks (`allowWatchBookmarks`) and a server-side timeout of 5–10 min;
 *   every event and bookmark moves the resourceVersion on, and a watch the server ends resumes from
 *   it (a connection silent for 30 s past that timeout is taken as dead: a failure, reconnected);
 * - `410 Gone` (HTTP status, or an ERROR event with code 410) → relist at once (with backoff only if
 *   it keeps happening);
 * - any other failure (network, 5xx, 403, an ERROR event) → reconnect after exponential backoff with
 *   jitter (500 ms … 30 s by default), keeping the resourceVersion; after 5 failed watches in a row,
 *   relist; a watch that ends at once without any event counts as a failure.
 *
 * RBAC: `list` and `watch` on `secrets` limited by resourceNames to this Secret (the API server
 * applies resourceNames to list/watch that carry the `metadata.name` field selector).
 *
 * The REST source streams through src/kube/rest.ts (no @kubernetes/client-node in the webhook).
 */
import { realClock, sleep, type Clock } from '../controller/clock.ts'
import { KubeApiError, statusOf } from '../kube/errors.ts'
import { isJsonObject } from '../kube/objects.ts'
import type { RestClient, RestStream, RestStreamer } from '../kube/rest.ts'
import type { Logger } from '../log.ts'
import { storedSecret, type SecretObject, type StoredSecret } from './secret-client.ts'

const RELIST_AFTER_WATCH_FAILURES = 5

export interface SecretListResult {
  /** The Secret, or undefined when it does not exist. */
  secret: SecretObject | undefined
  resourceVersion: string
}

export interface SecretWatchEvent {
  /** ADDED, MODIFIED, DELETED, BOOKMARK or ERROR. */
  type: string
  object: unknown
}

/** Where the Secret comes from; faked in tests below the REST level, real in secretWatchSource(). */
export interface SecretWatchSource {
  readonly namespace: string
  readonly name: string
  list(): Promise<SecretListResult>
  /** Resolves when the watch ends normally, rejects on failure (statusOf() gives the HTTP status). */
  watch(resourceVersion: string, onEvent: (event: SecretWatchEvent) => void): RestStream
}

/** The one Secret through the webhook's REST client (list) and streamer (watch). */
export function secretWatchSource(client: RestClient, streamer: RestStreamer, namespace: string, name: string, random: () => number = Math.random): SecretWatchSource {
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`
  const fieldSelector = `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`
  return {
    namespace,
    name,
    async list() {
      const response = await client.request('GET', `${collection}?${fieldSelector}`)
      if (response.status !== 200) throw KubeApiError.fromResponse(`list secret ${namespace}/${name}`, response.status, response.body)
      const body = isJsonObject(response.body) ? response.body : {}
      const items = Array.isArray(body.items) ? body.items : []
      const metadata = isJsonObject(body.metadata) ? body.metadata : {}
      const found = items.find((item) => isJsonObject(item) && isJsonObject(item.metadata) && item.metadata.name === name)
      return { secret: found as SecretObject | undefined, resourceVersion: typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : '' }
    },
    watch(resourceVersion, onEvent) {
      // Like client-go: the server ends each watch after 5–10 min, so connections rotate.
      const timeoutSeconds = 300 + Math.floor(random() * 300)
      const query = `watch=true&${fieldSelector}&resourceVersion=${encodeURIComponent(resourceVersion)}&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}`
      // Silence is normal on a watch (bookmarks come about once a minute, and not at all without
      // the watch cache); silence past the server's own timeout means a dead connection.
      const idleTimeoutMs = (timeoutSeconds + 30) * 1000
      return streamer.stream(`${collection}?${query}`, (line) => {
        let event: unknown
        try {
          event = JSON.parse(line)
        } catch {
          throw new Error(`watch secret ${namespace}/${name}: a line that is not JSON: ${line.slice(0, 100)}`)
        }
        if (isJsonObject(event) && typeof event.type === 'string') onEvent({ type: event.type, object: event.object })
      }, { idleTimeoutMs })
    },
  }
}

export interface SecretWatchOptions {
  source: SecretWatchSource
  /** The Secret as now known: after each list, and each ADDED/MODIFIED (the object) or DELETED (undefined). */
  onChange: (secret: StoredSecret | undefined) => void
  logger: Logger
  clock?: Clock
  /** Default 500 ms. */
  backoffInitialMs?: number
  /** Default 30 s. */
  backoffMaxMs?: number
  /** A watch that ends sooner than this without any event is a failure; default 1 s. */
  minWatchMs?: number
  random?: () => number
}

export interface SecretWatchStats {
  lists: number
  watches: number
  events: number
  failures: number
}

export class SecretWatch {
  resourceVersion = ''
  /** The first list is in. */
  synced = false
  readonly stats: SecretWatchStats = { lists: 0, watches: 0, events: 0, failures: 0 }
  private readonly options: SecretWatchOptions
  private readonly clock: Clock
  private readonly stopController = new AbortController()
  private stream: RestStream | undefined
  private running: Promise<void> | undefined

  constructor(options: SecretWatchOptions) {
    this.options = options
    this.clock = options.clock ?? realClock
  }

  start(): void {
    this.running ??= this.run()
  }

  async stop(): Promise<void> {
    this.stopController.abort()
    this.stream?.abort()
    await this.running
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted
  }

  private get secretName(): string {
    return `${this.options.source.namespace}/${this.options.source.name}`
  }

  private async run(): Promise<void> {
    const { logger } = this.options
    const initialMs = this.options.backoffInitialMs ?? 500
    const maxMs = this.options.backoffMaxMs ?? 30_000
    const minWatchMs = this.options.minWatchMs ?? 1_000
    const random = this.options.random ?? Math.random
    let failures = 0
    let watchFailures = 0
    let goneInARow = 0
    while (!this.stopped) {
      let startedAt: number | undefined
      let events = 0
      try {
        if (this.resourceVersion === '') await this.relist()
        if (this.stopped) return
        startedAt = this.clock.now()
        const result = await this.watchOnce(() => events++)
        if (this.stopped) return
        if (result === 'gone') {
          logger.info({ secret: this.secretName, resourceVersion: this.resourceVersion }, 'TLS Secret watch: resourceVersion expired (410 Gone); relisting')
          this.resourceVersion = ''
          // Relisted at once; but a server that answers 410 to every fresh list's resourceVersion
          // must not make a hot loop.
          goneInARow = events > 0 ? 1 : goneInARow + 1
          if (goneInARow > 1) throw new Error('watch answered 410 Gone again right after a relist')
          continue
        }
        goneInARow = 0
        if (events === 0 && this.clock.now() - startedAt < minWatchMs) throw new Error('watch closed immediately without events')
        failures = 0
        watchFailures = 0
      } catch (err) {
        if (this.stopped) return
        this.stats.failures++
        // A watch that was healthy for a while before failing starts the backoff afresh.
        if (startedAt !== undefined && (events > 0 || this.clock.now() - startedAt >= minWatchMs)) {
          failures = 0
          watchFailures = 0
        }
        failures++
        if (statusOf(err) === 410) this.resourceVersion = ''
        else if (this.resourceVersion !== '' && ++watchFailures >= RELIST_AFTER_WATCH_FAILURES) {
          this.resourceVersion = ''
          watchFailures = 0
        }
        const base = Math.min(maxMs, initialMs * 2 ** (failures - 1))
        const delayMs = Math.round(base * (0.75 + random() * 0.5))
        logger.warn({ err, secret: this.secretName, failures, delayMs }, 'TLS Secret list/watch failed; retrying')
        await sleep(this.clock, delayMs, this.stopController.signal)
      }
    }
  }

  private async relist(): Promise<void> {
    const { secret, resourceVersion } = await this.options.source.list()
    if (this.stopped) return
    this.stats.lists++
    this.resourceVersion = resourceVersion
    this.options.onChange(secret ? storedSecret(secret) : undefined)
    if (!this.synced) {
      this.synced = true
      this.options.logger.info({ secret: this.secretName, exists: secret !== undefined, resourceVersion }, 'TLS Secret listed; watching it')
    }
  }

  /** One watch from the current resourceVersion: 'gone' on 410, 'ended' when it ended normally. */
  private async watchOnce(counted: () => void): Promise<'gone' | 'ended'> {
    let gone = false
    let failure: Error | undefined
    let stream: RestStream | undefined
    const stopHere = (): void => stream?.abort()
    this.stats.watches++
    stream = this.options.source.watch(this.resourceVersion, (event) => {
      if (this.stopped || gone || failure) return
      const object = isJsonObject(event.object) ? event.object : {}
      const metadata = isJsonObject(object.metadata) ? object.metadata : {}
      const rv = typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : undefined
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED':
          if (metadata.name !== this.options.source.name) return
          if (rv) this.resourceVersion = rv
          this.stats.events++
          counted()
          this.options.onChange(event.type === 'DELETED' ? undefined : storedSecret(object as SecretObject))
          return
        case 'BOOKMARK':
          if (rv) this.resourceVersion = rv
          counted()
          return
        case 'ERROR': {
          const code = typeof object.code === 'number' ? object.code : undefined
          if (code === 410) gone = true
          else failure = new KubeApiError(`watch secret ${this.secretName}: ${typeof object.message === 'string' ? object.message : 'ERROR event'}`, { statusCode: code, statusReason: typeof object.reason === 'string' ? object.reason : undefined })
          stopHere()
          return
        }
        default:
          return
      }
    })
    this.stream = stream
    if (this.stopped || gone || failure) stream.abort()
    try {
      await stream.done
    } catch (err) {
      if (!gone && !failure && !this.stopped) {
        if (statusOf(err) === 410) gone = true
        else throw err
      }
    } finally {
      this.stream = undefined
    }
    if (failure) throw failure
    return gone ? 'gone' : 'ended'
  }
}
