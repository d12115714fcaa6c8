/**
 * One list+watch loop (client-go's Reflector), for one namespace or for all, feeding a cache:
 *
 * - list (paginated) → watch from the list's resourceVersion, with bookmarks; each event moves the
 *   resourceVersion on, and so does each BOOKMARK (the API server sends one about every minute
 *   and just before it ends a watch), so a quiet watch resumes from a recent resourceVersion
 *   instead of one compacted away (which would mean 410 and a full relist);
 * - when a watch ends it resumes from the last resourceVersion;
 * - `410 Gone` (HTTP status or an ERROR event with code 410) → relist; the cache diffs the new list
 *   against what it holds (`backoffRepeatedGone`: a 410 again right after that relist backs off first);
 * - other failures → exponential backoff with jitter (800 ms … 30 s by default), keeping the
 *   resourceVersion; after 5 failed watches in a row, relist;
 * - a watch that ends at once without any event counts as a failure;
 * - every list is reported first (`relisting(reason)`), for runguard_informer_relists_total;
 * - `current` says whether the cache may be missing changes beyond ordinary watch lag: false
 *   from a failed watch (or 410) until a list or a watch from the kept resourceVersion works
 *   again. A cancel waits for it before it calls a run's Jobs all gone (src/reconcile/cancel.ts).
 */
import { KubeApiError, statusOf } from '../kube/errors.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import type { Logger } from '../log.ts'
import { sleep, type Clock } from './clock.ts'
import { isKubeObject, transformedItems, type ListWatchScope, type ListWatchSource, type WatchStream } from './list-watch.ts'
import { resourceVersionOf } from './store.ts'

const RELIST_AFTER_WATCH_FAILURES = 5

/** Why a list is made: the first one, 410 Gone, a watch that kept failing, or a failed list before. */
export type RelistReason = 'initial' | 'expired' | 'watch_failures' | 'list_failed'

export interface ReflectorOptions<T extends KubeObject> {
  namespace: string | undefined
  source: ListWatchSource
  scope: ListWatchScope
  logger: Logger
  clock: Clock
  backoffInitialMs: number
  backoffMaxMs: number
  minWatchMs: number
  random: () => number
  /** A fresh list arrived: it replaces what the cache holds for this namespace. */
  replace: (items: readonly T[]) => void
  /** One watch event. */
  apply: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void
  /** The first list is in. */
  synced: () => void
  /** A list is about to be made. */
  relisting?: (reason: RelistReason) => void
  /** Applied to every listed object (by the source, page by page, when it can) and every watch event's object. */
  transform?: (obj: KubeObject) => T
  /**
   * A watch that answers 410 Gone again right after the relist the last 410 made, before any
   * event, is a failure (backoff) instead of one more immediate relist: a server that expires
   * every fresh list's resourceVersion makes no hot loop. Default false: every 410 relists at once.
   */
  backoffRepeatedGone?: boolean
}

/** One list+watch loop (client-go's Reflector) for one namespace, or all when `namespace` is undefined. */
export class Reflector<T extends KubeObject> {
  readonly namespace: string | undefined
  hasSynced = false
  resourceVersion = ''
  /**
   * The cache holds every change up to its resourceVersion and a watch is delivering the rest:
   * set by a successful list, and by a watch that delivered an event or ended normally; cleared
   * when a watch or list fails, or the resourceVersion expired.
   */
  current = false
  /** Bookmarks received, over all watches. */
  bookmarks = 0
  /** Watches started, over all. */
  watches = 0
  /** Lists and watches that failed, over all. */
  failures = 0
  /** Why the next list (when resourceVersion is '') is made. */
  private listReason: RelistReason = 'initial'
  /** Events (including bookmarks) received by the current watch. */
  private watchEvents = 0
  private readonly ctx: ReflectorOptions<T>
  private readonly stopController = new AbortController()
  private stream: WatchStream | undefined
  private running: Promise<void> | undefined

  constructor(ctx: ReflectorOptions<T>) {
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
    /** 410s in a row with no event between them; a watch that ends normally starts the count over. */
    let goneInARow = 0
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
          this.current = false
          goneInARow = this.watchEvents > 0 ? 1 : goneInARow + 1
          // Thrown before the resourceVersion is dropped, so the failure relists as 'expired'.
          if (this.ctx.backoffRepeatedGone && goneInARow > 1) throw new KubeApiError('watch answered 410 Gone again right after a relist', { statusCode: 410 })
          logger.info({ namespace: this.namespace, resourceVersion: this.resourceVersion }, 'resourceVersion expired (410 Gone); relisting')
          this.resourceVersion = ''
          this.listReason = 'expired'
          continue
        }
        if (this.watchEvents === 0 && clock.now() - watchStartedAt < this.ctx.minWatchMs) {
          throw new Error('watch closed immediately without events')
        }
        failures = 0
        watchFailures = 0
        goneInARow = 0
        this.current = true
      } catch (err) {
        if (this.stopped) return
        this.failures++
        this.current = false
        // A watch that was healthy for a while before failing starts the backoff afresh.
        const healthy = watchStartedAt !== undefined && (this.watchEvents > 0 || clock.now() - watchStartedAt >= this.ctx.minWatchMs)
        if (healthy) {
          failures = 0
          watchFailures = 0
        }
        failures++
        if (this.resourceVersion === '') {
          // The list itself failed; the first list stays 'initial' until it succeeds.
          if (this.hasSynced) this.listReason = 'list_failed'
        } else if (statusOf(err) === 410) {
          this.resourceVersion = ''
          this.listReason = 'expired'
        } else if (++watchFailures >= RELIST_AFTER_WATCH_FAILURES) {
          // A watch that keeps failing from the same resourceVersion: start over from a fresh list.
          this.resourceVersion = ''
          this.listReason = 'watch_failures'
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
    this.ctx.relisting?.(this.listReason)
    const { transform } = this.ctx
    const result = await this.ctx.source.list(this.ctx.scope, transform)
    if (this.stopped) return
    this.ctx.replace(transformedItems(result, transform))
    this.resourceVersion = result.resourceVersion
    this.current = true
    if (!this.hasSynced) {
      this.hasSynced = true
      this.ctx.logger.info({ namespace: this.namespace, objects: result.items.length }, 'informer synced')
      this.ctx.synced()
    }
  }

  /** One watch from the current resourceVersion; resolves when it ends, true on 410 Gone. */
  private async watchOnce(): Promise<boolean> {
    let gone = false
    let failure: KubeApiError | undefined
    let stream: WatchStream | undefined
    let abortRequested = false
    this.watches++
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
          this.current = true
          this.ctx.apply(event.type, this.ctx.transform ? this.ctx.transform(event.object) : (event.object as T))
          return
        }
        case 'BOOKMARK': {
          const rv = isJsonObject(event.object) ? resourceVersionOf(event.object as KubeObject) : undefined
          if (rv) this.resourceVersion = rv
          this.bookmarks++
          this.watchEvents++
          return
        }
        case 'ERROR': {
          const status = isJsonObject(event.object) ? event.object : {}
          const code = typeof status.code === 'number' ? status.code : undefined
          if (code === 410) gone = true
          else failure = new KubeApiError(`watch error: ${typeof status.message === 'string' ? status.message : 'unknown'}`, { statusCode: code })
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
        if (statusOf(err) === 410) gone = true
        else throw err
      }
    } finally {
      this.stream = undefined
    }
    if (failure) throw failure
    return gone
  }
}
