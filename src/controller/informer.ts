/**
 * Shared informer: an in-memory cache of one resource (store.ts) kept current by list + watch
 * (one reflector.ts loop per namespace, or one cluster-wide), with onAdd/onUpdate/onDelete handlers
 * that callers map to queue keys. client-go's SharedInformer, simplified:
 *
 * - hasSynced()/waitForSync(): every namespace's first list is in the cache;
 * - every `resyncMs` each cached object is re-emitted as update(obj, obj);
 * - handlers added late first get onAdd for every cached object, so nothing is missed;
 * - `transform` (controller-runtime's cache.TransformFunc) shrinks each object on its way into
 *   the cache — what the handlers and every reader see — so the cache holds only what the
 *   reconciler reads (src/reconcile/cache-transforms.ts);
 * - runguard_informer_relists_total{resource,reason} counts every full list (reflector.ts).
 *
 * Work over the whole cache — a resync, the changes of a relist, the replay for late handlers —
 * is handed to the handlers in time slices (time-slice.ts), so 10k cached objects never hold the
 * event loop for more than a slice; a short list is still handled synchronously. Changes reach
 * the handlers in the order they happened: watch events synchronously, or behind a list's changes
 * while those are still being handed out. Handlers must not mutate the objects; a throwing handler
 * is logged and does not affect the informer.
 */
import type { KubeObject } from '../kube/objects.ts'
import type { ResourceRef } from '../kube/resources.ts'
import type { Logger } from '../log.ts'
import { silentLogger } from '../log.ts'
import { realClock, type Clock, type TimerHandle } from './clock.ts'
import { transformedItems, type ListWatchOptions, type ListWatchSource, type ListWatchSources } from './list-watch.ts'
import type { InformerMetrics } from './metrics.ts'
import { Reflector, type RelistReason } from './reflector.ts'
import { parseLabelSelector } from './selector.ts'
import { Store, type Lister, type StoreChange } from './store.ts'
import { defaultTimeSlice, forEachInSlices, type TimeSlice } from './time-slice.ts'

/**
 * Shrinks an object on its way into the cache. Receives a freshly decoded object nobody else
 * holds; returns what the cache keeps (a new, smaller object, or the same one). Must keep
 * metadata.namespace, name and resourceVersion, and every label a selector reads.
 */
export type CacheTransform<T extends KubeObject = KubeObject> = (obj: KubeObject) => T

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  onAdd?: (obj: T) => void
  onUpdate?: (oldObj: T, newObj: T) => void
  /** Receives the last state known (the DELETED event's object, or the cached one after a relist). */
  onDelete?: (obj: T) => void
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
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
  /** Applied to every listed object and every watch event's object before the cache sees it. */
  transform?: CacheTransform<T>
  /** runguard_informer_relists_total, labelled resource=<name>. */
  metrics?: InformerMetrics
  /** Slices for resync, relist changes and handler replay; default the process-wide slice. */
  timeSlice?: TimeSlice
}

export class Informer<T extends KubeObject = KubeObject> implements Lister<T> {
  readonly name: string
  /** The selector every list and watch of this informer carries, if any. */
  readonly labelSelector: string | undefined
  private readonly resyncMs: number
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly store = new Store<T>()
  private readonly handlers: Array<InformerHandlers<T>> = []
  private readonly reflectors: Array<Reflector<T>>
  private readonly source: ListWatchSource
  private readonly transform: CacheTransform<T> | undefined
  private readonly syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  private resyncTimer: TimerHandle | undefined
  /** Changes still to be handed to the handlers, in order, while a list's changes are sliced. */
  private backlog: Array<StoreChange<T>> | undefined
  private readonly timeSlice: TimeSlice
  private readonly metrics: InformerMetrics | undefined
  private started = false
  private stopped = false

