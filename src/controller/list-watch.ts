/**
 * Where an informer's objects come from: list (paginated) and watch, behind an interface so the
 * informer is unit-tested against a fake source. restListWatchSource() is the real one, over the
 * lean REST client (src/kube/rest.ts): lists through a keep-alive RestClient, watches through a
 * RestStreamer (connections of their own). Everything above that is ours (reflector.ts).
 *
 * A kubeconfig the REST client does not support (exec plugins, auth providers) falls back to
 * client-node (kubeListWatchSource() in client-node.ts). Both share what is written here: the
 * paging loop, the list and watch parameters, and how a watch's end is read. This file must not
 * import client-node: the reconciler's static module graph does not load it.
 */
import { KubeApiError } from '../kube/errors.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import type { ResourceRef } from '../kube/resources.ts'
import { StreamIdleTimeoutError, type RestClient, type RestStreamer } from '../kube/rest.ts'

export interface ListWatchScope {
  /** Undefined = all namespaces. */
  namespace?: string
  labelSelector?: string
  /** E.g. `metadata.name=<name>`: a watch of one object, which RBAC may then limit by resourceNames. */
  fieldSelector?: string
}

export interface ListResult {
  items: KubeObject[]
  resourceVersion: string
  /** The source applied the list's `transform` to every item already (page by page). */
  transformed?: boolean
}

/** A list's items, each transformed once: by the source page by page, or here. */
export function transformedItems<T extends KubeObject>(result: ListResult, transform: ((obj: KubeObject) => T) | undefined): T[] {
  return transform && !result.transformed ? result.items.map((item) => transform(item)) : (result.items as T[])
}

export interface WatchEvent {
  /** ADDED, MODIFIED, DELETED, BOOKMARK or ERROR. */
  type: string
  object: unknown
}

