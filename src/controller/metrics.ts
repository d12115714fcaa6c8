/**
 * The metrics the controller machinery records into, by shape: the process's registry
 * (src/metrics.ts) provides them under client-go's and controller-runtime's names, and a test may
 * pass its own.
 *
 * The event loop's delay is not here: prom-client's default Node metrics already export it from
 * perf_hooks.monitorEventLoopDelay as nodejs_eventloop_lag_{min,max,mean,p50,p90,p99}_seconds
 * (reset at every scrape, so _max_ is the worst stall since the previous scrape).
 */
import type { Counter, Gauge, Histogram } from 'prom-client'

/** What a queue reports about the keys its workers hold, read at each scrape. */
export interface InFlightWork {
  readonly name: string
  unfinishedWorkSeconds(): number
  longestRunningProcessorSeconds(): number
}

/**
 * The queues whose in-flight gauges (workqueue_unfinished_work_seconds,
 * workqueue_longest_running_processor_seconds) are computed when the registry is collected —
 * client-go refreshes them on a 500 ms ticker; reading them at scrape time needs no timer.
 */
export class InFlightWorkSources implements Iterable<InFlightWork> {
  private readonly sources = new Set<InFlightWork>()

  add(source: InFlightWork): void {
    this.sources.add(source)
  }

  [Symbol.iterator](): Iterator<InFlightWork> {
    return this.sources.values()
  }
}

/**
 * client-go's workqueue metrics, all labelled name=<queue>: workqueue_depth, _adds_total,
 * _retries_total, _queue_duration_seconds, _work_duration_seconds, _unfinished_work_seconds,
 * _longest_running_processor_seconds (the last two filled from workqueueInFlight at scrape time).
 */
export interface WorkQueueMetrics {
  workqueueDepth: Gauge<'name'>
  workqueueAdds: Counter<'name'>
  workqueueRetries: Counter<'name'>
  workqueueQueueDuration: Histogram<'name'>
  workqueueWorkDuration: Histogram<'name'>
  workqueueUnfinishedWork: Gauge<'name'>
  workqueueLongestRunningProcessor: Gauge<'name'>
  workqueueInFlight: InFlightWorkSources
}

/** controller_runtime_reconcile_total {controller,result}, _errors_total, _time_seconds, _active_workers {controller} */
export interface ControllerMetrics extends WorkQueueMetrics {
  reconcileTotal: Counter<'controller' | 'result'>
  reconcileErrors: Counter<'controller'>
  reconcileTime: Histogram<'controller'>
  activeWorkers: Gauge<'controller'>
}

/**
 * runguard_informer_relists_total {resource, reason}: full lists an informer made — `initial`
 * (the first), `expired` (410 Gone: the resourceVersion to resume from was compacted away),
 * `watch_failures` (the watch kept failing from the same resourceVersion), `list_failed` (the
 * previous list failed). Anything but `initial` climbing means watches are not resuming.
 */
export interface InformerMetrics {
  informerRelists: Counter<'resource' | 'reason'>
}

/** 1 while this process holds the Lease. */
export interface LeaderMetrics {
  leader: Gauge<string>
}
