/**
 * manifests/monitoring (SPEC §5, design note 003): every metric the Grafana dashboard and the
 * PrometheusRule query must be one our /metrics endpoints export, with the labels they use, and
 * every latency panel must be a histogram_quantile over real `_bucket` series.
 *
 * The exported set comes from the code, not a list: createMetrics() for the webhook and for the
 * reconciler, read back with registry.getMetricsAsJSON() (histograms appear by their base name;
 * Prometheus sees `<base>_bucket`, `_sum` and `_count`). The expressions are read by a small PromQL
 * scanner below — enough for selectors, matchers, `by`/`without` and histogram_quantile.
 *
 * The `runguard.apiserver` alerts and the dashboard's API-server row query kube-apiserver's
 * admission metrics instead (APISERVER_METRICS, from k8s.io/apiserver pkg/admission/metrics);
 * test/integration/chart.test.ts reads those series back from the real 1.35 API server's /metrics.
 * Whether each alert fires — and does not fire on a single event — is test/integration/
 * monitoring-rules.test.ts (`promtool test rules`).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import YAML from 'yaml'
import { createMetrics } from '../../src/metrics.ts'
import { APISERVER_METRICS } from '../helpers/apiserver-metrics.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(root + path, 'utf8')

type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

// ---------------------------------------------------------------------------------------------
// What we export

interface Exported {
  type: string
  labels: Set<string>
  /** Finite histogram bucket bounds (empty for other types). */
  buckets: number[]
}

async function exportedMetrics(): Promise<Map<string, Exported>> {
  const exported = new Map<string, Exported>()
  for (const component of ['webhook', 'reconciler'] as const) {
    const { registry } = createMetrics({ component, version: 'test' })
    for (const family of await registry.getMetricsAsJSON()) {
      // prom-client keeps the declared label names and histogram bounds on the instance.
      const instance = registry.getSingleMetric(family.name) as unknown as { labelNames?: readonly string[]; upperBounds?: readonly number[] } | undefined
      const entry = exported.get(family.name) ?? { type: String(family.type), labels: new Set<string>(), buckets: [] }
      for (const label of instance?.labelNames ?? []) entry.labels.add(label)
      if (String(family.type) === 'histogram') entry.buckets = [...(instance?.upperBounds ?? [])].filter((b) => Number.isFinite(b))
      exported.set(family.name, entry)
    }
  }
  return exported
}

/** A regex matcher on `name` that selects runguard's webhooks (and only them) in the API server's metrics. */
const RUNGUARD_WEBHOOK_NAMES = /name=~"\.\+\\\\\.runguard\\\\\.proompteng\\\\\.ai"/

/** Labels Prometheus Operator attaches to every series of a ServiceMonitor target. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'container', 'endpoint', 'service'])
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const

// ---------------------------------------------------------------------------------------------
// A PromQL scanner: tokens, then selectors / groupings / histogram_quantile ranges.

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct' | 'op' | 'var'
  text: string
}

function tokenize(expr: string): Token[] {
  const tokens: Token[] = []
  const patterns: Array<[Token['kind'] | 'skip', RegExp]> = [
    ['skip', /^(?:\s+|#[^\n]*)/],
    ['string', /^(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/],
    ['var', /^(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\])/],
    ['number', /^(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?(?:ms|[smhdwy])?(?:[0-9]+(?:ms|[smhdwy]))*)/],
    ['ident', /^[A-Za-z_:][A-Za-z0-9_:]*/],
    ['op', /^(?:==|!=|=~|!~|<=|>=|[=<>+\-*/%^@])/],
    ['punct', /^[(){}[\],]/],
  ]
  let rest = expr
  outer: while (rest.length > 0) {
    for (const [kind, pattern] of patterns) {
      const match = pattern.exec(rest)
      if (!match) continue
      if (kind !== 'skip') tokens.push({ kind, text: match[0] })
      rest = rest.slice(match[0].length)
      continue outer
    }
    throw new Error(`cannot read PromQL at: ${rest.slice(0, 40)}`)
  }
  return tokens
}

interface Selector {
  metric: string
  /** Label names in `{...}`. */
  matchers: string[]
  /** Token index, to tell which histogram_quantile it sits in. */
  at: number
}

interface Grouping {
  keyword: string
  labels: string[]
  at: number
}

