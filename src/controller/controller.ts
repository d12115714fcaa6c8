/**
 * The controller: one work queue, N workers, one reconciler (controller-runtime's
 * pkg/internal/controller). The reconciler says what it came to (reconcile.ts); one switch here,
 * `apply`, alone decides what the queue does with the key, and counts each branch in
 * controller_runtime_reconcile_total{controller,result}, whose series all start at zero:
 *
 *   done                     success          forget (the backoff is reset)
 *   requeueAfter(ms)         requeue_after    forget, addAfter(ms)
 *   conflict                 conflict         add at once (the reconciler reads afresh); after
 *                                             `conflictRetries` in a row, addRateLimited instead
 *   failed, or a throw       error            addRateLimited (never dropped), and addAfter(deadline)
 *                                             when the failure carries one
 *   TerminalError thrown     terminal_error   forget, no retry
 *
 * The queue guarantees that no two workers ever hold the same key.
 */
import type { Logger } from '../log.ts'
import { silentLogger } from '../log.ts'
import { realClock, type Clock } from './clock.ts'
import type { ControllerMetrics } from './metrics.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { parseRequestKey, requestKey, TerminalError, type ReconcileRequest, type ReconcileResult, type Reconciler } from './reconcile.ts'
import { WorkQueue } from './workqueue.ts'

export const RECONCILE_RESULTS = ['success', 'requeue_after', 'conflict', 'error', 'terminal_error'] as const

/** A conflict is reconciled again at once this many times in a row; then it waits for the backoff. */
export const DEFAULT_CONFLICT_RETRIES = 5

export interface ControllerOptions {
  /** The `controller` metric label, the queue name and the log field. */
  name: string
  reconciler: Reconciler
  /** Workers (config.reconcileConcurrency); at least 1. */
  concurrency: number
  metrics?: ControllerMetrics
  logger?: Logger
  clock?: Clock
  /** Per-key backoff for errors; defaults to 5 ms · 2^n capped at 1000 s. */
  rateLimiter?: RateLimiter
  /** Default DEFAULT_CONFLICT_RETRIES. */
  conflictRetries?: number
}

/** What one reconcile came to, under its metric label; `apply` is the only place that acts on it. */
type Outcome =
  | { result: 'success' }
  | { result: 'requeue_after'; afterMs: number }
  | { result: 'conflict' }
  | { result: 'error'; err: unknown; deadlineMs?: number }
  | { result: 'terminal_error'; err: unknown }

function outcomeOf(result: ReconcileResult): Outcome {
  switch (result.type) {
    case 'done':
      return { result: 'success' }
    case 'requeueAfter':
      return result.afterMs > 0 ? { result: 'requeue_after', afterMs: result.afterMs } : { result: 'success' }
    case 'conflict':
      return { result: 'conflict' }
    case 'failed':
      return result.deadlineMs === undefined ? { result: 'error', err: result.error } : { result: 'error', err: result.error, deadlineMs: result.deadlineMs }
  }
}

export class Controller {
  readonly name: string
  readonly queue: WorkQueue
  readonly concurrency: number
  private readonly reconciler: Reconciler
  private readonly metrics: ControllerMetrics | undefined
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly conflictRetries: number
  /** Conflicts in a row, per key, while they last. */
  private readonly conflicts = new Map<string, number>()
  private workers: Array<Promise<void>> = []
  private active = 0
  private started = false

