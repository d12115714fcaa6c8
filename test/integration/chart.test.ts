/**
 * charts/runguard on the real 1.35 API server (issue 12): `helm install` / `upgrade` / `uninstall`
 * with the Helm CLI built from Go modules. There is no kubelet here, so no pod runs: the tests
 * assert on what the API server stores and on how it admits run writes.
 *
 * 1. Safe ordering. Installed with defaults (self-managed TLS) into a namespace of our choosing,
 *    nothing can answer the webhooks (no runguard pod ever starts — exactly an image that cannot
 *    pull). The people webhooks are registered with failurePolicy Ignore until runguard arms them,
 *    so a person's run write is admitted, while the ValidatingAdmissionPolicy keeps refusing
 *    people's status rewrites. The same install with `webhook.armWhenReady=false` refuses every run
 *    write with "failed calling webhook" — the state the default avoids.
 * 2. `helm upgrade` keeps the CA runguard injected (a field the chart does not render) and applies
 *    what changed; like `kubectl apply` it re-applies the chart's failurePolicy (Ignore), so the
 *    people webhooks fail open until runguard, which watches its configurations, arms them again.
 * 3. `helm uninstall` removes every object but the CRDs (kept: deleting them deletes every run).
 * 4. End to end in another namespace with `tls.mode=secret` and a certificate from `runguard
 *    certs`: the real `runguard webhook` process runs with the environment the chart rendered into
 *    the stored Deployment; a run missing a required label is denied with an InvalidSpec Event, the
 *    NOTES.txt demo is denied, and runguard's own ServiceAccount — under the release's namespace —
 *    is treated as a controller identity. The one stand-in: the webhook configurations' Service is
 *    repointed at the process's loopback URL, as kube-proxy would route it to the pod.
 * 5. The API server's admission metrics that runguard's alerts and dashboard query exist with the
 *    labels they use (test/helpers/apiserver-metrics.ts).
 */
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { startControlPlaneForTest, freePorts } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { startProcess, type ManagedProcess } from '../harness/processes.ts'
import { waitForHttpReady } from '../harness/runguard.ts'
import { APISERVER_METRICS } from '../helpers/apiserver-metrics.ts'
import { envOf, type Container, type K8sObject } from '../helpers/chart.ts'
import { CHART_DIR, helm as makeHelm, REPO_ROOT, run } from '../helpers/tools.ts'

interface Webhook {
  name: string
  failurePolicy: string
  timeoutSeconds?: number
  clientConfig: { service?: { namespace: string; name: string; path: string }; url?: string; caBundle?: string }
}
type Configuration = K8sObject & { webhooks: Webhook[] }

// The first Helm build takes minutes; tell the runner before waiting for it.
t.setTimeout(40 * 60_000)
const cp = await startControlPlaneForTest(t)
const helm = await makeHelm(cp.kubeconfigPath)
const kubectl = cp.kubectl
const json = async <T>(args: string[]): Promise<T> => JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T
const RUNS = 'agents-e2e'
await kubectl(['create', 'namespace', RUNS])

const agentRun = (name: string, labels: Record<string, string> = {}) =>
  JSON.stringify({
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name, namespace: RUNS, labels },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'hello-spec' }, runtime: { type: 'job' } },
  })

/** failurePolicy of each webhook, by name. */
async function policies(fullname: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
    const suffix = kind.startsWith('mutating') ? 'mutating' : 'validating'
    const c = await json<Configuration>(['get', kind, `${fullname}-${suffix}`])
    for (const w of c.webhooks) out[w.name] = w.failurePolicy
  }
  return out
}

/** Retries a create until the API server's webhook configuration cache shows the expected outcome. */
async function createUntil(name: string, expect: 'admitted' | RegExp, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return waitUntil(`create ${name} to be ${String(expect)}`, { timeoutMs: 30_000, intervalMs: 500 }, async () => {
    const r = await kubectl(['create', '--dry-run=server', ...extra, '-f', '-'], { input: agentRun(name), allowFailure: true })
    if (expect === 'admitted' ? r.code === 0 : r.code !== 0 && expect.test(r.stderr)) return r
    return undefined
  })
}