interface Analysis {
  selectors: Selector[]
  groupings: Grouping[]
  /** Token index ranges [open paren, close paren] of each histogram_quantile call. */
  quantiles: Array<[number, number]>
}

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio'])
const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])
const OTHER_KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2'])

function matchingParen(tokens: Token[], open: number): number {
  let depth = 0
  for (let i = open; i < tokens.length; i++) {
    const text = tokens[i]?.kind === 'punct' ? tokens[i]?.text : undefined
    if (text === '(') depth++
    else if (text === ')' && --depth === 0) return i
  }
  throw new Error('unbalanced parentheses')
}

function analyse(expr: string): Analysis {
  const tokens = tokenize(expr)
  const result: Analysis = { selectors: [], groupings: [], quantiles: [] }
  const isPunct = (i: number, text: string): boolean => tokens[i]?.kind === 'punct' && tokens[i]?.text === text
  let i = 0
  while (i < tokens.length) {
    const token = tokens[i]
    if (!token) break
    if (token.kind === 'punct' && token.text === '[') {
      while (i < tokens.length && !isPunct(i, ']')) i++ // range or subquery: durations only
      i++
      continue
    }
    if (token.kind === 'punct' && token.text === '{') throw new Error(`a selector without a metric name in: ${expr}`)
    if (token.kind !== 'ident') {
      i++
      continue
    }
    const name = token.text
    if (GROUPING_KEYWORDS.has(name)) {
      if (!isPunct(i + 1, '(')) {
        i++ // group_left without a label list
        continue
      }
      const close = matchingParen(tokens, i + 1)
      const labels = tokens.slice(i + 2, close).filter((x) => x.kind === 'ident').map((x) => x.text)
      result.groupings.push({ keyword: name, labels, at: i })
      i = close + 1
      continue
    }
    if (OTHER_KEYWORDS.has(name)) {
      i += name === 'offset' ? 2 : 1
      continue
    }
    const next = tokens[i + 1]
    const isAggregation = AGGREGATIONS.has(name) && (isPunct(i + 1, '(') || (next?.kind === 'ident' && (next.text === 'by' || next.text === 'without')))
    if (isAggregation || isPunct(i + 1, '(')) {
      if (name === 'histogram_quantile') result.quantiles.push([i + 1, matchingParen(tokens, i + 1)])
      i++
      continue
    }
    const selector: Selector = { metric: name, matchers: [], at: i }
    i++
    if (isPunct(i, '{')) {
      i++
      while (i < tokens.length && !isPunct(i, '}')) {
        const label = tokens[i]
        if (label?.kind === 'ident') {
          selector.matchers.push(label.text)
          i += 3 // label, operator, value
        } else i++ // comma
      }
      i++
    }
    result.selectors.push(selector)
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// The checks every expression gets

function baseOf(metric: string, exported: Map<string, Exported>): { base: string; suffix: string } | undefined {
  if (exported.has(metric)) return { base: metric, suffix: '' }
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (metric.endsWith(suffix)) {
      const base = metric.slice(0, -suffix.length)
      if (exported.get(base)?.type === 'histogram') return { base, suffix }
    }
  }
  return undefined
}

/** Every problem with one expression, as readable lines (empty = fine). */
function problems(expr: string, exported: Map<string, Exported>): string[] {
  const found: string[] = []
  let analysis: Analysis
  try {
    analysis = analyse(expr)
  } catch (error) {
    return [(error as Error).message]
  }
  if (analysis.selectors.length === 0) found.push('queries no metric')
  const inQuantile = (at: number): boolean => analysis.quantiles.some(([open, close]) => at > open && at < close)
  const labelsInExpr = new Set<string>(TARGET_LABELS)
  for (const selector of analysis.selectors) {
    const resolved = baseOf(selector.metric, exported)
    if (!resolved) {
      found.push(`${selector.metric} is not exported by runguard`)
      continue
    }
    const family = exported.get(resolved.base)
    if (!family) continue
    if (family.type === 'histogram' && resolved.suffix === '') found.push(`${selector.metric} is a histogram: Prometheus has only its _bucket, _sum and _count series`)
    if (resolved.suffix === '_bucket' && !inQuantile(selector.at)) found.push(`${selector.metric} is used outside histogram_quantile`)
    const allowed = new Set([...family.labels, ...TARGET_LABELS, ...(resolved.suffix === '_bucket' ? ['le'] : [])])
    for (const label of family.labels) labelsInExpr.add(label)
    if (resolved.suffix === '_bucket') labelsInExpr.add('le')
    for (const label of selector.matchers) if (!allowed.has(label)) found.push(`${selector.metric} has no label "${label}"`)
  }
  for (const grouping of analysis.groupings) {
    for (const label of grouping.labels) if (!labelsInExpr.has(label)) found.push(`${grouping.keyword} (${label}): no metric in the expression has that label`)
  }
  for (const [open, close] of analysis.quantiles) {
    const inner = analysis.selectors.filter((s) => s.at > open && s.at < close)
    if (inner.length === 0) found.push('histogram_quantile over no metric')
    for (const selector of inner) {
      const resolved = baseOf(selector.metric, exported)
      if (resolved?.suffix !== '_bucket' || exported.get(resolved.base)?.type !== 'histogram') {
        found.push(`histogram_quantile over ${selector.metric}, which is not the _bucket series of a histogram`)
      }
    }
    for (const grouping of analysis.groupings.filter((g) => g.at > open && g.at < close)) {
      if (grouping.keyword === 'by' && !grouping.labels.includes('le')) found.push(`histogram_quantile: by (${grouping.labels.join(', ')}) drops le`)
      if (grouping.keyword === 'without' && grouping.labels.includes('le')) found.push('histogram_quantile: without (le) drops le')
    }
  }
  return found
}

/** Metric base names an expression uses. */
function metricsOf(expr: string, exported: Map<string, Exported>): string[] {
  return analyse(expr).selectors.map((s) => baseOf(s.metric, exported)?.base ?? s.metric)
}

// ---------------------------------------------------------------------------------------------
// The files

interface DashboardPanel {
  id?: number
  type: string
  title?: string
  datasource?: { type?: string; uid?: string }
  targets?: Array<{ expr?: string; refId?: string }>
  panels?: DashboardPanel[]
}

interface Dashboard {
  uid: string
  title: string
  panels: DashboardPanel[]
  templating: { list: Array<{ name: string; type: string; query?: string | { query?: string } }> }
}

interface AlertRule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

const dashboard = JSON.parse(read('manifests/monitoring/dashboard.json')) as Dashboard
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row')
const panelExprs = panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title ?? `#${p.id}`, expr: target.expr ?? '' })))

