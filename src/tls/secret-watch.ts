/**
 * Every webhook replica's view of the self-managed TLS Secret: a list+watch of that one object
 * (the project's list+watch loop, src/controller/reflector.ts, on the REST source of
 * src/controller/list-watch.ts, with a `metadata.name` field selector), so a new pair is served as
 * soon as the Lease holder writes it, without polling:
 *
 * - list `?fieldSelector=metadata.name=<name>` → the Secret (or none) and the list's resourceVersion;
 * - watch from there with bookmarks (`allowWatchBookmarks`) and a server-side timeout of 5–10 min;
 *   every event and bookmark moves the resourceVersion on, and a watch the server ends resumes from
 *   it (so does a connection silent for 30 s past that timeout, taken as dead);
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
import { realClock, type Clock } from '../controller/clock.ts'
import { restListWatchSource, type ListWatchSource } from '../controller/list-watch.ts'
import { Reflector } from '../controller/reflector.ts'
import type { KubeObject } from '../kube/objects.ts'
import type { ResourceRef } from '../kube/resources.ts'
import type { RestClient, RestStreamer } from '../kube/rest.ts'
import type { Logger } from '../log.ts'
import { storedSecret, type SecretObject, type StoredSecret } from './secret-client.ts'

const SECRET_RESOURCE: ResourceRef = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' }

/** The one Secret and where it is listed and watched from: secretWatchSource() on a cluster. */
export interface SecretWatchSource {
  readonly namespace: string
  readonly name: string
  readonly listWatch: ListWatchSource
}

/** The one Secret through the webhook's REST client (list) and streamer (watch). */
export function secretWatchSource(client: RestClient, streamer: RestStreamer, namespace: string, name: string, random: () => number = Math.random): SecretWatchSource {
  return {
    namespace,
    name,
    listWatch: restListWatchSource(client, streamer, SECRET_RESOURCE, {
      // Like client-go: the server ends each watch after 5–10 min, so connections rotate. One
      // watch per replica does not need the informers' short watches.
      watchTimeoutSeconds: { min: 300, max: 599 },
      // Silence is normal on a watch (bookmarks come about once a minute, and not at all without
      // the watch cache); silence past the server's own timeout means a dead connection.
      idleTimeoutMs: (timeoutSeconds) => (timeoutSeconds + 30) * 1000,
      random,
    }),
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
  private readonly reflector: Reflector<KubeObject>
  private lists = 0
  private events = 0

  constructor(options: SecretWatchOptions) {
    const { source, onChange } = options
    const logger = options.logger.child({ secret: `${source.namespace}/${source.name}` })
    // The field selector limits the answers to this Secret already; this keeps any other from being served.
    const isTheSecret = (obj: KubeObject): boolean => obj.metadata?.name === source.name
    let exists = false
    this.reflector = new Reflector<KubeObject>({
      namespace: source.namespace,
      source: source.listWatch,
      scope: { namespace: source.namespace, fieldSelector: `metadata.name=${source.name}` },
      logger,
      clock: options.clock ?? realClock,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      minWatchMs: options.minWatchMs ?? 1_000,
      random: options.random ?? Math.random,
      backoffRepeatedGone: true,
      replace: (items) => {
        const secret = items.find(isTheSecret)
        exists = secret !== undefined
        this.lists++
        onChange(secret ? storedSecret(secret as SecretObject) : undefined)
      },
      apply: (type, obj) => {
        if (!isTheSecret(obj)) return
        this.events++
        onChange(type === 'DELETED' ? undefined : storedSecret(obj as SecretObject))
      },
      synced: () => logger.info({ exists, resourceVersion: this.reflector.resourceVersion }, 'TLS Secret listed; watching it'),
    })
  }

  /** The first list is in. */
  get synced(): boolean {
    return this.reflector.hasSynced
  }

  get resourceVersion(): string {
    return this.reflector.resourceVersion
  }

  get stats(): SecretWatchStats {
    return { lists: this.lists, watches: this.reflector.watches, events: this.events, failures: this.reflector.failures }
  }

  start(): void {
    this.reflector.start()
  }

  stop(): Promise<void> {
    return this.reflector.stop()
  }
}
