/**
 * charts/runguard (issue 12), offline: `helm lint`, values.schema.json, `helm template` across value
 * combinations, and the one-source-of-truth checks —
 *
 * - the chart's webhook configurations and status policy are, object by object, what
 *   src/admission/manifests.ts renderAdmission produces for the same settings (the same code that
 *   writes manifests/webhooks/ and that the webhook's routes come from), with the identities read
 *   back from the webhook container's own environment through loadConfig;
 * - the chart rendered with the settings of each kustomize overlay equals that overlay's build,
 *   object by object (chart-only Helm labels aside; container env compared as loaded configuration);
 * - the generated files (templates/admission.yaml, files/*, the README table, manifests/install.yaml)
 *   are what `npm run chart` / `npm run install-manifest` write now.
 *
 * Helm is built from Go modules by test/tools/build.sh (first run: minutes), kubectl by
 * test/controlplane/build.sh. On a real API server: test/integration/chart.test.ts.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import YAML from 'yaml'
import { renderAdmission, writerIdentities } from '../../src/admission/manifests.ts'
import { writeCertificateBundle } from '../../src/certs/write.ts'
import { loadConfig, SETTINGS } from '../../src/config.ts'
import { EXCLUDED_NAMESPACES, WEBHOOKS } from '../../webhooks/index.ts'
import { CHART_SETTINGS } from '../tools/chart-settings.ts'
import { controlPlaneBinDir } from '../harness/controlplane.ts'
import { CHART_ONLY_LABELS, containersOf, envOf, find, key, normalise, parseAll, template, type K8sObject, type Values } from '../helpers/chart.ts'
import { CHART_DIR, helm as makeHelm, REPO_ROOT, run, type Helm } from '../helpers/tools.ts'

type Json = Record<string, unknown>

interface Webhook {
  name: string
  failurePolicy: string
  timeoutSeconds: number
  namespaceSelector: Json
  clientConfig: { service?: { namespace: string; name: string; port: number; path: string }; caBundle?: string }
  matchConditions?: Array<{ name: string; expression: string }>
}

const PEOPLE = WEBHOOKS.filter((w) => w.splitByWriter).map((w) => w.name)
const RUN_WEBHOOKS = PEOPLE.flatMap((n) => [n, `controllers.${n}`])

const fullnameOf = (release: string): string => (release.includes('runguard') ? release : `${release}-runguard`)

/** Deep-merged values, as Helm merges a values file over values.yaml (lists replaced). */
function get(values: Values, path: string, fallback: unknown): unknown {
  let at: unknown = values
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object' || !(part in (at as Json))) return fallback
    at = (at as Json)[part]
  }
  return at
}

/**
 * What the chart's admission objects must be for these values: renderAdmission with the settings
 * the webhook container loads, then the documented chart-level choices — the people webhooks'
 * failurePolicy (Ignore until armed), the run webhooks' timeout, the guarded namespaces' selector,
 * the CA (secret mode) and the configurations' annotations.
 */