const ruleDoc = YAML.parse(read('manifests/monitoring/prometheusrule.yaml')) as { kind: string; spec: { groups: Array<{ name: string; rules: AlertRule[] }> } }
const rules = ruleDoc.spec.groups.flatMap((g) => g.rules.map((rule) => ({ ...rule, group: g.name })))
const alerts = rules.filter((r): r is AlertRule & { alert: string; group: string } => typeof r.alert === 'string')
/** The API server's metrics, for the `runguard.apiserver` group and the dashboard's API-server panels. */
const usesApiServer = (expr: string): boolean => /\bapiserver_/.test(expr)
const withApiServer = (exported: Map<string, Exported>): Map<string, Exported> => new Map([...exported, ...APISERVER_METRICS])

t.test('the registries export real histograms', async (t) => {
  const exported = await exportedMetrics()
  const histograms = [...exported].filter(([, family]) => family.type === 'histogram')
  t.ok(histograms.length >= 4, 'webhook latency, reconcile time, queue wait and cancel propagation at least')
  for (const [name, family] of histograms) t.ok(family.buckets.length >= 2, `${name} has ${family.buckets.length} finite buckets, not a lone +Inf`)
})

t.test('every dashboard query uses exported metrics and labels; latency is histogram_quantile over _bucket', async (t) => {
  const exported = await exportedMetrics()
  t.ok(panelExprs.length > 0, 'the dashboard has queries')
  for (const { panel, expr } of panelExprs) t.same(problems(expr, usesApiServer(expr) ? new Map(APISERVER_METRICS) : exported), [], `${panel}: ${expr}`)

  // Template variables: `label_values(metric, label)`.
  for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '')
    const match = /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(query)
    t.ok(match, `variable $${variable.name} is label_values(metric, label): ${query}`)
    if (!match?.[1] || !match[2]) continue
    const all = withApiServer(exported)
    const family = all.get(baseOf(match[1], all)?.base ?? match[1])
    t.ok(family, `variable $${variable.name}: ${match[1]} is exported`)
    t.ok(family?.labels.has(match[2]) || TARGET_LABELS.has(match[2]), `variable $${variable.name}: ${match[1]} has label ${match[2]}`)
  }
})

