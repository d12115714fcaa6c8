/**
 * Shared informer: an in-memory cache of one resource kept current by list + watch, with
 * onAdd/onUpdate/onDelete handlers (which the business logic maps to queue keys).
 *
 * Why our own instead of client-node's makeInformer/ListWatch (read in v2.0.1's cache.js):
 * - ListWatch gives up for good on any watch/list error other than 410 and its own inactivity
 *   timeout: it calls the error handlers and never reconnects (an API-server restart, a 500 or a
 *   refused connection stops it until someone calls start() again);
 * - it has no periodic resync, no hasSynced/waitForSync, no label-selector filtering of the cache,
 *   no per-namespace list/watch, and cannot be driven by a fake source in unit tests.
 * What we keep from client-node: `Watch` (auth, TLS, streaming, line parsing) and the generated
 * CustomObjectsApi for lists, wrapped by kubeListWatchSource(); everything above that is here.
 *
 * Behaviour (client-go's reflector, simplified):
 * - one list+watch loop per namespace in `namespaces`, or one cluster-wide when that is empty;
 * - list (paginated) → watch from the list's resourceVersion, with bookmarks; each event moves the
 *   resourceVersion on; when a watch ends it resumes from the last resourceVersion;
 * - `410 Gone` (HTTP status or an ERROR event with code 410) → relist and diff against the cache:
 *   add for new objects, update for changed resourceVersions, delete for objects gone;
 * - other failures → exponential backoff with jitter (800 ms … 30 s), keep the resourceVersion;
 *   after 5 failed watches in a row, relist;
 * - every `resyncMs` (config.resyncSeconds) each cached object is re-emitted as update(obj, obj).
 *
 * Handlers run synchronously in event order and must not mutate the objects; a throwing handler
 * is logged and does not affect the informer.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import type { Logger } from '../log.ts'
import { silentLogger } from '../log.ts'
import type { RunKind } from '../kube/run-kinds.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import { realClock, sleep, type Clock, type TimerHandle } from './clock.ts'
import { matchesRequirements, parseLabelSelector, type Requirement } from './selector.ts'

// ---------------------------------------------------------------------------------------------
// Resources

export interface ResourceRef {
  /** API group; the core group ('') is not supported by kubeListWatchSource. */
  group: string
  version: string
  plural: string
  kind: string
}

export const JOB_RESOURCE: ResourceRef = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' }
/** Argo Workflows; watch only when apiResourceExists() says the API is served. */
export const WORKFLOW_RESOURCE: ResourceRef = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows', kind: 'Workflow' }

export function runResource(kind: RunKind): ResourceRef {
  return { group: kind.group, version: kind.version, plural: kind.plural, kind: kind.kind }
}

/** HTTP status of a client-node error (ApiException.code, Watch's statusCode), if any. */
export function apiStatusCode(err: unknown): number | undefined {
  if (!isJsonObject(err) && !(err instanceof Error)) return undefined
  const record = err as { code?: unknown; statusCode?: unknown }
  if (typeof record.code === 'number') return record.code
  if (typeof record.statusCode === 'number') return record.statusCode
  return undefined
}

/**
 * Discovery: is `group/version` served with resource `plural`? False when the group/version is
 * unknown (404); other errors (RBAC, network) are thrown so callers do not mistake them for "absent".
 */
