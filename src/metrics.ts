/**
 * The one metrics registry (SPEC §5). Every metric runguard exports is declared here, so names,
 * labels and buckets live in one place and the dashboard test can list them.
 *
 * Names follow controller-runtime where they fit, so existing dashboards work unchanged.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { InFlightWorkSources, type ControllerMetrics, type InformerMetrics, type LeaderMetrics } from './controller/metrics.ts'
import type { IdleMemoryMetrics } from './idle-memory.ts'

/** Admission answers in well under a millisecond; the tail matters up to the API server's timeout. */
const WEBHOOK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const CANCEL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300]

/** The controller machinery's metrics (controller/metrics.ts) plus runguard's own. */
export interface Metrics extends ControllerMetrics, InformerMetrics, LeaderMetrics, IdleMemoryMetrics {
  registry: Registry
  webhookRequests: Counter<'webhook' | 'code'>
  webhookLatency: Histogram<'webhook'>
  webhookInFlight: Gauge<'webhook'>
  admissionDecisions: Counter<'webhook' | 'kind' | 'operation' | 'allowed' | 'reason'>
  breakGlassBypasses: Counter<'kind' | 'user'>
  statusRepairs: Counter<'kind' | 'field' | 'action' | 'writer'>
  events: Counter<'reason' | 'result'>
  runOutcomes: Counter<'kind' | 'outcome' | 'runtime'>
  cancelPropagation: Histogram<'kind'>
  jobMissing: Counter<'kind' | 'reason'>
  jobTtlHoldsHealed: Counter<'kind'>
  apiConcurrencyLimit: Gauge<string>
  apiThrottled: Counter<'code'>
  buildInfo: Gauge<'version' | 'node_version' | 'component'>
  certExpiry: Gauge<string>
  webhookArmed: Gauge<'configuration' | 'webhook'>
}