function expectedAdmission(objects: K8sObject[], values: Values, release: string, namespace: string, caPem?: string): Json[] {
  const fullname = fullnameOf(release)
  const [webhook] = containersOf(objects, fullname)
  const config = loadConfig(envOf(webhook!, { name: 'pod', namespace }), 'pod')
  const rendered = renderAdmission(WEBHOOKS, {
    target: { service: { namespace, name: `${fullname}-webhook`, port: 443 }, ...(caPem ? { caBundlePem: caPem } : {}) },
    excludedNamespaces: [...EXCLUDED_NAMESPACES, namespace],
    ...writerIdentities(config),
    namePrefix: fullname,
  }) as Json[]
  const arm = get(values, 'webhook.armWhenReady', true) as boolean
  const failurePolicy = get(values, 'webhook.failurePolicy', 'Fail') as string
  const timeout = get(values, 'webhook.timeoutSeconds', 5) as number
  const namespaces = get(values, 'controller.namespaces', []) as string[]
  const extra = get(values, 'webhook.namespaceSelector', {}) as { matchLabels?: Json; matchExpressions?: Json[] }
  const selector: Json = {
    matchExpressions: [
      namespaces.length > 0
        ? { key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }
        : { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', namespace] },
      ...(extra.matchExpressions ?? []),
    ],
    ...(extra.matchLabels ? { matchLabels: extra.matchLabels } : {}),
  }
  const mode = get(values, 'tls.mode', 'self-managed')
  for (const object of rendered) {
    const meta = object.metadata as Json
    meta.labels = { ...(meta.labels as Json), 'app.kubernetes.io/instance': release }
    const hooks = object.webhooks as Webhook[] | undefined
    if (hooks) {
      const annotations: Json = {}
      if (mode === 'cert-manager') annotations['cert-manager.io/inject-ca-from'] = `${namespace}/${fullname}-webhook`
      const people = hooks.filter((w) => PEOPLE.includes(w.name)).map((w) => `${w.name}=${failurePolicy}`)
      if (arm && people.length > 0) annotations['runguard.proompteng.ai/armed-failure-policy'] = people.join(',')
      if (Object.keys(annotations).length > 0) meta.annotations = annotations
      for (const w of hooks) {
        if (PEOPLE.includes(w.name)) w.failurePolicy = arm ? 'Ignore' : failurePolicy
        if (RUN_WEBHOOKS.includes(w.name)) w.timeoutSeconds = timeout
        w.namespaceSelector = selector
      }
    }
    const spec = object.spec as { matchResources?: { namespaceSelector: Json } } | undefined
    if (object.kind === 'ValidatingAdmissionPolicyBinding' && spec?.matchResources) spec.matchResources.namespaceSelector = selector
  }
  return rendered
}

const ADMISSION_KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']

function admissionOf(objects: K8sObject[]): Json[] {
  const labels = (o: K8sObject) => Object.fromEntries(Object.entries(o.metadata.labels ?? {}).filter(([l]) => !CHART_ONLY_LABELS.includes(l)))
  return objects.filter((o) => ADMISSION_KINDS.includes(o.kind)).map((o) => ({ ...o, metadata: { ...o.metadata, labels: labels(o) } }))
}

const byKind = (objects: Json[]): Json[] => [...objects].sort((a, b) => String(a.kind).localeCompare(String(b.kind)))

// ---------------------------------------------------------------------------------------------

let helm: Helm
let caPem = ''
let caB64 = ''

// The first Helm build takes minutes; tell the runner before waiting for it.
t.setTimeout(40 * 60_000)

t.before(async () => {
  helm = await makeHelm()
  const dir = await mkdtemp(join(tmpdir(), 'runguard-chart-ca-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const bundle = await writeCertificateBundle(dir, { dnsNames: ['runguard-webhook.runguard-system.svc'] })
  caPem = bundle.caPem
  caB64 = Buffer.from(caPem).toString('base64')
})

t.test('generated files are up to date', async (t) => {
  const chart = await run(process.execPath, ['test/tools/chart.ts', '--check'])
  t.equal(chart.code, 0, `npm run chart -- --check: ${chart.stderr.trim()}`)
  const install = await run('bash', ['test/tools/install-manifest.sh', '--check'], { timeoutMs: 60 * 60_000 })
  t.equal(install.code, 0, `npm run install-manifest -- --check: ${install.stderr.trim().slice(-2000)}`)
  const installed = parseAll(await readFile(join(REPO_ROOT, 'manifests/install.yaml'), 'utf8'))
  t.ok(installed.some((o) => o.kind === 'Namespace' && o.metadata.name === 'runguard-system'), 'install.yaml carries the Namespace')
  t.same(admissionOf(installed).map((o) => o.kind).sort(), [...ADMISSION_KINDS].sort(), 'and the admission objects')
})

const COMBINATIONS: Array<{ name: string; values: Values; release?: string; namespace?: string }> = [
  { name: 'defaults (self-managed TLS, cluster-scoped, monitoring off)', values: {} },
  { name: 'namespaced (rbac.clusterScoped false, two namespaces)', values: { controller: { namespaces: ['agents', 'team-b'] }, rbac: { clusterScoped: false } } },
  { name: 'cluster-scoped with a namespace list', values: { controller: { namespaces: ['agents'] }, rbac: { clusterScoped: true } } },
  { name: 'tls.mode cert-manager', values: { tls: { mode: 'cert-manager' } } },
  { name: 'tls.mode cert-manager with an existing ClusterIssuer', values: { tls: { mode: 'cert-manager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } } },
  { name: 'tls.mode secret (PEM caBundle), armed from the start', values: { tls: { mode: 'secret', caBundle: 'PEM' }, webhook: { armWhenReady: false } } },
  { name: 'monitoring on', values: { metrics: { serviceMonitor: { enabled: true, labels: { release: 'kps' } }, prometheusRule: { enabled: true }, dashboards: { enabled: true } } } },
  {
    name: 'a non-default release and namespace, with everything on',
    release: 'guard',
    namespace: 'guard-ns',
    values: {
      crds: { install: true },
      controller: { namespaces: ['agents'] },
      controllerIdentities: { users: ['system:serviceaccount:agents:agents-sa', "o'brien"], groups: ['ops:controllers'] },
      breakGlass: { users: ['alice'], groups: ['sre'] },
      webhook: { failurePolicy: 'Ignore', timeoutSeconds: 3, namespaceSelector: { matchLabels: { 'runguard.proompteng.ai/guarded': 'enabled' } } },
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboards: { enabled: true } },
    },
  },
]

t.test('helm lint is clean for every combination', async (t) => {
  for (const { name, values } of COMBINATIONS) {
    const file = join(await mkdtemp(join(tmpdir(), 'runguard-lint-')), 'values.yaml')
    const text = YAML.stringify(values).replace("caBundle: PEM", `caBundle: ${JSON.stringify(caPem)}`)
    await import('node:fs/promises').then((fs) => fs.writeFile(file, text))
    const result = await helm(['lint', '--strict', CHART_DIR, '-f', file], { allowFailure: true })
    t.equal(result.code, 0, `${name}: ${result.stdout.trim()}`)
    t.notMatch(result.stdout, /\[(WARNING|ERROR)\]/, `${name}: no warnings`)
  }
})

t.test('values.schema.json: a typo or a bad value fails with a message naming it', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'controler.namespaces={agents}'], /additional properties 'controler' not allowed/],
    [['--set', 'controller.admissionPolicy.label.required={team}'], /additional properties 'label' not allowed/],
    [['--set', 'tls.mode=selfmanaged'], /\/tls\/mode.*value must be one of 'self-managed', 'cert-manager', 'secret'/s],
    [['--set', 'webhook.failurePolicy=fail'], /\/webhook\/failurePolicy/],
    [['--set', 'webhook.timeoutSeconds=10'], /\/webhook\/timeoutSeconds.*maximum/s],
    [['--set', 'tls.mode=secret'], /\/tls\/caBundle/],
    [['--set', 'rbac.clusterScoped=false'], /\/controller\/namespaces.*minItems/s],
    [['--set', 'enforcement.labels=block'], /\/enforcement\/labels/],
    [['--set', 'controller.namespaces={runguard-system}'], /must not contain runguard's own namespace runguard-system/],
  ]
  for (const [args, message] of cases) {
    const result = await helm(['template', 'runguard', CHART_DIR, '-n', 'runguard-system', ...args], { allowFailure: true })
    t.not(result.code, 0, `${args.join(' ')} fails`)
    t.match(result.stderr, message, `${args.join(' ')}: ${result.stderr.trim().split('\n').slice(0, 4).join(' | ')}`)
  }
})

t.test('helm template across value combinations', async (t) => {
  for (const combination of COMBINATIONS) {
    t.test(combination.name, async (t) => {
      const release = combination.release ?? 'runguard'
      const namespace = combination.namespace ?? 'runguard-system'
      const fullname = fullnameOf(release)
      const values = JSON.parse(JSON.stringify(combination.values).replace('"PEM"', JSON.stringify(caPem))) as Values
      const objects = await template(helm, values, { release, namespace })
      const mode = get(values, 'tls.mode', 'self-managed') as string
      const namespaces = get(values, 'controller.namespaces', []) as string[]
      const clusterScoped = get(values, 'rbac.clusterScoped', true) as boolean

      // Everything that names the release or its namespace follows them.
      if (namespace !== 'runguard-system') t.notMatch(YAML.stringify(objects), /runguard-system/, 'nothing names runguard-system')
      for (const o of objects) {
        const namespaced = !['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'CustomResourceDefinition', ...ADMISSION_KINDS].includes(o.kind)
        if (!namespaced) t.notOk(o.metadata.namespace, `${key(o)}: cluster-scoped`)
        else if (o.kind === 'Role' || o.kind === 'RoleBinding') t.ok([namespace, ...namespaces].includes(o.metadata.namespace ?? ''), `${key(o)}: in runguard's or a guarded namespace`)
        else t.equal(o.metadata.namespace, namespace, `${key(o)}: in ${namespace}`)
        t.ok(o.metadata.name.startsWith(fullname) || o.kind === 'CustomResourceDefinition', `${key(o)}: named after the release`)
        if (o.kind !== 'CustomResourceDefinition') t.equal(o.metadata.labels?.['app.kubernetes.io/instance'], release, `${key(o)}: instance label`)
      }

      // The admission objects are renderAdmission's for the settings the webhook container loads.
      t.same(byKind(admissionOf(objects)), byKind(expectedAdmission(objects, values, release, namespace, mode === 'secret' ? caPem : undefined)), 'admission objects = renderAdmission for the same settings')

      // The webhook's own identity is a controller identity, under the release's names.
      const [webhook, reconciler] = containersOf(objects, fullname)
      const config = loadConfig(envOf(webhook!, { name: 'pod', namespace }), 'pod')
      t.ok(config.controllerUsers.includes(`system:serviceaccount:${namespace}:${fullname}`), 'runguard\'s ServiceAccount is a controller identity')
      t.same(config.controllerUsers.slice(0, -1), get(values, 'controllerIdentities.users', ['system:serviceaccount:agents:agents-sa']), 'controllerIdentities.users, in order')
      const reconcilerConfig = loadConfig(envOf(reconciler!, { name: 'pod', namespace }), 'pod')
      t.same(reconcilerConfig.namespaces, namespaces, 'the reconciler watches controller.namespaces')
      t.equal(reconcilerConfig.leaseName, `${fullname}-reconciler`, 'Lease named after the release')
      t.equal(reconcilerConfig.leaseNamespace, namespace, 'Lease in the release namespace')
      const leaseRole = find<K8sObject & { rules: Array<{ resourceNames?: string[] }> }>(objects, 'Role', `${fullname}-reconciler-leader-election`)
      t.same(leaseRole.rules.flatMap((r) => r.resourceNames ?? []), [reconcilerConfig.leaseName], 'the Lease Role names the Lease the reconciler uses')

      // RBAC shape.
      const clusterRoles = objects.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata.name).sort()
      const managed = mode === 'self-managed' || get(values, 'webhook.armWhenReady', true) === true
      const expectedClusterRoles = [...(clusterScoped ? [`${fullname}-reconciler`, `${fullname}-webhook`] : []), ...(managed ? [`${fullname}-webhook-configurations`] : [])].sort()
      t.same(clusterRoles, expectedClusterRoles, 'ClusterRoles')
      if (!clusterScoped) {
        for (const ns of namespaces) for (const role of ['webhook', 'reconciler']) t.ok(objects.some((o) => o.kind === 'Role' && o.metadata.namespace === ns && o.metadata.name === `${fullname}-${role}`), `Role ${role} in ${ns}`)
      }
      if (managed) {
        const cr = find<K8sObject & { rules: Array<{ resourceNames?: string[]; verbs: string[] }> }>(objects, 'ClusterRole', `${fullname}-webhook-configurations`)
        t.same(cr.rules.flatMap((r) => r.resourceNames ?? []).sort(), [`${fullname}-mutating`, `${fullname}-validating`], 'patches only its own two configurations')
        t.notOk(cr.rules.some((r) => r.verbs.includes('create') || r.verbs.includes('delete')), 'never creates or deletes webhook configurations')
      }

      // TLS wiring per mode.
      const volumes = (find<K8sObject & { spec: { template: { spec: { volumes: Array<{ name: string; secret?: { secretName: string; optional?: boolean } }> } } } }>(objects, 'Deployment', fullname)).spec.template.spec.volumes
      const tls = volumes.find((v) => v.name === 'tls')?.secret
      t.equal(tls?.secretName, `${fullname}-webhook-tls`, 'TLS Secret named after the release')
      t.equal(tls?.optional === true, mode === 'self-managed', 'optional only when runguard writes it')
      const configurations = objects.filter((o) => o.kind.endsWith('WebhookConfiguration')) as Array<K8sObject & { webhooks: Webhook[] }>
      for (const c of configurations) {
        for (const w of c.webhooks) t.same(w.clientConfig.service, { namespace, name: `${fullname}-webhook`, port: 443, path: w.clientConfig.service?.path }, `${w.name}: calls ${fullname}-webhook.${namespace}`)
        if (mode === 'cert-manager') t.equal(c.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${namespace}/${fullname}-webhook`, `${c.metadata.name}: CA injected from the release's Certificate`)
      }
      if (mode === 'cert-manager') {
        const certificate = find<K8sObject & { spec: { dnsNames: string[]; secretName: string; issuerRef: { name: string; kind: string } } }>(objects, 'Certificate', `${fullname}-webhook`)
        t.same(certificate.spec.dnsNames, [`${fullname}-webhook.${namespace}.svc`, `${fullname}-webhook.${namespace}.svc.cluster.local`], 'DNS names follow')
        const issuerRef = get(values, 'tls.certManager.issuerRef', {}) as Json
        if (Object.keys(issuerRef).length > 0) {
          t.same(certificate.spec.issuerRef, issuerRef, 'the given issuer')
          t.notOk(objects.some((o) => o.kind === 'Issuer'), 'no chart Issuers')
        } else t.equal(objects.filter((o) => o.kind === 'Issuer').length, 2, 'self-signed CA chain')
      } else t.notOk(objects.some((o) => o.kind === 'Certificate' || o.kind === 'Issuer'), 'no cert-manager objects')

      // Monitoring on/off.
      for (const [kind, value] of [
        ['ServiceMonitor', 'metrics.serviceMonitor.enabled'],
        ['PrometheusRule', 'metrics.prometheusRule.enabled'],
        ['ConfigMap', 'metrics.dashboards.enabled'],
      ] as const) {
        t.equal(objects.some((o) => o.kind === kind), get(values, value, false), `${kind} iff ${value}`)
      }
      if (get(values, 'metrics.prometheusRule.enabled', false)) {
        const rule = YAML.stringify(find(objects, 'PrometheusRule', fullname))
        t.match(rule, `job="${fullname}-metrics"`, 'alerts select the release\'s metrics job')
        if (fullname !== 'runguard') t.notMatch(rule, 'job="runguard-metrics"')
      }
      const policy = find<K8sObject & { spec: { ingress: Array<{ from?: unknown; ports: Array<{ port: number }> }> } }>(objects, 'NetworkPolicy', fullname)
      t.equal(policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 9090))?.from, undefined, 'metrics reachable from a Prometheus in any namespace by default')
      t.equal(objects.some((o) => o.kind === 'CustomResourceDefinition'), get(values, 'crds.install', false), 'CRDs iff crds.install')
      for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition')) t.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep', `${crd.metadata.name}: kept on uninstall`)
    })
  }
})