t.test('1. safe ordering: installed, nothing answering, run writes still admitted; the status policy still refuses people', async (t) => {
  const install = await helm(['install', 'guard', CHART_DIR, '--namespace', 'guard-system', '--create-namespace', '--set', 'crds.install=true'])
  t.match(install.stdout, /STATUS: deployed/, 'helm install: deployed')
  t.match(install.stdout, /registered with failurePolicy Ignore/, 'NOTES explain the arming')
  t.match(install.stdout, /kubectl apply --dry-run=server -f - <<'EOF'/, 'NOTES show how to see a denial')
  t.match(install.stdout, /port-forward svc\/guard-runguard-metrics 9090:9090/, 'NOTES say where the metrics are')
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/agentruns.agents.proompteng.ai', 'crd/orchestrationruns.orchestration.proompteng.ai', 'crd/toolruns.tools.proompteng.ai'])

  // What the API server stores.
  const deployment = await json<K8sObject & { spec: { template: { spec: { serviceAccountName: string; containers: Container[] } } } }>(['get', '-n', 'guard-system', 'deployment', 'guard-runguard'])
  t.equal(deployment.spec.template.spec.serviceAccountName, 'guard-runguard')
  const env = envOf(deployment.spec.template.spec.containers[0]!, { name: 'p', namespace: 'guard-system' })
  t.equal(env.RUNGUARD_TLS_MODE, 'self-managed')
  t.equal(env.RUNGUARD_WEBHOOK_CONFIGURATIONS, 'guard-runguard-mutating,guard-runguard-validating')
  const stored = await policies('guard-runguard')
  t.same(stored, {
    'mutate.runguard.proompteng.ai': 'Ignore',
    'controllers.mutate.runguard.proompteng.ai': 'Ignore',
    'jobs.mutate.runguard.proompteng.ai': 'Ignore',
    'validate.runguard.proompteng.ai': 'Ignore',
    'controllers.validate.runguard.proompteng.ai': 'Ignore',
  }, 'every webhook fails open until runguard arms it')
  const validating = await json<Configuration>(['get', 'validatingwebhookconfiguration', 'guard-runguard-validating'])
  t.equal(validating.metadata.annotations?.['runguard.proompteng.ai/armed-failure-policy'], 'validate.runguard.proompteng.ai=Fail', 'what runguard will arm it to')
  t.notOk(validating.webhooks.some((w) => w.clientConfig.caBundle), 'no caBundle yet (runguard injects it)')
  const endpoints = await json<{ items: unknown[] }>(['get', '-n', 'guard-system', 'endpointslices', '-l', 'kubernetes.io/service-name=guard-runguard-webhook'])
  t.same(endpoints.items, [], 'the webhook Service has no endpoint: nothing can answer')

  // A person's run write is admitted (the calls fail, the webhooks fail open)...
  await createUntil('admitted-while-unarmed', 'admitted')
  const created = await kubectl(['create', '-f', '-'], { input: agentRun('unarmed') })
  t.match(created.stdout, /agentrun.agents.proompteng.ai\/unarmed created/, 'a person creates a run while runguard cannot answer')
  // ...while the status policy, evaluated inside the API server, keeps refusing people.
  await kubectl(['patch', '-n', RUNS, 'agentrun', 'unarmed', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running","startedAt":"2026-11-28T10:00:00.000Z"}}'])
  const rewrite = await kubectl(['patch', '-n', RUNS, 'agentrun', 'unarmed', '--subresource=status', '--type=merge', '-p', '{"status":{"startedAt":"2020-01-01T00:00:00Z"}}'], { allowFailure: true })
  t.not(rewrite.code, 0, 'a person\'s startedAt rewrite is refused')
  t.match(rewrite.stderr, /ValidatingAdmissionPolicy 'guard-runguard-status-invariants'.*status\.startedAt is immutable once set/s, 'by the release\'s ValidatingAdmissionPolicy')

  // The state the default avoids: registered fail-closed before anything can answer.
  await helm(['upgrade', 'guard', CHART_DIR, '--namespace', 'guard-system', '--reuse-values', '--set', 'webhook.armWhenReady=false'])
  t.equal((await policies('guard-runguard'))['validate.runguard.proompteng.ai'], 'Fail', 'armWhenReady=false: Fail from the first apply')
  const refused = await createUntil('refused-when-static', /failed calling webhook/)
  t.match(refused.stderr, /Internal error occurred: failed calling webhook "mutate\.runguard\.proompteng\.ai"/, 'every run write refused: failed calling webhook')
  await helm(['upgrade', 'guard', CHART_DIR, '--namespace', 'guard-system', '--reuse-values', '--set', 'webhook.armWhenReady=true'])
  t.equal((await policies('guard-runguard'))['validate.runguard.proompteng.ai'], 'Ignore', 'and back')
  await createUntil('admitted-again', 'admitted')
})

t.test('2. helm upgrade keeps the injected CA, applies what changed, and leaves arming to runguard', async (t) => {
  // What runguard's registration controller does once it serves: the people webhooks to the
  // annotated failurePolicy, and (self-managed) its CA into every entry.
  const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64')
  for (const [kind, suffix] of [
    ['mutatingwebhookconfiguration', 'mutating'],
    ['validatingwebhookconfiguration', 'validating'],
  ] as const) {
    const c = await json<Configuration>(['get', kind, `guard-runguard-${suffix}`])
    const patch = c.webhooks.flatMap((w, i) => [
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
      ...(w.name.startsWith('controllers.') || w.name.startsWith('jobs.') ? [] : [{ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: 'Fail' }]),
    ])
    await kubectl(['patch', kind, `guard-runguard-${suffix}`, '--type=json', '-p', JSON.stringify(patch)])
  }
  const upgrade = await helm(['upgrade', 'guard', CHART_DIR, '--namespace', 'guard-system', '--reuse-values', '--set', 'controller.admissionPolicy.labels.required={team}', '--set', 'webhook.timeoutSeconds=4'])
  t.match(upgrade.stdout, /REVISION: 4/, 'revision 4')
  const after = await policies('guard-runguard')
  // Helm's three-way merge overwrites fields the chart renders (as `kubectl apply` does): an upgrade
  // disarms, never arms — the safe direction — and runguard re-arms once it answers.
  t.equal(after['validate.runguard.proompteng.ai'], 'Ignore', 'validate: the chart\'s Ignore again, until runguard re-arms it')
  t.equal(after['mutate.runguard.proompteng.ai'], 'Ignore', 'mutate: likewise')
  t.equal(after['controllers.validate.runguard.proompteng.ai'], 'Ignore', 'controller copies stay Ignore')
  const validating = await json<Configuration>(['get', 'validatingwebhookconfiguration', 'guard-runguard-validating'])
  t.ok(validating.webhooks.every((w) => w.clientConfig.caBundle === caBundle), 'the injected CA stays')
  t.ok(validating.webhooks.every((w) => w.timeoutSeconds === 4), 'the changed timeout is applied')
  const deployment = await json<K8sObject & { spec: { template: { spec: { containers: Container[] } } } }>(['get', '-n', 'guard-system', 'deployment', 'guard-runguard'])
  t.equal(envOf(deployment.spec.template.spec.containers[0]!, { name: 'p', namespace: 'guard-system' }).AGENTS_CONTROLLER_LABELS_REQUIRED, '["team"]', 'the new policy reaches the webhook container under upstream\'s name')
})

t.test('3. helm uninstall removes everything but the CRDs', async (t) => {
  const out = await helm(['uninstall', 'guard', '--namespace', 'guard-system'])
  t.match(out.stdout, /release "guard" uninstalled/)
  t.match(out.stdout + out.stderr, /These resources were kept due to the resource policy:[\s\S]*CustomResourceDefinition/, 'Helm reports the CRDs kept')
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration', 'validatingadmissionpolicy', 'validatingadmissionpolicybinding', 'clusterrole', 'clusterrolebinding']) {
    const left = (await kubectl(['get', kind, '-o', 'name'])).stdout.split('\n').filter((n) => n.includes('guard-runguard'))
    t.same(left, [], `no ${kind} left`)
  }
  const namespaced = (await kubectl(['get', '-n', 'guard-system', 'deployment,service,serviceaccount,role,rolebinding,networkpolicy,poddisruptionbudget', '-o', 'name'])).stdout
    .split('\n')
    .filter((n) => n !== '' && n !== 'serviceaccount/default') // the namespace's own, made by kube-controller-manager
  t.same(namespaced, [], 'nothing of the release left in guard-system')
  t.match((await kubectl(['get', 'agentrun', '-n', RUNS, 'unarmed', '-o', 'name'])).stdout, 'agentrun.agents.proompteng.ai/unarmed', 'the CRDs — and the runs — are kept')
  await createUntil('after-uninstall', 'admitted')
})

let webhookProcess: ManagedProcess | undefined
t.teardown(() => webhookProcess?.stop(10_000))

t.test('4. end to end in another namespace: tls.mode=secret, the webhook configured from the chart', async (t) => {
  const NS = 'guard-ns'
  const dir = await mkdtemp(join(cp.workDir, 'guard-certs-'))
  const certs = await run(process.execPath, ['--', 'src/cli.ts', 'certs', '--out', dir, '--dns', `guard-runguard-webhook.${NS}.svc`, '--ip', '127.0.0.1'])
  t.equal(certs.code, 0, `runguard certs: ${certs.stderr}`)
  await kubectl(['create', 'namespace', NS])
  await kubectl(['create', 'secret', 'tls', 'guard-runguard-webhook-tls', '-n', NS, `--cert=${join(dir, 'tls.crt')}`, `--key=${join(dir, 'tls.key')}`])
  const install = await helm([
    'install', 'guard', CHART_DIR, '--namespace', NS,
    '--set', 'tls.mode=secret', '--set-file', `tls.caBundle=${join(dir, 'ca.crt')}`,
    '--set', 'controller.admissionPolicy.labels.required={team}',
  ])
  t.match(install.stdout, /STATUS: deployed/)
  const notes = install.stdout

  // Run the webhook exactly as the stored Deployment configures it (its args and env), on loopback.
  const deployment = await json<K8sObject & { spec: { template: { spec: { containers: Container[] } } } }>(['get', '-n', NS, 'deployment', 'guard-runguard'])
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'webhook')!
  const [port = 0, metricsPort = 0] = await freePorts(2)
  const args = (container.args ?? []).map((a) =>
    a.startsWith('--port=') ? `--port=${port}` : a.startsWith('--host=') ? '--host=127.0.0.1' : a.startsWith('--metrics-port=') ? `--metrics-port=${metricsPort}` : a.replace('/tls/', `${dir}/`),
  )
  t.same(args, ['webhook', `--port=${port}`, '--host=127.0.0.1', `--tls-cert=${dir}/tls.crt`, `--tls-key=${dir}/tls.key`, `--metrics-port=${metricsPort}`], 'the chart\'s args, ports and paths made local')
  const env = envOf(container, { name: 'guard-runguard-0', namespace: NS })
  t.equal(env.RUNGUARD_SERVICE_ACCOUNT_NAME, 'guard-runguard')
  webhookProcess = startProcess({
    name: 'runguard-webhook-chart',
    command: process.execPath,
    args: ['--', join(REPO_ROOT, 'src', 'cli.ts'), ...args, '--kubeconfig', cp.kubeconfigPath],
    logPath: join(cp.workDir, 'runguard-webhook-chart.log'),
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  await waitForHttpReady(metricsPort, 'runguard webhook (chart env)', webhookProcess)

  // The one stand-in for a node: route the Service to the process (kube-proxy's job).
  for (const [kind, suffix] of [
    ['mutatingwebhookconfiguration', 'mutating'],
    ['validatingwebhookconfiguration', 'validating'],
  ] as const) {
    const c = await json<Configuration>(['get', kind, `guard-runguard-${suffix}`])
    for (const w of c.webhooks) t.same(w.clientConfig.service && [w.clientConfig.service.namespace, w.clientConfig.service.name], [NS, 'guard-runguard-webhook'], `${w.name}: the chart points it at guard-runguard-webhook.${NS}`)
    const patch = c.webhooks.flatMap((w, i) => [
      { op: 'remove', path: `/webhooks/${i}/clientConfig/service` },
      { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: `https://127.0.0.1:${port}${w.clientConfig.service?.path}` },
    ])
    await kubectl(['patch', kind, `guard-runguard-${suffix}`, '--type=json', '-p', JSON.stringify(patch)])
  }

  // A run without the required label: denied by the webhook, with an InvalidSpec Event.
  const denied = await createUntil('no-team-label', /admission webhook "validate\.runguard\.proompteng\.ai" denied the request/)
  t.match(denied.stderr, /team/, `denied naming the label: ${denied.stderr.trim()}`)
  const real = await kubectl(['create', '-f', '-'], { input: agentRun('no-team'), allowFailure: true })
  t.not(real.code, 0, 'the real write is refused too')
  await waitUntil('the InvalidSpec Event', { timeoutMs: 20_000 }, async () => {
    const events = await kubectl(['get', 'events', '-n', RUNS, '--field-selector', 'reason=InvalidSpec,involvedObject.name=no-team', '-o', 'name'])
    return events.stdout.trim() !== '' ? true : undefined
  })
  t.pass('InvalidSpec Event recorded for the refused run')
  const ok = await kubectl(['create', '-f', '-'], { input: agentRun('with-team', { team: 'a' }) })
  t.match(ok.stdout, /created/, 'a run with the label is admitted')

  // The NOTES.txt demo, as printed (namespace default), is denied by the webhook.
  const demo = /<<'EOF'\n([\s\S]*?)\n\s*EOF/.exec(notes)?.[1]
  t.ok(demo, 'NOTES carry a demo object')
  const dedented = (demo ?? '').split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n')
  const demoRun = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: dedented, allowFailure: true })
  t.match(demoRun.stderr, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request: .*spec\.workflow\.steps\[1\]\.name: Duplicate value: "plan"/s, 'the NOTES demo shows a denial')

  // runguard's own ServiceAccount — in this namespace — is a controller identity: its status
  // rewrite is repaired; a person's is refused.
  await cp.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-guard-status-patch}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: test-guard-status-patch}
