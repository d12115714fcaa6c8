/**
 * kube-apiserver's admission webhook metrics, as runguard's alerts and dashboard query them
 * (k8s.io/apiserver v0.35 pkg/admission/metrics/metrics.go; component-base counters carry no
 * `_total` suffix unless their name has one). test/unit/monitoring.test.ts checks the PromQL
 * against this table; test/integration/chart.test.ts checks the table against the real API
 * server's /metrics.
 */
export interface MetricFamily {
  type: string
  labels: Set<string>
  /** Finite histogram bucket bounds (empty for other types). */
  buckets: number[]
}

export const APISERVER_METRICS: ReadonlyMap<string, MetricFamily> = new Map([
  ['apiserver_admission_webhook_rejection_count', { type: 'counter', labels: new Set(['name', 'type', 'operation', 'error_type', 'rejection_code']), buckets: [] }],
  ['apiserver_admission_webhook_fail_open_count', { type: 'counter', labels: new Set(['name', 'type']), buckets: [] }],
  ['apiserver_admission_webhook_request_total', { type: 'counter', labels: new Set(['name', 'type', 'operation', 'code', 'rejected']), buckets: [] }],
  ['apiserver_admission_webhook_admission_duration_seconds', { type: 'histogram', labels: new Set(['name', 'type', 'operation', 'rejected']), buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 25] }],
])