t.test('every setting: its chart value reaches exactly the containers that read it, under upstream\'s name', async (t) => {
  for (const setting of SETTINGS) t.ok(CHART_SETTINGS[setting.name], `${setting.name} is in test/tools/chart-settings.ts`)
  const values: Values = {
    controller: {
      namespaces: ['agents'],
      admissionPolicy: { labels: { required: ['team'], allowed: ['team', 'app'], denied: ['x'] }, images: { allowed: ['registry.example/*'], denied: ['*:latest'] }, secrets: { blocked: ['prod-db'] } },
      agentRunRetentionSeconds: 86400,
      agentRunRetentionMaxDeletesPerNamespace: 7,
      agentRunRetentionZeroTtlMaxSeconds: 60,
      jobTtlSecondsAfterFinished: 120,
      agentRunImmutabilityEnforced: false,
    },
    controllerIdentities: { users: ['system:serviceaccount:agents:agents-sa'], groups: ['g'] },
    breakGlass: { users: ['alice'], groups: ['sre'] },
    enforcement: { labels: 'warn', images: 'warn' },
    events: { enabled: false, rateLimitPerMin: 3 },
    logging: { level: 'debug' },
    serviceAccount: { name: 'guardian' },
    reconciler: { retentionEnabled: false, cancelTimeoutMs: 5000, jobMissingGraceSeconds: 45, concurrency: 2, resyncSeconds: 60, leaderElection: { leaseName: 'my-lease', leaseNamespace: 'leases', leaseDurationSeconds: 20, renewDeadlineSeconds: 12, retryPeriodSeconds: 3 } },
  }
  const objects = await template(helm, values)
  const containers = containersOf(objects, 'runguard')
  const names = (container: string) => new Set((containers.find((c) => c.name === container)?.env ?? []).map((e) => e.name))
  for (const setting of SETTINGS) {
    const entry = CHART_SETTINGS[setting.name]
    if (!entry) continue
    for (const container of ['webhook', 'reconciler'] as const) {
      t.equal(names(container).has(setting.name), entry.readBy.includes(container), `${setting.name} ${entry.readBy.includes(container) ? 'is' : 'is not'} given to ${container}`)
    }
  }
  const webhook = loadConfig(envOf(containers[0]!, { name: 'p', namespace: 'runguard-system' }), 'p')
  const reconciler = loadConfig(envOf(containers[1]!, { name: 'p', namespace: 'runguard-system' }), 'p')
  t.same(
    { ...webhook, enforcement: undefined },
    {
      ...webhook,
      labelsRequired: ['team'],
      labelsAllowed: ['team', 'app'],
      labelsDenied: ['x'],
      imagesAllowed: ['registry.example/*'],
      imagesDenied: ['*:latest'],
      blockedSecrets: ['prod-db'],
      immutabilityEnforced: false,
      breakGlassUsers: ['alice'],
      breakGlassGroups: ['sre'],
      controllerUsers: ['system:serviceaccount:agents:agents-sa', 'system:serviceaccount:runguard-system:guardian'],
      controllerGroups: ['g'],
      eventsEnabled: false,
      eventsRateLimitPerMin: 3,
      logLevel: 'debug',
      enforcement: undefined,
    },
    'the webhook loads every value it acts on',
  )
  t.same(webhook.enforcement, { parameters: 'deny', labels: 'warn', images: 'warn', workflow: 'deny', ttl: 'deny' })
  t.match(reconciler, {
    namespaces: ['agents'],
    agentRunRetentionSeconds: 86400,
    retentionMaxDeletesPerNamespace: 7,
    retentionZeroTtlMaxSeconds: 60,
    jobTtlSeconds: 120,
    cancelTimeoutMs: 5000,
    retentionEnabled: false,
    jobMissingGraceSeconds: 45,
    reconcileConcurrency: 2,
    resyncSeconds: 60,
    leaseName: 'my-lease',
    leaseNamespace: 'leases',
    leaseDurationSeconds: 20,
    leaseRenewDeadlineSeconds: 12,
    leaseRetryPeriodSeconds: 3,
    eventsEnabled: false,
    logLevel: 'debug',
  }, 'the reconciler loads every value it acts on')
  t.equal(find(objects, 'Role', 'runguard-reconciler-leader-election').metadata.namespace, 'leases', 'the Lease Role follows leaseNamespace')
  // upstream's older spelling wins, as in upstream's chart
  const older = containersOf(await template(helm, { controller: { jobTtlSeconds: 900 } }), 'runguard')[1]!
  t.equal(older.env?.find((e) => e.name === 'AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS')?.value, '900', 'controller.jobTtlSeconds wins, as upstream')
  // An empty controller list stays empty (not runguard's default agents-sa) — the matchConditions say the same.
  const none = await template(helm, { controllerIdentities: { users: [] } })
  const noneConfig = loadConfig(envOf(containersOf(none, 'runguard')[0]!, { name: 'p', namespace: 'runguard-system' }), 'p')
  t.same(noneConfig.controllerUsers, ['system:serviceaccount:runguard-system:runguard'], 'only runguard itself')
})

