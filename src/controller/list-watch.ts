/**
 * Where an informer's objects come from: list (paginated) and watch, behind an interface so the
 * informer is unit-tested against a fake source. kubeListWatchSource() is the real one: lists
 * through client-node's generated CustomObjectsApi (any non-core group) and watches through its
 * `Watch` (auth, TLS, streaming, line parsing) — everything above that is ours (reflector.ts):
 * client-node's own ListWatch gives up for good on any error other than 410 and cannot be faked.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import type { ResourceRef } from '../kube/resources.ts'

export interface ListWatchScope {
  /** Undefined = all namespaces. */
  namespace?: string
  labelSelector?: string
}

export interface ListResult {
  items: KubeObject[]
  resourceVersion: string
  /** The source applied the list's `transform` to every item already (page by page). */
  transformed?: boolean
}

export interface WatchEvent {
  /** ADDED, MODIFIED, DELETED, BOOKMARK or ERROR. */
  type: string
  object: unknown
}

export interface WatchStream {
  /** Resolves when the watch ends normally (server closed it, client timeout), rejects on failure. */
  done: Promise<void>
  abort(): void
}

export interface ListWatchSource {
  /**
   * Every object in scope. A source may apply `transform` to each page as it arrives (and say so
   * in `transformed`), so the full objects of all pages are never held at once.
   */
  list(scope: ListWatchScope, transform?: (obj: KubeObject) => KubeObject): Promise<ListResult>
  watch(scope: ListWatchScope & { resourceVersion: string }, onEvent: (event: WatchEvent) => void): WatchStream
}

const PAGE_SIZE = 500
const LIST_TIMEOUT_MS = 60_000

/**
 * How long the API server keeps each watch open (timeoutSeconds), drawn at random in this range so
 * informers do not reconnect in step. client-go uses 5–10 min, but client-node's Watch aborts a
 * watch that has been silent for 30 s, and the API server sends a quiet watch its BOOKMARK only
 * once a minute — or 2 s before the watch's own timeout. With 5–10 min every quiet watch was cut
 * before its bookmark came, resumed from the list's resourceVersion and, once that was compacted
 * away, relisted (the empty Job informer's 6 relists in 20 minutes). Ending each watch before 30 s
 * makes the server send the bookmark first, and keeps client-node's 30 s dead-connection check.
 */
export const WATCH_TIMEOUT_SECONDS = { min: 20, max: 28 } as const

export interface KubeListWatchOptions {
  /** Fixed server-side timeout of each watch (the server sends a bookmark 2 s before); default WATCH_TIMEOUT_SECONDS. */
  watchTimeoutSeconds?: number
}

/** List via the generated CustomObjectsApi (any non-core group), watch via client-node's Watch. */
export function kubeListWatchSource(kubeConfig: KubeConfig, resource: ResourceRef, options: KubeListWatchOptions = {}): ListWatchSource {
  if (resource.group === '') throw new Error(`kubeListWatchSource: core-group resource ${resource.plural} is not supported`)
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  const watcher = new Watch(kubeConfig)
  const { group, version, plural } = resource

  return {
    async list({ namespace, labelSelector }, transform) {
      const items: KubeObject[] = []
      let resourceVersion = ''
      let continueToken: string | undefined
      do {
        const common = { group, version, plural, limit: PAGE_SIZE, ...(labelSelector ? { labelSelector } : {}), ...(continueToken ? { _continue: continueToken } : {}) }
        const page: unknown =
          namespace === undefined
            ? await api.listClusterCustomObject(common, requestTimeout(LIST_TIMEOUT_MS))
            : await api.listNamespacedCustomObject({ ...common, namespace }, requestTimeout(LIST_TIMEOUT_MS))
        if (!isJsonObject(page) || !Array.isArray(page.items)) throw new Error(`list ${plural}: response is not a list`)
        for (const item of page.items) if (isKubeObject(item)) items.push(transform ? transform(item) : item)
        const metadata = isJsonObject(page.metadata) ? page.metadata : {}
        resourceVersion = typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : ''
        continueToken = typeof metadata.continue === 'string' && metadata.continue !== '' ? metadata.continue : undefined
      } while (continueToken)
      return { items, resourceVersion, ...(transform ? { transformed: true } : {}) }
    },

    watch({ namespace, labelSelector, resourceVersion }, onEvent) {
      const path = `/apis/${group}/${version}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/${plural}`
      const params: Record<string, string | number | boolean | undefined> = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: options.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS.min + Math.floor(Math.random() * (WATCH_TIMEOUT_SECONDS.max - WATCH_TIMEOUT_SECONDS.min + 1)),
        labelSelector: labelSelector || undefined,
      }
      let controller: AbortController | undefined
      let aborted = false
      const done = new Promise<void>((resolve, reject) => {
        const finish = (err: unknown): void => {
          // Our own abort, or client-node's 30 s inactivity timeout: a normal end, resume from the resourceVersion.
          if (aborted || !err || (err instanceof Error && err.name === 'TimeoutError')) resolve()
          else reject(err)
        }
        watcher
          .watch(path, params, (type: string, object: unknown) => onEvent({ type, object }), finish)
          .then((c) => {
            controller = c
            if (aborted) c.abort()
          }, reject)
      })
      return {
        done,
        abort() {
          aborted = true
          controller?.abort()
        },
      }
    },
  }
}

/** An object with a name: what list items and watch events must be to enter a cache. */
export function isKubeObject(value: unknown): value is KubeObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === 'string'
}