export async function apiResourceExists(kubeConfig: KubeConfig, group: string, version: string, plural: string): Promise<boolean> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  try {
    const list = await api.getAPIResources({ group, version }, requestTimeout(30_000))
    return list.resources.some((resource) => resource.name === plural)
  } catch (err) {
    if (apiStatusCode(err) === 404) return false
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// The list/watch source (injectable)

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

/** Raised for a watch ERROR event, or a 410 when resuming. */
export class WatchError extends Error {
  override name = 'WatchError'
  readonly code: number | undefined
  constructor(message: string, code: number | undefined) {
    super(message)
    this.code = code
  }
}

export interface KubeListWatchSourceOptions {
  /** Items per list page (default 500). */
  pageSize?: number
  /** Timeout of each list request (default 60 s). */
  requestTimeoutMs?: number
}

/** List via the generated CustomObjectsApi (any non-core group), watch via client-node's Watch. */
export function kubeListWatchSource(kubeConfig: KubeConfig, resource: ResourceRef, options: KubeListWatchSourceOptions = {}): ListWatchSource {
  if (resource.group === '') throw new Error(`kubeListWatchSource: core-group resource ${resource.plural} is not supported`)
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  const watcher = new Watch(kubeConfig)
  const pageSize = options.pageSize ?? 500
  const timeoutMs = options.requestTimeoutMs ?? 60_000
  const { group, version, plural } = resource

  return {
    async list({ namespace, labelSelector }) {
      const items: KubeObject[] = []
      let resourceVersion = ''
      let continueToken: string | undefined
      do {
        const common = { group, version, plural, limit: pageSize, ...(labelSelector ? { labelSelector } : {}), ...(continueToken ? { _continue: continueToken } : {}) }
        const page: unknown =
          namespace === undefined
            ? await api.listClusterCustomObject(common, requestTimeout(timeoutMs))
            : await api.listNamespacedCustomObject({ ...common, namespace }, requestTimeout(timeoutMs))
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

function isKubeObject(value: unknown): value is KubeObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === 'string'
}

// ---------------------------------------------------------------------------------------------
// The informer

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  onAdd?: (obj: T) => void
  onUpdate?: (oldObj: T, newObj: T) => void
  /** Receives the last state known (the DELETED event's object, or the cached one after a relist). */
  onDelete?: (obj: T) => void
}

export interface InformerOptions {
  /** For logs, e.g. "agentruns" or "jobs(agents.proompteng.ai/agent-run)". */
  name: string
  source: ListWatchSource
  /** One list+watch per namespace; empty or absent = cluster-wide. */
  namespaces?: readonly string[]
  labelSelector?: string
  /** Re-emit update(obj, obj) for every cached object this often; 0 or absent disables. */
  resyncMs?: number
  logger?: Logger
  clock?: Clock
  /** Backoff after a failed list/watch (default 800 ms doubling to 30 s, ±25 % jitter). */
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** A watch that ends sooner than this without any event counts as a failure (default 1 s). */
  minWatchMs?: number
  random?: () => number
}

const RELIST_AFTER_WATCH_FAILURES = 5

export class Informer<T extends KubeObject = KubeObject> {
  readonly name: string
  private readonly labelSelector: string | undefined
  private readonly resyncMs: number
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly store = new Map<string, T>()
  private readonly handlers: Array<InformerHandlers<T>> = []
  private readonly reflectors: Array<Reflector<T>>
  private readonly syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  private resyncTimer: TimerHandle | undefined
  private started = false
  private stopped = false

  constructor(options: InformerOptions) {
    this.name = options.name
    this.labelSelector = options.labelSelector || undefined
    if (this.labelSelector) parseLabelSelector(this.labelSelector) // fail fast on a bad selector
    this.resyncMs = options.resyncMs ?? 0
    this.clock = options.clock ?? realClock
    this.logger = (options.logger ?? silentLogger()).child({ informer: options.name })
    const namespaces = [...new Set(options.namespaces ?? [])]
    const scopes: Array<string | undefined> = namespaces.length === 0 ? [undefined] : namespaces
    this.reflectors = scopes.map(
      (namespace) =>
        new Reflector<T>({
          namespace,
          source: options.source,
          scope: { ...(namespace === undefined ? {} : { namespace }), ...(this.labelSelector ? { labelSelector: this.labelSelector } : {}) },
          logger: this.logger,
          clock: this.clock,
          backoffInitialMs: options.backoffInitialMs ?? 800,
          backoffMaxMs: options.backoffMaxMs ?? 30_000,
          minWatchMs: options.minWatchMs ?? 1000,
          random: options.random ?? Math.random,
          replace: (items) => this.replace(namespace, items),
          apply: (type, obj) => this.apply(type, obj),
          synced: () => this.reflectorSynced(),
        }),
    )
  }

  /**
   * Registers handlers and returns a function that removes them. Added after objects are cached,
   * the handlers first get onAdd for each of them (like client-go), so nothing is missed.
   */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.push(handlers)
    for (const obj of this.store.values()) this.call('add', () => handlers.onAdd?.(obj))
    return () => {
      const index = this.handlers.indexOf(handlers)
      if (index >= 0) this.handlers.splice(index, 1)
    }
  }

  start(): void {
    if (this.started || this.stopped) return
    this.started = true
    this.logger.debug({ namespaces: this.reflectors.map((r) => r.namespace ?? '*'), labelSelector: this.labelSelector }, 'informer starting')
    for (const reflector of this.reflectors) reflector.start()
    this.scheduleResync()
  }

  /** Stops every list/watch loop; resolves when they have returned. Pending waitForSync() calls reject. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer)
    this.resyncTimer = undefined
    await Promise.all(this.reflectors.map((r) => r.stop()))
    for (const waiter of this.syncWaiters.splice(0)) waiter.reject(new Error(`informer ${this.name} stopped before it synced`))
  }

  /** True once every namespace's first list is in the cache. */
  hasSynced(): boolean {
    return this.reflectors.every((r) => r.hasSynced)
  }

  /** Resolves once hasSynced(); rejects if `signal` aborts or the informer is stopped first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced()) return Promise.resolve()
    if (this.stopped) return Promise.reject(new Error(`informer ${this.name} stopped before it synced`))
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (err: Error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      const onAbort = (): void => {
        const index = this.syncWaiters.indexOf(waiter)
        if (index >= 0) this.syncWaiters.splice(index, 1)
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`waiting for informer ${this.name} to sync was aborted`))
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      this.syncWaiters.push(waiter)
    })
  }

  /** The cached object; namespace '' for cluster-scoped ones. */
  get(namespace: string, name: string): T | undefined {
    return this.store.get(storeKey(namespace, name))
  }

  /** Cached objects, optionally of one namespace and matching a label selector (string form). */
  list(namespace?: string, labelSelector?: string): T[] {
    const requirements: Requirement[] | undefined = labelSelector ? parseLabelSelector(labelSelector) : undefined
    const out: T[] = []
    for (const obj of this.store.values()) {
      if (namespace !== undefined && (obj.metadata?.namespace ?? '') !== namespace) continue
      if (requirements && !matchesRequirements(obj.metadata?.labels, requirements)) continue
      out.push(obj)
    }
    return out
  }

  size(): number {
    return this.store.size
  }

  /** A fresh list for `namespace` (undefined = all): store it and emit the differences. */
  private replace(namespace: string | undefined, items: readonly T[]): void {
    const seen = new Set<string>()
    let added = 0
    let updated = 0
    let deleted = 0
    for (const item of items) {
      const key = objectStoreKey(item)
      seen.add(key)
      const old = this.store.get(key)
      this.store.set(key, item)
      if (!old) {
        added++
        this.emitAdd(item)
      } else if (resourceVersionOf(old) !== resourceVersionOf(item) || resourceVersionOf(item) === undefined) {
        updated++
        this.emitUpdate(old, item)
      }
    }
    for (const [key, old] of this.store) {
      if (seen.has(key)) continue
      if (namespace !== undefined && (old.metadata?.namespace ?? '') !== namespace) continue
      this.store.delete(key)
      deleted++
      this.emitDelete(old)
    }
    this.logger.debug({ namespace, items: items.length, added, updated, deleted }, 'list applied to cache')
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const key = objectStoreKey(obj)
    const old = this.store.get(key)
    if (type === 'DELETED') {
      this.store.delete(key)
      this.emitDelete(obj)
      return
    }
    this.store.set(key, obj)
    if (old) this.emitUpdate(old, obj)
    else this.emitAdd(obj)
  }

  private reflectorSynced(): void {
    if (!this.hasSynced()) return
    for (const waiter of this.syncWaiters.splice(0)) waiter.resolve()
  }

  private scheduleResync(): void {
    if (!(this.resyncMs > 0) || this.stopped) return
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined
      if (this.stopped) return
      if (this.hasSynced()) {
        this.logger.debug({ objects: this.store.size }, 'resync')
        for (const obj of [...this.store.values()]) this.emitUpdate(obj, obj)
      }
      this.scheduleResync()
    }, this.resyncMs)
  }

  private emitAdd(obj: T): void {
    for (const h of [...this.handlers]) this.call('add', () => h.onAdd?.(obj))
  }

  private emitUpdate(oldObj: T, newObj: T): void {
    for (const h of [...this.handlers]) this.call('update', () => h.onUpdate?.(oldObj, newObj))
  }

  private emitDelete(obj: T): void {
    for (const h of [...this.handlers]) this.call('delete', () => h.onDelete?.(obj))
  }

  private call(event: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.logger.error({ err, event }, 'informer handler threw')
    }
  }
}

