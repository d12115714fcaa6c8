/**
 * The controller: one work queue, N workers, one reconciler (controller-runtime's
 * pkg/internal/controller). The reconciler contract is level-based and tiny:
 *
 *   reconcile({kind, namespace, name}) → Promise<{ requeueAfterMs? }>
 *
 * - returns                         → forget(key) (backoff reset); `requeueAfterMs > 0` → addAfter
 * - throws TerminalError            → logged and counted, forget(key), no retry
 * - throws anything else            → logged and counted, addRateLimited(key) (exponential backoff;
 *                                     never dropped)
 *
 * One switch (`apply`) turns the outcome into queue actions and counts each branch in
 * controller_runtime_reconcile_total{controller,result}, whose four series start at zero.
 * The queue guarantees that no two workers ever hold the same key.
 */
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { silentLogger } from '../log.ts'
import { realClock, type Clock } from './clock.ts'
import { WorkQueue, type RateLimiter } from './workqueue.ts'

export interface ReconcileRequest {
  kind: string
  /** '' for cluster-scoped objects. */
  namespace: string
  name: string
}

export interface ReconcileResult {
  /** Reconcile this object again after this many milliseconds (ignored unless > 0). */
  requeueAfterMs?: number
}

export type Reconciler = (request: ReconcileRequest) => Promise<ReconcileResult | undefined | void>

/** Thrown by a reconciler for an error retrying cannot fix: logged and counted, never retried. */
export class TerminalError extends Error {
  override name = 'TerminalError'
}

export const RECONCILE_RESULTS = ['success', 'error', 'requeue_after', 'terminal_error'] as const
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number]

/** "kind/namespace/name" — none of the three may contain a slash in Kubernetes. */
export function requestKey(request: ReconcileRequest): string {
  return `${request.kind}/${request.namespace}/${request.name}`
}

export function parseRequestKey(key: string): ReconcileRequest | undefined {
  const parts = key.split('/')
  if (parts.length !== 3) return undefined
  const [kind, namespace, name] = parts as [string, string, string]
  if (kind === '' || name === '') return undefined
  return { kind, namespace, name }
}

export type ControllerMetrics = Pick<
  Metrics,
  | 'reconcileTotal'
  | 'reconcileErrors'
  | 'reconcileTime'
  | 'activeWorkers'
  | 'workqueueDepth'
  | 'workqueueAdds'
  | 'workqueueRetries'
  | 'workqueueQueueDuration'
>

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
}

/** What one reconcile came to; `apply` is the only place that acts on it. */
type Outcome =
  | { result: 'success' }
  | { result: 'requeue_after'; afterMs: number }
  | { result: 'error'; err: unknown }
  | { result: 'terminal_error'; err: unknown }

export class Controller {
  readonly name: string
  readonly queue: WorkQueue
  readonly concurrency: number
  private readonly reconciler: Reconciler
  private readonly metrics: ControllerMetrics | undefined
  private readonly logger: Logger
  private readonly clock: Clock
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
      const result = await this.reconciler(request)
      const afterMs = result ? (result.requeueAfterMs ?? 0) : 0
      outcome = afterMs > 0 ? { result: 'requeue_after', afterMs } : { result: 'success' }
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
    switch (outcome.result) {
      case 'success':
        this.queue.forget(key)
        return
      case 'requeue_after':
        this.queue.forget(key)
        this.queue.addAfter(key, outcome.afterMs)
        this.logger.debug({ ...fields, requeueAfterMs: outcome.afterMs }, 'reconciled; requeue scheduled')
        return
      case 'terminal_error':
        this.queue.forget(key)
        this.metrics?.reconcileErrors.inc({ controller: this.name })
        this.logger.error({ ...fields, err: outcome.err }, 'reconcile failed with a terminal error; not retrying')
        return
      case 'error':
        this.queue.addRateLimited(key)
        this.metrics?.reconcileErrors.inc({ controller: this.name })
        this.logger.error({ ...fields, err: outcome.err, retries: this.queue.numRequeues(key) }, 'reconcile failed; retrying with backoff')
        return
    }
  }
}