subjects: [{kind: ServiceAccount, name: guard-runguard, namespace: ${NS}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: test-guard-status-patch}
rules: [{apiGroups: [agents.proompteng.ai], resources: [agentruns/status], verbs: [get, patch]}]
`)
  await kubectl(['patch', '-n', RUNS, 'agentrun', 'with-team', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running"}}'])
  const rewrite = '{"status":{"startedAt":"2020-01-01T00:00:00Z"}}'
  const person = await kubectl(['patch', '-n', RUNS, 'agentrun', 'with-team', '--subresource=status', '--type=merge', '-p', rewrite], { allowFailure: true })
  t.match(person.stderr, /startedAt is immutable once set/, 'a person is refused')
  const asRunguard = ['--as', `system:serviceaccount:${NS}:guard-runguard`, '--as-group', 'system:serviceaccounts', '--as-group', `system:serviceaccounts:${NS}`]
  const repaired = await kubectl(['patch', '-n', RUNS, 'agentrun', 'with-team', '--subresource=status', '--type=merge', '-p', rewrite, ...asRunguard], { allowFailure: true })
  t.equal(repaired.code, 0, `runguard's ServiceAccount is admitted: ${repaired.stderr}`)
  t.match(repaired.stderr, /Warning: status\.startedAt kept at/, 'and repaired, with a warning')
})

t.test('5. the API server exports the admission metrics runguard\'s alerts query, with their labels', async (t) => {
  const metrics = await cp.request('GET', '/metrics')
  t.equal(metrics.status, 200)
  const text = metrics.text
  for (const [name, family] of APISERVER_METRICS) {
    const series = name + (family.type === 'histogram' ? '_bucket' : '')
    const lines = text.split('\n').filter((l) => l.startsWith(`${series}{`) && l.includes('.runguard.proompteng.ai"'))
    t.ok(lines.length > 0, `${series}: series for runguard's webhooks`)
    const labels = new Set(lines.flatMap((l) => [...l.matchAll(/([a-z_]+)="/g)].map((m) => m[1])))
    for (const label of family.labels) t.ok(labels.has(label), `${series} has label ${label}`)
  }
  t.match(text, /apiserver_admission_webhook_rejection_count\{[^}]*error_type="calling_webhook_error"[^}]*name="mutate\.runguard\.proompteng\.ai"/, 'the refused calls of step 1 (RunguardWebhookCallsRefused)')
  t.match(text, /apiserver_admission_webhook_fail_open_count\{[^}]*name="validate\.runguard\.proompteng\.ai"/, 'the fail-open calls of step 1 (RunguardWebhookFailingOpen)')

})
