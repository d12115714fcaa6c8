/**
 * The metrics the controller machinery records into, by shape: the process's registry
 * (src/metrics.ts) provides them under controller-runtime's names, and a test may pass its own.
 */
import type { Counter, Gauge, Histogram } from 'prom-client'

/** workqueue_depth, workqueue_adds_total, workqueue_retries_total, workqueue_queue_duration_seconds {name} */
export interface WorkQueueMetrics {
  workqueueDepth: Gauge<'name'>
  workqueueAdds: Counter<'name'>
  workqueueRetries: Counter<'name'>
  workqueueQueueDuration: Histogram<'name'>
}

/** controller_runtime_reconcile_total {controller,result}, _errors_total, _time_seconds, _active_workers {controller} */
export interface ControllerMetrics extends WorkQueueMetrics {
  reconcileTotal: Counter<'controller' | 'result'>
  reconcileErrors: Counter<'controller'>
  reconcileTime: Histogram<'controller'>
  activeWorkers: Gauge<'controller'>
}

/** 1 while this process holds the Lease. */
export interface LeaderMetrics {
  leader: Gauge<string>
}
