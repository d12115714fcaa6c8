/**
 * A rate-limited work queue with client-go's semantics (k8s.io/client-go/util/workqueue), keyed by
 * string ("kind/namespace/name"):
 *
 * - de-duplicating: a key queued twice is handed out once;
 * - never two workers on one key: a key added while a worker holds it is marked dirty and handed
 *   out again only after that worker calls done(key);
 * - addAfter(key, ms): delayed add; if the key is already waiting, the earlier time wins;
 * - addRateLimited(key): addAfter with the per-key backoff of a RateLimiter (rate-limiter.ts;
 *   default 5 ms · 2^n capped at 1000 s); forget(key) resets it;
 * - shutDown(): stop at once — queued keys are dropped, get() returns undefined;
 *   shutDownWithDrain(): stop taking adds, hand out what is queued, resolve once every handed-out
 *   key is done().
 *
 * get() yields to the event loop once the process's time slice is used up (time-slice.ts): a
 * backlog of keys whose reconciles are served from the cache resolves without any I/O, and would
 * otherwise run as one macrotask however long it is — the event-loop stall of issue 13.
 *
 * Metrics (label name=<queue name>), client-go's workqueue set: workqueue_depth (keys waiting to
 * be handed out), workqueue_adds_total (adds that were not already pending),
 * workqueue_retries_total (addRateLimited calls), workqueue_queue_duration_seconds (add → get),
 * workqueue_work_duration_seconds (get → done), and, read at each scrape,
 * workqueue_unfinished_work_seconds (time spent so far by the keys being processed) and
 * workqueue_longest_running_processor_seconds (the longest of them).
 */
import { realClock, type Clock, type TimerHandle } from './clock.ts'
import type { InFlightWork, WorkQueueMetrics } from './metrics.ts'
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts'
import { defaultTimeSlice, type TimeSlice } from './time-slice.ts'

export interface WorkQueueOptions {
  /** The `name` label of the workqueue_* metrics. */
  name: string
  metrics?: WorkQueueMetrics
  clock?: Clock
  /** Defaults to defaultControllerRateLimiter: per-key backoff (baseDelayMs, maxDelayMs) and a shared budget. */
  rateLimiter?: RateLimiter
  baseDelayMs?: number
  maxDelayMs?: number
  /** When get() yields to the event loop; default the process-wide slice. */
  timeSlice?: TimeSlice
}

interface Waiting {
  readyAt: number
  handle: TimerHandle
}

export class WorkQueue implements InFlightWork {
  readonly name: string
  private readonly metrics: WorkQueueMetrics | undefined
  private readonly clock: Clock
  private readonly rateLimiter: RateLimiter
  /** FIFO of keys ready to be handed out; `head` avoids O(n) shifts. */
  private items: string[] = []
  private head = 0
  /** Keys that need processing (queued, or re-added while processing), with the time they were added. */
  private readonly dirty = new Map<string, number>()
  /** Keys a worker holds, with the time each was handed out. */
  private readonly processing = new Map<string, number>()
  /** Keys waiting for addAfter. */
  private readonly waiting = new Map<string, Waiting>()
  private readonly getters: Array<(key: string | undefined) => void> = []
  private shuttingDown = false
  private draining = false
  private drained: (() => void) | undefined
  private drainPromise: Promise<void> | undefined
  private readonly timeSlice: TimeSlice

  constructor(options: WorkQueueOptions) {
    this.name = options.name
    this.metrics = options.metrics
    this.clock = options.clock ?? realClock
    this.timeSlice = options.timeSlice ?? defaultTimeSlice
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter(this.clock, options.baseDelayMs, options.maxDelayMs)
    // Series exist from the start, so dashboards show 0 rather than nothing.
    this.metrics?.workqueueDepth.set({ name: this.name }, 0)
    this.metrics?.workqueueAdds.inc({ name: this.name }, 0)
    this.metrics?.workqueueRetries.inc({ name: this.name }, 0)
    this.metrics?.workqueueInFlight.add(this)
  }

  /** Queue `key` unless it is already pending; ignored after shut-down. */
  add(key: string): void {
    if (this.shuttingDown) return
    if (this.dirty.has(key)) return
    this.dirty.set(key, this.clock.now())
    this.metrics?.workqueueAdds.inc({ name: this.name })
    this.updateDepth()
    // A key being processed is handed out again by done().
    if (this.processing.has(key)) return
    this.items.push(key)
    this.dispatch()
  }

