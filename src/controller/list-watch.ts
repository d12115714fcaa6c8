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
  list(scope: ListWatchScope): Promise<ListResult>
  watch(scope: ListWatchScope & { resourceVersion: string }, onEvent: (event: WatchEvent) => void): WatchStream
}

const PAGE_SIZE = 500
const LIST_TIMEOUT_MS = 60_000

/** List via the generated CustomObjectsApi (any non-core group), watch via client-node's Watch. */
export function kubeListWatchSource(kubeConfig: KubeConfig, resource: ResourceRef): ListWatchSource {
  if (resource.group === '') throw new Error(`kubeListWatchSource: core-group resource ${resource.plural} is not supported`)
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  const watcher = new Watch(kubeConfig)
  const { group, version, plural } = resource

  return {
    async list({ namespace, labelSelector }) {
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
        for (const item of page.items) if (isKubeObject(item)) items.push(item)
        const metadata = isJsonObject(page.metadata) ? page.metadata : {}
        resourceVersion = typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : ''
        continueToken = typeof metadata.continue === 'string' && metadata.continue !== '' ? metadata.continue : undefined
      } while (continueToken)
      return { items, resourceVersion }
    },

    watch({ namespace, labelSelector, resourceVersion }, onEvent) {
      const path = `/apis/${group}/${version}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/${plural}`
      const params: Record<string, string | number | boolean | undefined> = {
        resourceVersion,
        allowWatchBookmarks: true,
        // Like client-go: let the server end each watch after 5–10 min so connections rotate.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
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