interface ReflectorContext<T extends KubeObject> {
  namespace: string | undefined
  source: ListWatchSource
  scope: ListWatchScope
  logger: Logger
  clock: Clock
  backoffInitialMs: number
  backoffMaxMs: number
  minWatchMs: number
  random: () => number
  replace: (items: readonly T[]) => void
  apply: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void
  synced: () => void
}

/** One list+watch loop (client-go's Reflector) for one namespace, or all when `namespace` is undefined. */
class Reflector<T extends KubeObject> {
  readonly namespace: string | undefined
  hasSynced = false
  resourceVersion = ''
  /** Events (including bookmarks) received by the current watch. */
  private watchEvents = 0
  private readonly ctx: ReflectorContext<T>
  private readonly stopController = new AbortController()
  private stream: WatchStream | undefined
  private running: Promise<void> | undefined

  constructor(ctx: ReflectorContext<T>) {
    this.ctx = ctx
    this.namespace = ctx.namespace
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

  private async run(): Promise<void> {
    const { logger, clock } = this.ctx
    let failures = 0
    let watchFailures = 0
    while (!this.stopped) {
      let watchStartedAt: number | undefined
      try {
        if (this.resourceVersion === '') await this.relist()
        if (this.stopped) return
        watchStartedAt = clock.now()
        this.watchEvents = 0
        const gone = await this.watchOnce()
        if (this.stopped) return
        if (gone) {
          logger.info({ namespace: this.namespace, resourceVersion: this.resourceVersion }, 'resourceVersion expired (410 Gone); relisting')
          this.resourceVersion = ''
          continue
        }
        if (this.watchEvents === 0 && clock.now() - watchStartedAt < this.ctx.minWatchMs) {
          throw new Error('watch closed immediately without events')
        }
        failures = 0
        watchFailures = 0
      } catch (err) {
        if (this.stopped) return
        // A watch that was healthy for a while before failing starts the backoff afresh.
        const healthy = watchStartedAt !== undefined && (this.watchEvents > 0 || clock.now() - watchStartedAt >= this.ctx.minWatchMs)
        if (healthy) {
          failures = 0
          watchFailures = 0
        }
        failures++
        if (apiStatusCode(err) === 410) {
          this.resourceVersion = ''
        } else if (this.resourceVersion !== '' && ++watchFailures >= RELIST_AFTER_WATCH_FAILURES) {
          // A watch that keeps failing from the same resourceVersion: start over from a fresh list.
          this.resourceVersion = ''
          watchFailures = 0
        }
        const base = Math.min(this.ctx.backoffMaxMs, this.ctx.backoffInitialMs * 2 ** (failures - 1))
        const delayMs = Math.round(base * (0.75 + this.ctx.random() * 0.5))
        logger.warn({ err, namespace: this.namespace, failures, delayMs }, 'list/watch failed; retrying')
        await sleep(clock, delayMs, this.stopController.signal)
      }
    }
  }

  private async relist(): Promise<void> {
    const result = await this.ctx.source.list(this.ctx.scope)
    if (this.stopped) return
    this.ctx.replace(result.items as T[])
    this.resourceVersion = result.resourceVersion
    if (!this.hasSynced) {
      this.hasSynced = true
      this.ctx.logger.info({ namespace: this.namespace, objects: result.items.length }, 'informer synced')
      this.ctx.synced()
    }
  }

  /** One watch from the current resourceVersion; resolves when it ends, true on 410 Gone. */
  private async watchOnce(): Promise<boolean> {
    let gone = false
    let failure: WatchError | undefined
    let stream: WatchStream | undefined
    let abortRequested = false
    const abort = (): void => {
      abortRequested = true
      stream?.abort()
    }
    stream = this.ctx.source.watch({ ...this.ctx.scope, resourceVersion: this.resourceVersion }, (event) => {
      if (this.stopped || gone || failure) return
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED': {
          if (!isKubeObject(event.object)) return
          const rv = resourceVersionOf(event.object)
          if (rv) this.resourceVersion = rv
          this.watchEvents++
          this.ctx.apply(event.type, event.object as T)
          return
        }
        case 'BOOKMARK': {
          const rv = isJsonObject(event.object) ? resourceVersionOf(event.object as KubeObject) : undefined
          if (rv) this.resourceVersion = rv
          this.watchEvents++
          return
        }
        case 'ERROR': {
          const status = isJsonObject(event.object) ? event.object : {}
          const code = typeof status.code === 'number' ? status.code : undefined
          if (code === 410) gone = true
          else failure = new WatchError(`watch error: ${typeof status.message === 'string' ? status.message : 'unknown'}`, code)
          abort()
          return
        }
        default:
          return
      }
    })
    this.stream = stream
    if (abortRequested || this.stopped) stream.abort()
    try {
      await stream.done
    } catch (err) {
      if (!gone && !failure && !this.stopped) {
        if (apiStatusCode(err) === 410) gone = true
        else throw err
      }
    } finally {
      this.stream = undefined
    }
    if (failure) throw failure
    return gone
  }
}

function storeKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

function objectStoreKey(obj: KubeObject): string {
  return storeKey(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '')
}

function resourceVersionOf(obj: KubeObject): string | undefined {
  const rv = obj.metadata?.resourceVersion
  return typeof rv === 'string' && rv !== '' ? rv : undefined
}

// ---------------------------------------------------------------------------------------------
// Convenience

export interface KubeInformerOptions extends Omit<InformerOptions, 'source' | 'name'> {
  name?: string
  sourceOptions?: KubeListWatchSourceOptions
}

/**
 * An informer on a real cluster. For run Jobs use two, one per label of JOB_RUN_LABELS, each with
 * the "exists" selector (a selector cannot OR two labels).
 */
export function createKubeInformer<T extends KubeObject = KubeObject>(
  kubeConfig: KubeConfig,
  resource: ResourceRef,
  options: KubeInformerOptions = {},
): Informer<T> {
  const { sourceOptions, name, ...rest } = options
  return new Informer<T>({
    ...rest,
    name: name ?? (rest.labelSelector ? `${resource.plural}(${rest.labelSelector})` : resource.plural),
    source: kubeListWatchSource(kubeConfig, resource, sourceOptions),
  })
}