  constructor(options: ControllerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`controller ${options.name}: concurrency must be a positive integer, got ${options.concurrency}`)
    }
    this.name = options.name
    this.reconciler = options.reconciler
    this.concurrency = options.concurrency
    this.metrics = options.metrics
    this.clock = options.clock ?? realClock
    this.conflictRetries = options.conflictRetries ?? DEFAULT_CONFLICT_RETRIES
    this.logger = (options.logger ?? silentLogger()).child({ controller: options.name })
    this.queue = new WorkQueue({
      name: options.name,
      clock: this.clock,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
    })
    for (const result of RECONCILE_RESULTS) this.metrics?.reconcileTotal.inc({ controller: this.name, result }, 0)
    this.metrics?.reconcileErrors.inc({ controller: this.name }, 0)
    this.metrics?.activeWorkers.set({ controller: this.name }, 0)
  }

  enqueue(request: ReconcileRequest): void {
    this.queue.add(requestKey(request))
  }

  enqueueAfter(request: ReconcileRequest, ms: number): void {
    this.queue.addAfter(requestKey(request), ms)
  }

  /** Starts the workers; idempotent. */
  start(): void {
    if (this.started) return
    this.started = true
    this.logger.info({ workers: this.concurrency }, 'starting workers')
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.worker())
  }

  /**
   * Stops taking work and resolves when every worker has returned. In-flight reconciles always
   * finish; `drain: true` also processes what is already queued (delayed keys are dropped either way).
   */
  async stop(options: { drain?: boolean } = {}): Promise<void> {
    if (options.drain) await this.queue.shutDownWithDrain()
    else this.queue.shutDown()
    await Promise.all(this.workers)
    this.logger.info('workers stopped')
  }

  /** Workers inside the reconciler right now. */
  activeCount(): number {
    return this.active
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get()
      if (key === undefined) return
      try {
        await this.process(key)
      } finally {
        this.queue.done(key)
      }
    }
  }

  private async process(key: string): Promise<void> {
    const request = parseRequestKey(key)
    if (!request) {
      this.apply(key, undefined, { result: 'terminal_error', err: new TerminalError(`malformed queue key "${key}"`) })
      return
    }
    this.active++
    this.metrics?.activeWorkers.set({ controller: this.name }, this.active)
    const started = this.clock.now()
    let outcome: Outcome
    try {
      outcome = outcomeOf(await this.reconciler(request))
    } catch (err) {
      outcome = err instanceof TerminalError ? { result: 'terminal_error', err } : { result: 'error', err }
    } finally {
      this.active--
      this.metrics?.activeWorkers.set({ controller: this.name }, this.active)
      this.metrics?.reconcileTime.observe({ controller: this.name }, Math.max(0, this.clock.now() - started) / 1000)
    }
    this.apply(key, request, outcome)
  }

  /** The one switch from outcome to queue action; every branch is counted. */
  private apply(key: string, request: ReconcileRequest | undefined, outcome: Outcome): void {
    this.metrics?.reconcileTotal.inc({ controller: this.name, result: outcome.result })
    const fields = { key, ...(request ?? {}) }
    if (outcome.result !== 'conflict') this.conflicts.delete(key)
    switch (outcome.result) {
      case 'success':
        this.queue.forget(key)
        return
      case 'requeue_after':
        this.queue.forget(key)
        this.queue.addAfter(key, outcome.afterMs)
        this.logger.debug({ ...fields, requeueAfterMs: outcome.afterMs }, 'reconciled; requeue scheduled')
        return
      case 'conflict': {
        const inARow = (this.conflicts.get(key) ?? 0) + 1
        if (inARow <= this.conflictRetries) {
          this.conflicts.set(key, inARow)
          this.queue.add(key)
          this.logger.debug({ ...fields, conflicts: inARow }, 'write conflict; reconciling again at once')
          return
        }
        this.conflicts.delete(key)
        this.queue.addRateLimited(key)
        this.logger.warn({ ...fields, conflicts: inARow, retries: this.queue.numRequeues(key) }, 'write conflicts keep coming; retrying with backoff')
        return
      }
      case 'terminal_error':
        this.queue.forget(key)
        this.metrics?.reconcileErrors.inc({ controller: this.name })
        this.logger.error({ ...fields, err: outcome.err }, 'reconcile failed with a terminal error; not retrying')
        return
      case 'error':
        this.queue.addRateLimited(key)
        // The queue keeps the earlier of the two: a growing backoff never pushes a deadline back.
        if (outcome.deadlineMs !== undefined) this.queue.addAfter(key, outcome.deadlineMs)
        this.metrics?.reconcileErrors.inc({ controller: this.name })
        this.logger.error(
          { ...fields, err: outcome.err, retries: this.queue.numRequeues(key), ...(outcome.deadlineMs === undefined ? {} : { deadlineMs: outcome.deadlineMs }) },
          'reconcile failed; retrying with backoff',
        )
        return
    }
  }
}
