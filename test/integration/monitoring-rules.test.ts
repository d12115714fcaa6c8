/**
 * The alerts of manifests/monitoring/prometheusrule.yaml (and the chart's copy) under Prometheus's
 * own rule engine: `promtool check rules` on the full rule groups (expressions and annotation
 * templates), then `promtool test rules` with test/monitoring/prometheusrule.promtool.yaml — series
 * written for each alert: it fires when it should and not on a single event or a blip. A last check
 * shows those cases depend on the `for:` durations: with every `for:` removed the suite fails.
 *
 * promtool is built from github.com/prometheus/prometheus/cmd/promtool by test/tools/build.sh (first
 * run: about 10–16 minutes on 2 cores; cached under .cache/tools/ afterwards).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import YAML from 'yaml'
import { CHART_DIR, REPO_ROOT, run, tool } from '../helpers/tools.ts'

interface Rule {
  alert?: string
  for?: string
  annotations?: Record<string, string>
}
interface Group {
  name: string
  rules: Rule[]
}

// The first promtool build takes 10–16 minutes on 2 cores; tell the runner before waiting for it.
t.setTimeout(60 * 60_000)
const promtool = await tool('promtool')
const dir = await mkdtemp(join(tmpdir(), 'runguard-promtool-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const groups = (YAML.parse(await readFile(join(REPO_ROOT, 'manifests/monitoring/prometheusrule.yaml'), 'utf8')) as { spec: { groups: Group[] } }).spec.groups
await copyFile(join(REPO_ROOT, 'test/monitoring/prometheusrule.promtool.yaml'), join(dir, 'tests.yaml'))

const withoutAnnotations = (gs: Group[]): Group[] => gs.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _annotations, ...rule }) => rule) }))

t.test('promtool check rules: the full groups, annotation templates included', async (t) => {
  await writeFile(join(dir, 'full.yaml'), YAML.stringify({ groups }))
  const r = await run(promtool, ['check', 'rules', join(dir, 'full.yaml')])
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, `SUCCESS: ${groups.flatMap((g) => g.rules).length} rules found`)
})

t.test('promtool check rules: the chart\'s copy too', async (t) => {
  const copy = (YAML.parse(await readFile(join(CHART_DIR, 'files/prometheusrule.yaml'), 'utf8')) as { spec: { groups: Group[] } }).spec.groups
  t.same(copy, groups, 'files/prometheusrule.yaml is the same rules')
})

t.test('promtool test rules: each alert fires when it should, never on one event', async (t) => {
  await writeFile(join(dir, 'rules.yaml'), YAML.stringify({ groups: withoutAnnotations(groups) }))
  const tests = YAML.parse(await readFile(join(dir, 'tests.yaml'), 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> }
  const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => r.alert!)
  for (const alert of alerts) {
    const cases = tests.tests.flatMap((c) => c.alert_rule_test).filter((c) => c.alertname === alert)
    t.ok(cases.some((c) => c.exp_alerts.length > 0), `${alert}: a case where it fires`)
    t.ok(cases.some((c) => c.exp_alerts.length === 0), `${alert}: a case where it must not`)
  }
  const r = await run(promtool, ['test', 'rules', join(dir, 'tests.yaml')], { cwd: dir })
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SUCCESS/)
})

t.test('the not-firing cases rest on `for:`: without them the suite fails', async (t) => {
  const stripped = withoutAnnotations(groups).map((g) => ({ ...g, rules: g.rules.map(({ for: _for, ...rule }) => rule) }))
  await writeFile(join(dir, 'rules.yaml'), YAML.stringify({ groups: stripped }))
  const r = await run(promtool, ['test', 'rules', join(dir, 'tests.yaml')], { cwd: dir })
  t.not(r.code, 0, 'promtool test rules fails')
  t.match(r.stdout + r.stderr, /RunguardWebhookDown|RunguardJobMissing/, 'naming alerts that would have paged on a blip')
})