t.test('the dashboard has the panels operators asked for', async (t) => {
  const exported = await exportedMetrics()
  t.equal(dashboard.uid, 'runguard')
  const ids = panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const p of panels) {
    t.ok((p.targets ?? []).length > 0, `${p.title}: has a query`)
    t.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the $datasource variable`)
    for (const target of p.targets ?? []) {
      if (usesApiServer(target.expr ?? '')) {
        t.match(target.expr ?? '', /job=~"\$apiserver"/, `${p.title}: selects the $apiserver variable`)
        t.match(target.expr ?? '', RUNGUARD_WEBHOOK_NAMES, `${p.title}: only runguard's webhooks`)
      } else t.match(target.expr ?? '', /job=~"\$job"/, `${p.title}: selects the $job variable`)
    }
  }
  const used = new Set(panelExprs.flatMap(({ expr }) => metricsOf(expr, withApiServer(exported))))
  for (const metric of [
    'runguard_admission_decisions_total', // admission rate, denials by reason
    'controller_runtime_webhook_latency_seconds', // webhook latency percentiles
    'controller_runtime_webhook_requests_total',
    'controller_runtime_reconcile_total', // reconcile rate
    'controller_runtime_reconcile_errors_total', // reconcile errors
    'controller_runtime_reconcile_time_seconds', // reconcile latency
    'workqueue_depth', // queue depth
    'runguard_cancel_propagation_seconds', // cancel propagation time
    'agents_run_outcomes_total', // run outcomes
    'runguard_job_missing_total', // job missing
    'apiserver_admission_webhook_rejection_count', // the API server's view: refused calls, denials
    'apiserver_admission_webhook_fail_open_count', // calls that failed open
    'apiserver_admission_webhook_admission_duration_seconds', // API server → webhook latency
  ]) {
    t.ok(used.has(metric), `a panel charts ${metric}`)
  }
  const webhookLatency = panelExprs.filter(({ expr }) => expr.includes('controller_runtime_webhook_latency_seconds_bucket')).map(({ expr }) => expr)
  for (const phi of ['0.5', '0.9', '0.99']) t.ok(webhookLatency.some((e) => e.startsWith(`histogram_quantile(${phi},`)), `webhook latency p${Number(phi) * 100}`)
  t.ok(
    panelExprs.some(({ expr }) => /sum by \(reason[^)]*\) \(rate\(runguard_admission_decisions_total\{[^}]*allowed="false"/.test(expr)),
    'denials by reason',
  )
})

t.test('every alert uses exported metrics and labels, and carries severity, summary, description, runbook', async (t) => {
  const exported = await exportedMetrics()
  t.equal(ruleDoc.kind, 'PrometheusRule')
  t.ok(alerts.length > 0)
  const readme = read('README.md')
  const operations = /<!-- BEGIN operations -->([\s\S]*?)<!-- END operations -->/.exec(readme)?.[1] ?? ''
  const anchors = new Set(
    [...operations.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  )
  for (const rule of alerts) {
    t.test(rule.alert, async (t) => {
      if (rule.group === 'runguard.apiserver') {
        t.same(problems(rule.expr, new Map(APISERVER_METRICS)), [], rule.expr)
        t.match(rule.expr, RUNGUARD_WEBHOOK_NAMES, 'selects runguard\'s webhooks by name (any API server job)')
      } else {
        t.same(problems(rule.expr, exported), [], rule.expr)
        t.match(rule.expr, /job="runguard-metrics"/, 'selects runguard\'s job (controller_runtime_* names are shared with other operators)')
      }
      t.match(rule.for ?? '', /^[1-9][0-9]*[mh]$/, 'a `for:` duration: a blip never pages')
      t.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), 'severity label')
      for (const key of ['summary', 'description', 'runbook_url']) t.ok((rule.annotations?.[key] ?? '').length > 0, `annotation ${key}`)
      const anchor = /#([a-z0-9-]+)$/.exec(rule.annotations?.runbook_url ?? '')?.[1]
      t.ok(anchor !== undefined && anchors.has(anchor), `runbook_url #${anchor} is a heading in the README operations section`)
    })
  }
})