  /** Queue `key` after `ms`; if it is already waiting, the earlier time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return
    if (!(ms > 0)) {
      this.add(key)
      return
    }
    const readyAt = this.clock.now() + ms
    const existing = this.waiting.get(key)
    if (existing) {
      if (existing.readyAt <= readyAt) return
      this.clock.clearTimeout(existing.handle)
    }
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key)
      this.add(key)
    }, ms)
    this.waiting.set(key, { readyAt, handle })
  }

  /** Queue `key` after its backoff delay (which grows with each call until forget). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return
    this.metrics?.workqueueRetries.inc({ name: this.name })
    this.addAfter(key, this.rateLimiter.when(key))
  }

  /** Reset `key`'s backoff. Does not cancel a pending add. */
  forget(key: string): void {
    this.rateLimiter.forget(key)
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key)
  }

  /**
   * The next key to process, exclusively: no other get() returns it until done(key).
   * Resolves undefined once the queue is shut down (after a drain: once nothing is left).
   * Once the time slice is used up, the key is taken only on the next turn of the event loop.
   */
  get(): Promise<string | undefined> {
    if (this.timeSlice.expired()) return new Promise((resolve) => setImmediate(() => resolve(this.getNow())))
    return this.getNow()
  }

  private getNow(): Promise<string | undefined> {
    const key = this.take()
    if (key !== undefined) return Promise.resolve(key)
    if (this.shuttingDown) return Promise.resolve(undefined)
    return new Promise((resolve) => this.getters.push(resolve))
  }

  /** The worker has finished `key`; if it was re-added meanwhile it is queued again. */
  done(key: string): void {
    const startedAt = this.processing.get(key)
    if (startedAt === undefined) return
    this.processing.delete(key)
    this.metrics?.workqueueWorkDuration.observe({ name: this.name }, Math.max(0, this.clock.now() - startedAt) / 1000)
    if (this.dirty.has(key)) {
      this.items.push(key)
      this.dispatch()
    }
    this.checkDrained()
  }

  /** Keys waiting to be handed out (including ones re-added while being processed). */
  len(): number {
    return this.dirty.size
  }

  /** Keys waiting for an addAfter/addRateLimited delay. */
  waitingCount(): number {
    return this.waiting.size
  }

  processingCount(): number {
    return this.processing.size
  }

  /** Seconds the keys being processed have spent so far, summed (client-go's unfinished work). */
  unfinishedWorkSeconds(): number {
    const now = this.clock.now()
    let total = 0
    for (const startedAt of this.processing.values()) total += Math.max(0, now - startedAt)
    return total / 1000
  }

  /** Seconds the longest-running key being processed has spent so far. */
  longestRunningProcessorSeconds(): number {
    const now = this.clock.now()
    let longest = 0
    for (const startedAt of this.processing.values()) longest = Math.max(longest, now - startedAt)
    return longest / 1000
  }

  isShuttingDown(): boolean {
    return this.shuttingDown
  }

  /** Stop now: ignore adds, drop queued and delayed keys, release every get(). Keys being processed finish on their own. */
  shutDown(): void {
    this.shuttingDown = true
    this.cancelWaiting()
    this.items = []
    this.head = 0
    this.dirty.clear()
    this.updateDepth()
    this.releaseGetters()
    this.checkDrained()
  }

  /**
   * Ignore adds and delayed keys, keep handing out what is queued, and resolve once the queue is
   * empty and every key handed out is done().
   */
  shutDownWithDrain(): Promise<void> {
    this.shuttingDown = true
    this.draining = true
    this.cancelWaiting()
    this.drainPromise ??= new Promise<void>((resolve) => {
      this.drained = resolve
    })
    if (this.queuedCount() === 0) this.releaseGetters()
    this.checkDrained()
    return this.drainPromise
  }

  private queuedCount(): number {
    return this.items.length - this.head
  }

  private take(): string | undefined {
    if (this.queuedCount() === 0) return undefined
    const key = this.items[this.head]!
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    const addedAt = this.dirty.get(key)
    this.dirty.delete(key)
    const now = this.clock.now()
    this.processing.set(key, now)
    this.updateDepth()
    if (addedAt !== undefined) {
      this.metrics?.workqueueQueueDuration.observe({ name: this.name }, Math.max(0, now - addedAt) / 1000)
    }
    if (this.draining && this.queuedCount() === 0) this.releaseGetters()
    return key
  }

  private dispatch(): void {
    while (this.getters.length > 0 && this.queuedCount() > 0) {
      const getter = this.getters.shift()!
      getter(this.take())
    }
  }

  private releaseGetters(): void {
    for (const getter of this.getters.splice(0)) getter(undefined)
  }

  private cancelWaiting(): void {
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle)
    this.waiting.clear()
  }

  private checkDrained(): void {
    if (!this.drained) return
    if (this.queuedCount() === 0 && this.processing.size === 0) {
      this.releaseGetters()
      const resolve = this.drained
      this.drained = undefined
      resolve()
    }
  }

  private updateDepth(): void {
    this.metrics?.workqueueDepth.set({ name: this.name }, this.dirty.size)
  }
}