export interface MetricsOptions {
  component: 'webhook' | 'reconciler' | 'check'
  version: string
  /** Node process metrics; off in unit tests that create many registries. */
  processMetrics?: boolean
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry()
  const registers = [registry]
  // Includes the event loop's delay (nodejs_eventloop_lag_*_seconds, from monitorEventLoopDelay).
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry })
  const workqueueInFlight = new InFlightWorkSources()

  const metrics: Metrics = {
    registry,
    webhookRequests: new Counter({
      name: 'controller_runtime_webhook_requests_total',
      help: 'Admission requests by webhook and HTTP status code.',
      labelNames: ['webhook', 'code'],
      registers,
    }),
    webhookLatency: new Histogram({
      name: 'controller_runtime_webhook_latency_seconds',
      help: 'Time to answer an admission request.',
      labelNames: ['webhook'],
      buckets: WEBHOOK_BUCKETS,
      registers,
    }),
    webhookInFlight: new Gauge({
      name: 'controller_runtime_webhook_requests_in_flight',
      help: 'Admission requests being answered now.',
      labelNames: ['webhook'],
      registers,
    }),
    admissionDecisions: new Counter({
      name: 'runguard_admission_decisions_total',
      help: 'Admission decisions by webhook, kind, operation, outcome and reason.',
      labelNames: ['webhook', 'kind', 'operation', 'allowed', 'reason'],
      registers,
    }),
    breakGlassBypasses: new Counter({
      name: 'runguard_break_glass_bypasses_total',
      help: 'Status writes that skipped the status rules through the break-glass allow-list.',
      labelNames: ['kind', 'user'],
      registers,
    }),
    statusRepairs: new Counter({
      name: 'runguard_status_repairs_total',
      help: 'Protected status fields repaired in controller identities\' writes instead of refusing them (SPEC §2 Writers).',
      labelNames: ['kind', 'field', 'action', 'writer'],
      registers,
    }),
    events: new Counter({
      name: 'runguard_events_total',
      help: 'Kubernetes Events by reason and result (sent, suppressed, failed).',
      labelNames: ['reason', 'result'],
      registers,
    }),
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciliations by controller and result (success, requeue_after, conflict, error, terminal_error).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciliations that returned an error.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Time per reconciliation.',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Workers reconciling now.',
      labelNames: ['controller'],
      registers,
    }),
    workqueueDepth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of the work queue.', labelNames: ['name'], registers }),
    workqueueAdds: new Counter({ name: 'workqueue_adds_total', help: 'Adds handled by the work queue.', labelNames: ['name'], registers }),
    workqueueRetries: new Counter({ name: 'workqueue_retries_total', help: 'Retries handled by the work queue.', labelNames: ['name'], registers }),
    workqueueQueueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long an item waits in the queue before a worker takes it.',
      labelNames: ['name'],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    workqueueWorkDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long processing an item from the work queue takes (get to done).',
      labelNames: ['name'],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    workqueueUnfinishedWork: new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'Seconds of work in progress not yet observed by work_duration; large values mean stuck workers.',
      labelNames: ['name'],
      registers,
      collect() {
        for (const queue of workqueueInFlight) this.set({ name: queue.name }, queue.unfinishedWorkSeconds())
      },
    }),
    workqueueLongestRunningProcessor: new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'Seconds the longest-running item being processed has been running.',
      labelNames: ['name'],
      registers,
      collect() {
        for (const queue of workqueueInFlight) this.set({ name: queue.name }, queue.longestRunningProcessorSeconds())
      },
    }),
    workqueueInFlight,
    informerRelists: new Counter({
      name: 'runguard_informer_relists_total',
      help: 'Full lists made by an informer, by reason (initial, expired, watch_failures, list_failed); anything but initial means a watch could not resume.',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    runOutcomes: new Counter({
      name: 'agents_run_outcomes_total',
      help: 'Runs that reached a terminal phase, by kind, outcome and runtime type.',
      labelNames: ['kind', 'outcome', 'runtime'],
      registers,
    }),
    cancelPropagation: new Histogram({
      name: 'runguard_cancel_propagation_seconds',
      help: 'Time from a cancel request being seen to the run being Cancelled.',
      labelNames: ['kind'],
      buckets: CANCEL_BUCKETS,
      registers,
    }),
    jobMissing: new Counter({
      name: 'runguard_job_missing_total',
      help: 'Runs whose Job vanished before the result was collected.',
      labelNames: ['kind', 'reason'],
      registers,
    }),
    jobTtlHoldsHealed: new Counter({
      name: 'runguard_job_ttl_holds_healed_total',
      help: 'Run Jobs created without the TTL hold (the Job webhook was not called) on which the reconciler applied it.',
      labelNames: ['kind'],
      registers,
    }),
    apiConcurrencyLimit: new Gauge({
      name: 'runguard_api_concurrency_limit',
      help: 'Reconciler API calls allowed in flight, as adapted to the API server\'s answers.',
      registers,
    }),
    apiThrottled: new Counter({
      name: 'runguard_api_throttled_total',
      help: 'Reconciler API calls answered 429 or 5xx (the concurrency limit backs off), by HTTP status code.',
      labelNames: ['code'],
      registers,
    }),
    leader: new Gauge({ name: 'runguard_leader', help: '1 while this process holds the reconciler Lease.', registers }),
    buildInfo: new Gauge({
      name: 'runguard_build_info',
      help: 'Build information; always 1.',
      labelNames: ['version', 'node_version', 'component'],
      registers,
    }),
    certExpiry: new Gauge({
      name: 'runguard_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate in use.',
      registers,
    }),
    webhookArmed: new Gauge({
      name: 'runguard_webhook_armed',
      help: '1 when the webhook entry is at the failurePolicy its armed-failure-policy annotation names, else 0 (set by the TLS Lease holder).',
      labelNames: ['configuration', 'webhook'],
      registers,
    }),
    idleMemoryCollections: new Counter({
      name: 'runguard_idle_memory_collections_total',
      help: 'Memory-reducing garbage collections run once the process idled after its memory grew.',
      registers,
    }),
    idleMemoryCollectionSeconds: new Histogram({
      name: 'runguard_idle_memory_collection_seconds',
      help: 'Pause of each idle memory-reducing garbage collection.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    idleMemoryReleasedBytes: new Counter({
      name: 'runguard_idle_memory_released_bytes_total',
      help: 'Resident memory given back by the idle memory-reducing garbage collections.',
      registers,
    }),
  }
  metrics.buildInfo.set({ version: options.version, node_version: process.version, component: options.component }, 1)
  metrics.leader.set(0)
  return metrics
}