t.test('one source of truth: the chart equals each kustomize overlay, object by object', async (t) => {
  const kubectl = join(await controlPlaneBinDir(), 'kubectl')
  const work = await mkdtemp(join(tmpdir(), 'runguard-chart-kustomize-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  await cp(join(REPO_ROOT, 'manifests'), join(work, 'manifests'), { recursive: true, filter: (src) => !src.endsWith(join('self-signed', 'certs')) })
  const bundle = await writeCertificateBundle(join(work, 'manifests/overlays/self-signed/certs'), { dnsNames: ['runguard-webhook.runguard-system.svc'] })
  const kustomize = async (dir: string): Promise<K8sObject[]> => parseAll((await run(kubectl, ['kustomize', join(work, 'manifests', dir)], { timeoutMs: 120_000 })).stdout)
  const armed = { webhook: { armWhenReady: false }, namespace: { create: true } }
  const pairs: Array<{ overlay: string; values: Values; drop?: (o: K8sObject) => boolean }> = [
    { overlay: 'overlays/cert-manager', values: { ...armed, tls: { mode: 'cert-manager' } } },
    {
      overlay: 'overlays/self-signed',
      values: { ...armed, tls: { mode: 'secret', caBundle: Buffer.from(bundle.caPem).toString('base64') } },
      // kustomize generates the Secret from the files; the chart's secret mode mounts an existing one.
      drop: (o) => o.kind === 'Secret',
    },
    { overlay: 'overlays/namespaced', values: { ...armed, tls: { mode: 'cert-manager' }, controller: { namespaces: ['agents'] }, rbac: { clusterScoped: false } } },
    { overlay: 'monitoring', values: { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboards: { enabled: true } } } },
    { overlay: 'crds', values: { crds: { install: true } } },
  ]
  for (const { overlay, values, drop } of pairs) {
    t.test(overlay, async (t) => {
      const fromKustomize = (await kustomize(overlay)).filter((o) => !drop?.(o))
      let fromChart = await template(helm, values)
      if (overlay === 'monitoring') fromChart = fromChart.filter((o) => ['ServiceMonitor', 'PrometheusRule', 'ConfigMap'].includes(o.kind))
      if (overlay === 'crds') fromChart = fromChart.filter((o) => o.kind === 'CustomResourceDefinition')
      if (overlay === 'crds') {
        // The chart adds the keep annotation to the CRDs; nothing else differs.
        for (const o of fromChart) {
          t.equal(o.metadata.annotations?.['helm.sh/resource-policy'], 'keep')
          delete o.metadata.annotations
        }
      }
      t.same(fromChart.map(key).sort(), fromKustomize.map(key).sort(), 'the same objects')
      const chartByKey = new Map(fromChart.map((o) => [key(o), o]))
      for (const object of fromKustomize) {
        const counterpart = chartByKey.get(key(object))
        if (!counterpart) continue
        t.same(normalise(counterpart), normalise(object), key(object))
      }
    })
  }
})

t.test('the chart files are the kustomize sources', async (t) => {
  const chartRule = YAML.parse(await readFile(join(CHART_DIR, 'files/prometheusrule.yaml'), 'utf8'))
  const rule = YAML.parse(await readFile(join(REPO_ROOT, 'manifests/monitoring/prometheusrule.yaml'), 'utf8'))
  t.same(chartRule, rule, 'files/prometheusrule.yaml')
})