  constructor(options: InformerOptions<T>) {
    this.name = options.name
    this.labelSelector = options.labelSelector || undefined
    if (this.labelSelector) parseLabelSelector(this.labelSelector) // fail fast on a bad selector
    this.resyncMs = options.resyncMs ?? 0
    this.clock = options.clock ?? realClock
    this.logger = (options.logger ?? silentLogger()).child({ informer: options.name })
    this.timeSlice = options.timeSlice ?? defaultTimeSlice
    this.metrics = options.metrics
    for (const reason of ['initial', 'expired', 'watch_failures', 'list_failed'] as const) this.metrics?.informerRelists.inc({ resource: this.name, reason }, 0)
    this.source = options.source
    this.transform = options.transform
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
          ...(options.transform ? { transform: options.transform } : {}),
          replace: (items) => this.replace(namespace, items),
          apply: (type, obj) => this.deliverEvent(this.store.apply(type, obj)),
          synced: () => this.reflectorSynced(),
          relisting: (reason: RelistReason) => this.metrics?.informerRelists.inc({ resource: this.name, reason }),
        }),
    )
  }

  /**
   * Registers handlers and returns a function that removes them. Added after objects are cached,
   * the handlers first get onAdd for each of them (like client-go), so nothing is missed.
   */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.push(handlers)
    const removed = (): boolean => this.stopped || !this.handlers.includes(handlers)
    // Objects deleted before their turn are skipped; ones added meanwhile reach the handlers as events.
    void forEachInSlices(this.store.keys(), this.timeSlice, (key) => {
      const obj = this.store.getByKey(key)
      if (obj) this.call('add', () => handlers.onAdd?.(obj))
    }, removed)
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

  /**
   * Every namespace's cache is current (Reflector.current): synced, and no watch failed or
   * expired since the last list or working watch — nothing is missing beyond ordinary watch lag.
   */
  isCurrent(): boolean {
    return this.reflectors.every((r) => r.current)
  }

  /**
   * What the cache would hold for `namespace` and `labelSelector`, read from the API server now:
   * a list through the informer's own source, within its own label selector and transformed like
   * the cache. For a caller that must not act on a cache that is not current (isCurrent()).
   */
  async listLive(namespace: string, labelSelector?: string): Promise<T[]> {
    if (!this.reflectors.some((r) => r.namespace === undefined || r.namespace === namespace)) return []
    const selector = [this.labelSelector, labelSelector].filter((s) => s !== undefined && s !== '').join(',')
    const result = await this.source.list({ namespace, ...(selector ? { labelSelector: selector } : {}) }, this.transform)
    return transformedItems(result, this.transform)
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

  get(namespace: string, name: string): T | undefined {
    return this.store.get(namespace, name)
  }

  list(namespace?: string, labelSelector?: string): T[] {
    return this.store.list(namespace, labelSelector)
  }

  size(): number {
    return this.store.size()
  }

  /** A fresh list for `namespace` (undefined = all): store it and emit the differences. */
  private replace(namespace: string | undefined, items: readonly T[]): void {
    const changes = this.store.replace(namespace, items)
    this.deliver(changes)
    const count = (type: StoreChange<T>['type']) => changes.filter((c) => c.type === type).length
    this.logger.debug({ namespace, items: items.length, added: count('add'), updated: count('update'), deleted: count('delete') }, 'list applied to cache')
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
      if (!this.hasSynced()) return this.scheduleResync()
      this.logger.debug({ objects: this.store.size() }, 'resync')
      // The current version of each object at its turn; the next period counts from the end of this one.
      void forEachInSlices(
        this.store.keys(),
        this.timeSlice,
        (key) => {
          const obj = this.store.getByKey(key)
          if (obj) this.emit({ type: 'update', oldObj: obj, newObj: obj })
        },
        () => this.stopped,
      ).then(() => this.scheduleResync())
    }, this.resyncMs)
  }

  /**
   * Hands a list's changes to the handlers in slices. Watch events that arrive meanwhile queue
   * behind them (`backlog`), so handlers hear of every object in the order it changed — never an
   * older state after a newer one.
   */
  private deliver(changes: Array<StoreChange<T>>): void {
    if (this.backlog) {
      this.backlog.push(...changes)
      return
    }
    const backlog = [...changes]
    this.backlog = backlog
    // The array iterator sees what is pushed while it runs; the last item and the reset happen in one microtask checkpoint.
    void forEachInSlices(backlog, this.timeSlice, (change) => this.emit(change), () => this.stopped).then(() => {
      if (this.backlog === backlog) this.backlog = undefined
    })
  }

  /** One watch event: to the handlers now, or behind a list's changes still being handed out. */
  private deliverEvent(change: StoreChange<T>): void {
    if (this.backlog) this.backlog.push(change)
    else this.emit(change)
  }

  private emit(change: StoreChange<T>): void {
    for (const h of [...this.handlers]) {
      switch (change.type) {
        case 'add':
          this.call('add', () => h.onAdd?.(change.obj))
          break
        case 'update':
          this.call('update', () => h.onUpdate?.(change.oldObj, change.newObj))
          break
        case 'delete':
          this.call('delete', () => h.onDelete?.(change.obj))
          break
      }
    }
  }

  private call(event: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.logger.error({ err, event }, 'informer handler threw')
    }
  }
}

export interface KubeInformerOptions<T extends KubeObject = KubeObject> extends Omit<InformerOptions<T>, 'source' | 'name'> {
  name?: string
  /** How the watches are made (server-side timeout); see list-watch.ts. */
  watch?: ListWatchOptions
}

/**
 * An informer on a real cluster, its list+watch from `sources` (restListWatchSources() in
 * list-watch.ts; client-node's on the fallback). A selector cannot OR two labels: for objects
 * carrying either of two labels, use two informers, one per label with the "exists" selector.
 */
export function createKubeInformer<T extends KubeObject = KubeObject>(
  sources: ListWatchSources,
  resource: ResourceRef,
  options: KubeInformerOptions<T> = {},
): Informer<T> {
  const { name, watch, ...rest } = options
  return new Informer<T>({
    ...rest,
    name: name ?? (rest.labelSelector ? `${resource.plural}(${rest.labelSelector})` : resource.plural),
    source: sources(resource, watch),
  })
}