t.test('the README operations section lists every runguard metric', async (t) => {
  const exported = await exportedMetrics()
  const readme = read('README.md')
  const operations = /<!-- BEGIN operations -->([\s\S]*?)<!-- END operations -->/.exec(readme)?.[1] ?? ''
  const ours = [...exported.keys()].filter((name) => !/^(process_|nodejs_)/.test(name))
  t.ok(ours.length >= 20)
  for (const name of ours) t.match(operations, `| \`${name}\` | ${exported.get(name)?.type} |`, `${name} (${exported.get(name)?.type}) is in the metrics table`)
})

t.test('the alerts cover what the issue asks for', async (t) => {
  const byMetric = (pattern: RegExp): boolean => alerts.some((a) => pattern.test(a.expr))
  t.ok(byMetric(/controller_runtime_webhook_requests_total\{[^}]*code!="200"/), 'webhook error ratio')
  t.ok(alerts.some((a) => a.expr.includes('histogram_quantile(0.99') && a.expr.includes('controller_runtime_webhook_latency_seconds_bucket')), 'webhook p99 latency')
  t.ok(alerts.some((a) => /sum\(runguard_leader\{[^}]*\}\) < 1/.test(a.expr) && a.for === '5m'), 'no leader for 5m')
  t.ok(byMetric(/runguard_job_missing_total/), 'JobMissing rate')
  t.ok(byMetric(/runguard_events_total\{[^}]*reason="CancelTimedOut"/), 'cancel time-outs')
  t.ok(byMetric(/runguard_events_total\{[^}]*result="failed"/), 'event send failures')
  t.ok(byMetric(/apiserver_admission_webhook_rejection_count\{[^}]*error_type="calling_webhook_error"/), 'the API server refusing writes because it cannot call runguard')
  t.ok(byMetric(/apiserver_admission_webhook_fail_open_count\{/), 'the API server failing open on runguard\'s webhooks')
  t.ok(alerts.some((a) => a.expr.includes('histogram_quantile(0.99') && /sum by \(le, name\) \(rate\(apiserver_admission_webhook_admission_duration_seconds_bucket/.test(a.expr)), 'API server → webhook p99 per webhook')
})

t.test('the scanner itself catches what it is for', async (t: SubTest) => {
  const exported = await exportedMetrics()
  t.same(problems('sum by (le, webhook) (rate(controller_runtime_webhook_latency_seconds_bucket[5m]))', exported), [
    'controller_runtime_webhook_latency_seconds_bucket is used outside histogram_quantile',
  ])
  t.same(problems('histogram_quantile(0.99, sum by (webhook) (rate(controller_runtime_webhook_latency_seconds_bucket[5m])))', exported), [
    'histogram_quantile: by (webhook) drops le',
  ])
  t.same(problems('histogram_quantile(0.99, rate(controller_runtime_webhook_requests_total[5m]))', exported), [
    'histogram_quantile over controller_runtime_webhook_requests_total, which is not the _bucket series of a histogram',
  ])
  t.same(problems('rate(runguard_no_such_metric_total[5m])', exported), ['runguard_no_such_metric_total is not exported by runguard'])
  t.same(problems('rate(controller_runtime_reconcile_time_seconds[5m])', exported), [
    'controller_runtime_reconcile_time_seconds is a histogram: Prometheus has only its _bucket, _sum and _count series',
  ])
  t.same(problems('sum(rate(runguard_events_total{verdict="x"}[5m]))', exported), ['runguard_events_total has no label "verdict"'])
  t.same(problems('sum by (colour) (rate(runguard_events_total[5m]))', exported), ['by (colour): no metric in the expression has that label'])
  t.same(problems('rate(controller_runtime_reconcile_time_seconds_sum[5m]) / rate(controller_runtime_reconcile_time_seconds_count[5m])', exported), [])
  t.same(problems('min by (pod) (runguard_tls_certificate_expiry_timestamp_seconds{job="x"} > 0) - time() < 14 * 86400', exported), [])
})