export interface WatchStream {
  /** Resolves when the watch ends normally (server closed it, idle timeout, abort), rejects on failure. */
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

export interface ListWatchOptions {
  /**
   * Server-side timeout of each watch (the server sends a bookmark 2 s before): fixed, or a range
   * each watch draws from; default WATCH_TIMEOUT_SECONDS.
   */
  watchTimeoutSeconds?: number | { readonly min: number; readonly max: number }
  /**
   * Silence that ends a watch as dead, fixed or from the watch's timeoutSeconds (for watches kept
   * open longer than WATCH_IDLE_TIMEOUT_MS); default WATCH_IDLE_TIMEOUT_MS (the REST source;
   * client-node has its own 30 s).
   */
  idleTimeoutMs?: number | ((timeoutSeconds: number) => number)
  /** Draws each watch's timeout from its range; default Math.random. */
  random?: () => number
}

/** The sources of one API connection: one per resource (the REST client's, or client-node's). */
export type ListWatchSources = (resource: ResourceRef, options?: ListWatchOptions) => ListWatchSource

export const PAGE_SIZE = 500
/** Per list page, from sending to the end of the answer. */
export const LIST_TIMEOUT_MS = 60_000

/**
 * Silence on a watch connection after which it is taken as dead (a half-open connection sends
 * nothing and never fails by itself): the watch ends and resumes from its resourceVersion, as
 * client-node's Watch does after its own 30 s (the client-node fallback keeps that one).
 */
export const WATCH_IDLE_TIMEOUT_MS = 30_000

/**
 * How long the API server keeps each watch open (timeoutSeconds), drawn at random in this range so
 * informers do not reconnect in step. client-go uses 5–10 min, but a quiet watch gets its BOOKMARK
 * from the API server only once a minute — or 2 s before the watch's own timeout — and a watch
 * silent for WATCH_IDLE_TIMEOUT_MS (30 s; client-node's Watch on the fallback: the same) is cut as
 * dead. With 5–10 min every quiet watch was cut before its bookmark came, resumed from the list's
 * resourceVersion and, once that was compacted away, relisted (the empty Job informer's 6 relists
 * in 20 minutes). Ending each watch before 30 s makes the server send the bookmark first, so a
 * healthy quiet connection is never silent for 30 s, and a dead one is still noticed within 30 s.
 */
export const WATCH_TIMEOUT_SECONDS = { min: 20, max: 28 } as const

/** `/apis/group/version[/namespaces/ns]/plural`, or `/api/version/…` for the core group. */
export function collectionPath(resource: ResourceRef, namespace?: string): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`
  return `${base}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/${resource.plural}`
}

export type QueryParams = Record<string, string | number | boolean | undefined>

export interface ListPageParams {
  limit: number
  labelSelector?: string
  fieldSelector?: string
  continue?: string
}

/** The selectors of `scope` that are set, as query parameters. */
function selectorParams({ labelSelector, fieldSelector }: ListWatchScope): { labelSelector?: string; fieldSelector?: string } {
  return { ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) }
}

/** The query of one list page. */
export function listPageParams(scope: ListWatchScope, continueToken: string | undefined): ListPageParams {
  return { limit: PAGE_SIZE, ...selectorParams(scope), ...(continueToken ? { continue: continueToken } : {}) }
}

/** The query of one watch (without `watch=true`): bookmarks on, a server-side timeout from `options` (default drawn from WATCH_TIMEOUT_SECONDS). */
export function watchParams(scope: ListWatchScope & { resourceVersion: string }, options: ListWatchOptions): QueryParams & { timeoutSeconds: number } {
  const timeout = options.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS
  const random = options.random ?? Math.random
  return {
    resourceVersion: scope.resourceVersion,
    allowWatchBookmarks: true,
    timeoutSeconds: typeof timeout === 'number' ? timeout : timeout.min + Math.floor(random() * (timeout.max - timeout.min + 1)),
    ...selectorParams(scope),
  }
}

/** `key=value&…`, undefined values left out. */
export function queryString(params: QueryParams): string {
  return Object.entries(params)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&')
}

/**
 * The paging loop: asks for pages (`fetchPage(continueToken)`, the decoded list) until the server
 * gives no continue token, applying `transform` to each page's items as it arrives. The
 * resourceVersion is the last page's (they are all the same snapshot).
 */
export async function listAllPages(
  what: string,
  fetchPage: (continueToken: string | undefined) => Promise<unknown>,
  transform?: (obj: KubeObject) => KubeObject,
): Promise<ListResult> {
  const items: KubeObject[] = []
  let resourceVersion = ''
  let continueToken: string | undefined
  do {
    const page = await fetchPage(continueToken)
    if (!isJsonObject(page) || !Array.isArray(page.items)) throw new Error(`${what}: response is not a list`)
    for (const item of page.items) if (isKubeObject(item)) items.push(transform ? transform(item) : item)
    const metadata = isJsonObject(page.metadata) ? page.metadata : {}
    resourceVersion = typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : ''
    continueToken = typeof metadata.continue === 'string' && metadata.continue !== '' ? metadata.continue : undefined
  } while (continueToken)
  return { items, resourceVersion, ...(transform ? { transformed: true } : {}) }
}

/**
 * How a watch ended, as the reflector reads it: our own abort, or the client's idle timeout (a
 * silent, presumably dead connection) is a normal end — the reflector resumes from its
 * resourceVersion; anything else (an HTTP status, a network error) is the failure it was.
 */
export function watchEnd(done: Promise<void>, aborted: () => boolean, isIdleTimeout: (err: unknown) => boolean): Promise<void> {
  return done.then(undefined, (err: unknown) => {
    if (aborted() || isIdleTimeout(err)) return
    throw err
  })
}

/** One line of a watch stream as a WatchEvent; a line that is not a watch event ends the watch as a failure. */
export function parseWatchLine(line: string, what: string): WatchEvent {
  let event: unknown
  try {
    event = JSON.parse(line)
  } catch {
    throw new Error(`${what}: a line that is not JSON: ${line.slice(0, 100)}`)
  }
  if (!isJsonObject(event) || typeof event.type !== 'string') throw new Error(`${what}: a line that is not a watch event: ${line.slice(0, 100)}`)
  return { type: event.type, object: event.object }
}

/**
 * The list+watch of `resource` through the lean REST client: lists page by page through `client`
 * (a keep-alive pool; give it LIST_TIMEOUT_MS and room for a page of 500 objects), watches through
 * `streamer` (a connection per watch, WATCH_IDLE_TIMEOUT_MS of silence ends it). Any group,
 * the core group included.
 */
export function restListWatchSource(client: RestClient, streamer: RestStreamer, resource: ResourceRef, options: ListWatchOptions = {}): ListWatchSource {
  return {
    async list(scope, transform) {
      const path = collectionPath(resource, scope.namespace)
      const what = `list ${resource.plural}${scope.namespace === undefined ? '' : ` in ${scope.namespace}`}`
      return listAllPages(
        what,
        async (continueToken) => {
          let response
          try {
            response = await client.request('GET', `${path}?${queryString({ ...listPageParams(scope, continueToken) })}`)
          } catch (err) {
            throw KubeApiError.from(err, what)
          }
          if (response.status !== 200) throw KubeApiError.fromResponse(what, response.status, response.body)
          return response.body
        },
        transform,
      )
    },

    watch(scope, onEvent) {
      const what = `watch ${resource.plural}${scope.namespace === undefined ? '' : ` in ${scope.namespace}`}`
      const params = watchParams(scope, options)
      const { idleTimeoutMs = WATCH_IDLE_TIMEOUT_MS } = options
      let aborted = false
      const stream = streamer.stream(`${collectionPath(resource, scope.namespace)}?${queryString({ watch: true, ...params })}`, (line) => onEvent(parseWatchLine(line, what)), {
        idleTimeoutMs: typeof idleTimeoutMs === 'number' ? idleTimeoutMs : idleTimeoutMs(params.timeoutSeconds),
      })
      return {
        done: watchEnd(stream.done, () => aborted, (err) => err instanceof StreamIdleTimeoutError),
        abort() {
          aborted = true
          stream.abort()
        },
      }
    },
  }
}

/** restListWatchSource() for any resource, over one client and one streamer. */
export function restListWatchSources(client: RestClient, streamer: RestStreamer): ListWatchSources {
  return (resource, options) => restListWatchSource(client, streamer, resource, options)
}

/** An object with a name: what list items and watch events must be to enter a cache. */
export function isKubeObject(value: unknown): value is KubeObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === 'string'
}
