/**
 * Least privilege, proved on the real API server (issue 6, SPEC §6).
 *
 * Both containers run as the pod's one ServiceAccount, runguard-system/runguard. NEEDS below is the
 * single table of every API call each container makes; the test
 * 1. checks that the shipped roles grant exactly the table — every rule of the webhook's role is a
 *    webhook row, every rule of the reconciler's roles a reconciler row (no verb nobody uses);
 * 2. applies the base RBAC for real and asks the API server, as the ServiceAccount
 *    (`kubectl auth can-i --as=system:serviceaccount:runguard-system:runguard`), about every row
 *    (yes) and about NOT_NEEDED (no);
 * 3. creates an events.k8s.io Event with `kubectl create --as=…`;
 * 4. with a real token of the ServiceAccount (TokenRequest, not impersonation) runs runguard's own
 *    code paths: the Event recorder (create, then a repeat folded into series.count by patch), the
 *    core v1 fallback calls, leader election on the Lease (and not on any other Lease), informers
 *    (list+watch) on the three run kinds, run Jobs and Argo Workflows, and the reconciler's writes
 *    (spec and status patches, update, retention delete, Job TTL patch and delete, Workflow
 *    shutdown patch) — no Forbidden anywhere;
 * 5. runs the real `runguard reconcile` and `runguard webhook` processes with that token: a cancel
 *    carried through child runs and Jobs, and an InvalidSpec Event recorded, with nothing Forbidden;
 * 6. repeats the check for the namespaced overlay's Roles: granted in `agents`, not elsewhere.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node'
import t from 'tap'
import YAML from 'yaml'
import { EventRecorder } from '../../src/events/recorder.ts'
import { JOB_RUN_LABELS, RUN_KINDS } from '../../src/kube/run-kinds.ts'
import { silentLogger } from '../../src/log.ts'
import { statusOf } from '../../src/kube/errors.ts'
import { kubeLeaseClient, kubeListWatchSources } from '../../src/controller/client-node.ts'
import { kubeEventTransport } from '../../src/events/kube-transport.ts'
import { kubeApiResources, kubeResourceClient } from '../../src/kube/client.ts'
import { createMetrics } from '../../src/metrics.ts'
import { createKubeInformer, type Informer } from '../../src/controller/informer.ts'
import { startLeaseElection, type LeaderElectionConfig, type StoppedReason } from '../../src/controller/elector.ts'
import { apiResourceExists } from '../../src/kube/discovery.ts'
import { JOB_RESOURCE, WORKFLOW_RESOURCE } from '../../src/kube/resources.ts'
import { writeCertificateBundle } from '../../src/certs/write.ts'
import { freePorts, startControlPlane, type ControlPlane } from '../harness/controlplane.ts'
import { waitUntil as waitForValue } from '../harness/pods.ts'
import { startProcess } from '../harness/processes.ts'
import { waitForHttpReady } from '../harness/runguard.ts'
import { postHttps } from '../helpers/https.ts'
import { agentRun, reviewFor } from '../helpers/reviews.ts'
import {
  cancel,
  condition,
  create,
  eventsFor,
  get,
  jobManifest,
  jobPath,
  metricValue,
  runManifest,
  runPath,
  startReconcilerProcess,
  waitForLeader,
  waitForObject,
  writeStatus,
} from './reconcile-harness.ts'

const execFileAsync = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))
const NAMESPACE = 'runguard-system'
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:runguard`
const LEASE = 'runguard-reconciler'
const WORKLOAD_NAMESPACE = 'agents'

type Container = 'webhook' | 'reconciler'

/** One API call a container makes. `namespace` undefined = in every namespace (cluster-wide). */
interface Need {
  container: Container
  verbs: string[]
  /** `plural.group` as kubectl spells it (`events` for the core group). */
  resource: string
  subresource?: string
  namespace?: string
  name?: string
  why: string
}

// prettier-ignore
const NEEDS: Need[] = [
  { container: 'webhook', verbs: ['create', 'patch'], resource: 'events.events.k8s.io', why: 'InvalidSpec Events in the judged object\'s namespace; patch folds repeats into series.count' },
  { container: 'webhook', verbs: ['create', 'patch'], resource: 'events', why: 'core v1 Events where events.k8s.io/v1 is not served' },
  { container: 'reconciler', verbs: ['get', 'list', 'watch', 'patch', 'delete'], resource: 'agentruns.agents.proompteng.ai', why: 'informer and fresh reads; spec.cancel on child runs (merge patch); retention deletes AgentRuns' },
  { container: 'reconciler', verbs: ['get', 'list', 'watch', 'patch'], resource: 'orchestrationruns.orchestration.proompteng.ai', why: 'informer and fresh reads; spec.cancel on child OrchestrationRuns' },
  { container: 'reconciler', verbs: ['get', 'list', 'watch', 'patch'], resource: 'toolruns.tools.proompteng.ai', why: 'informer and fresh reads; spec.cancel on child ToolRuns' },
  { container: 'reconciler', verbs: ['update'], resource: 'agentruns.agents.proompteng.ai', subresource: 'status', why: 'the status helper PUTs /status (Cancelled, JobMissing, finishedAt)' },
  { container: 'reconciler', verbs: ['update'], resource: 'orchestrationruns.orchestration.proompteng.ai', subresource: 'status', why: 'the status helper PUTs /status' },
  { container: 'reconciler', verbs: ['update'], resource: 'toolruns.tools.proompteng.ai', subresource: 'status', why: 'the status helper PUTs /status' },
  { container: 'reconciler', verbs: ['get', 'list', 'watch', 'patch', 'delete'], resource: 'jobs.batch', why: 'run Job informer; release ttlSecondsAfterFinished; delete on cancel' },
  { container: 'reconciler', verbs: ['get', 'list', 'watch', 'patch'], resource: 'workflows.argoproj.io', why: 'Workflow informer; spec.shutdown: Terminate on cancel' },
  { container: 'reconciler', verbs: ['create', 'patch'], resource: 'events.events.k8s.io', why: 'JobMissing, WorkflowJobMissing, CancelTimedOut Events' },
  { container: 'reconciler', verbs: ['create', 'patch'], resource: 'events', why: 'core v1 Event fallback' },
  { container: 'reconciler', verbs: ['create'], resource: 'leases.coordination.k8s.io', namespace: NAMESPACE, why: 'leader election: the first replica creates the Lease' },
  { container: 'reconciler', verbs: ['get', 'update'], resource: 'leases.coordination.k8s.io', namespace: NAMESPACE, name: LEASE, why: 'leader election: read, acquire, renew, release' },
]

/** Calls no container makes: each must be refused. */
// prettier-ignore
const NOT_NEEDED: Array<Omit<Need, 'container' | 'why'> & { why: string }> = [
  { verbs: ['delete'], resource: 'toolruns.tools.proompteng.ai', why: 'retention deletes AgentRuns only' },
  { verbs: ['delete'], resource: 'orchestrationruns.orchestration.proompteng.ai', why: 'retention deletes AgentRuns only' },
  { verbs: ['create'], resource: 'agentruns.agents.proompteng.ai', why: 'runguard never creates runs' },
  { verbs: ['update'], resource: 'agentruns.agents.proompteng.ai', why: 'spec changes are merge patches' },
  { verbs: ['update'], resource: 'toolruns.tools.proompteng.ai', why: 'spec changes are merge patches' },
  { verbs: ['patch'], resource: 'agentruns.agents.proompteng.ai', subresource: 'status', why: 'status is written by PUT with resourceVersion, never patched' },
  { verbs: ['get'], resource: 'toolruns.tools.proompteng.ai', subresource: 'status', why: 'reads go to the main resource' },
  { verbs: ['deletecollection'], resource: 'agentruns.agents.proompteng.ai', why: 'deletes are one by one, capped per pass' },
  { verbs: ['create', 'update'], resource: 'jobs.batch', why: 'runguard never starts Jobs; TTL is a patch' },
  { verbs: ['get', 'list', 'watch'], resource: 'secrets', why: 'runguard reads no Secret (its TLS files are a volume)' },
  { verbs: ['get'], resource: 'secrets', namespace: NAMESPACE, name: 'runguard-webhook-tls', why: 'not even its own TLS Secret' },
  { verbs: ['get', 'list'], resource: 'configmaps', why: 'configuration comes from the environment' },
  { verbs: ['get', 'list', 'patch', 'delete'], resource: 'pods', why: 'Jobs are deleted with propagation; pods are never touched' },
  { verbs: ['create'], resource: 'pods', subresource: 'exec', why: 'no exec' },
  { verbs: ['update', 'get'], resource: 'leases.coordination.k8s.io', namespace: 'default', name: LEASE, why: 'Leases only in its own namespace' },
  { verbs: ['update', 'get'], resource: 'leases.coordination.k8s.io', namespace: 'kube-system', name: 'kube-controller-manager', why: 'never another component\'s Lease' },
  { verbs: ['update', 'delete'], resource: 'leases.coordination.k8s.io', namespace: NAMESPACE, name: 'someone-else', why: 'only the Lease it elects on' },
  { verbs: ['delete'], resource: 'leases.coordination.k8s.io', namespace: NAMESPACE, name: LEASE, why: 'release is an update' },
  { verbs: ['get', 'list', 'delete'], resource: 'events.events.k8s.io', why: 'Events are written, never read back or removed' },
  { verbs: ['create', 'delete'], resource: 'workflows.argoproj.io', why: 'cancel is a patch' },
  { verbs: ['patch', 'update'], resource: 'mutatingwebhookconfigurations.admissionregistration.k8s.io', why: 'never edits its own (or any) webhook configuration' },
  { verbs: ['patch', 'update'], resource: 'customresourcedefinitions.apiextensions.k8s.io', why: 'CRDs are installed by the operator' },
  { verbs: ['create'], resource: 'serviceaccounts', subresource: 'token', namespace: NAMESPACE, name: 'runguard', why: 'no token minting' },
  { verbs: ['bind', 'escalate'], resource: 'clusterroles.rbac.authorization.k8s.io', why: 'no privilege escalation' },
  { verbs: ['impersonate'], resource: 'users', why: 'no impersonation' },
]

interface PolicyRule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
  resourceNames?: string[]
}

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string }
  rules?: PolicyRule[]
}

/** `agentruns.agents.proompteng.ai` + `status` → { group: 'agents.proompteng.ai', resource: 'agentruns/status' } */
function splitResource(need: { resource: string; subresource?: string }): { group: string; resource: string } {
  const dot = need.resource.indexOf('.')
  const plural = dot < 0 ? need.resource : need.resource.slice(0, dot)
  return { group: dot < 0 ? '' : need.resource.slice(dot + 1), resource: need.subresource ? `${plural}/${need.subresource}` : plural }
}

function canIArgs(verb: string, need: Omit<Need, 'container' | 'why' | 'verbs'>, namespace: string | undefined): string[] {
  return [
    'auth',
    'can-i',
    verb,
    need.name ? `${need.resource}/${need.name}` : need.resource,
    ...(need.subresource ? [`--subresource=${need.subresource}`] : []),
    ...(namespace ? ['-n', namespace] : ['--all-namespaces']),
    `--as=${SERVICE_ACCOUNT}`,
  ]
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(fn))))
  return results
}

interface Question {
  label: string
  args: string[]
}

async function ask(cp: ControlPlane, questions: Question[]): Promise<Array<{ label: string; answer: string; stderr: string }>> {
  return inBatches(questions, 8, async (q) => {
    const result = await cp.kubectl(q.args, { allowFailure: true })
    return { label: q.label, answer: result.stdout.trim(), stderr: result.stderr.trim() }
  })
}

function questionsFor(needs: Need[], namespaceFor: (need: Need) => string | undefined): Question[] {
  return needs.flatMap((need) =>
    need.verbs.map((verb) => {
      const namespace = need.namespace ?? namespaceFor(need)
      return {
        label: `${need.container}: ${verb} ${need.resource}${need.subresource ? `/${need.subresource}` : ''}${need.name ? ` ${need.name}` : ''} in ${namespace ?? 'all namespaces'} (${need.why})`,
        args: canIArgs(verb, need, namespace),
      }
    }),
  )
}

async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A minimal Argo Workflow CRD, so the workflows rows are about a served resource. */
const WORKFLOW_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'workflows.argoproj.io' },
  spec: {
    group: 'argoproj.io',
    scope: 'Namespaced',
    names: { plural: 'workflows', singular: 'workflow', kind: 'Workflow', listKind: 'WorkflowList' },
    versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
}

t.test('RBAC: the ServiceAccount can do what each container needs and nothing else', async (t) => {
  const cp = await startControlPlane({ controllerManager: false })
  t.teardown(() => cp.stop())
  const work = await mkdtemp(join(tmpdir(), 'runguard-rbac-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))

  const build = async (dir: string): Promise<K8sObject[]> => {
    const { stdout } = await cp.kubectl(['kustomize', join(root, 'manifests', dir)])
    return YAML.parseAllDocuments(stdout).map((d) => d.toJSON() as K8sObject)
  }
  const base = await build('base')
  const RBAC_KINDS = new Set(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'])
  const roleFor = (objects: K8sObject[], container: Container): PolicyRule[] =>
    objects.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.name.startsWith(`runguard-${container}`)).flatMap((o) => o.rules ?? [])

  t.test('the shipped roles grant exactly the NEEDS table, per container', async (t) => {
    for (const container of ['webhook', 'reconciler'] as const) {
      const rows = NEEDS.filter((n) => n.container === container)
      const rules = roleFor(base, container)
      t.ok(rules.length > 0, `${container}: has a role`)
      for (const rule of rules) {
        for (const group of rule.apiGroups)
          for (const resource of rule.resources)
            for (const verb of rule.verbs) {
              const row = rows.find((n) => {
                const split = splitResource(n)
                return split.group === group && split.resource === resource && n.verbs.includes(verb) && (rule.resourceNames === undefined || rule.resourceNames.includes(n.name ?? ''))
              })
              t.ok(row, `${container}: ${verb} ${group || 'core'}/${resource}${rule.resourceNames ? ` ${rule.resourceNames.join(',')}` : ''} is a NEEDS row`)
            }
      }
      for (const row of rows) {
        const { group, resource } = splitResource(row)
        for (const verb of row.verbs) {
          const covered = rules.some(
            (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && (r.resourceNames === undefined || r.resourceNames.includes(row.name ?? '')),
          )
          t.ok(covered, `${container}: ${verb} ${group || 'core'}/${resource} is granted by the ${container} role`)
        }
      }
    }
  })

  await t.test('setup: CRDs (runs, Argo Workflow), namespaces, the base RBAC for real', async () => {
    await cp.kubectl(['apply', '--server-side', '-k', join(root, 'manifests/crds')])
    await cp.apply(WORKFLOW_CRD)
    await cp.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/agentruns.agents.proompteng.ai',
      'crd/orchestrationruns.orchestration.proompteng.ai',
      'crd/toolruns.tools.proompteng.ai',
      'crd/workflows.argoproj.io',
    ])
    const namespaceAndAccount = base.filter((o) => o.kind === 'Namespace' || o.kind === 'ServiceAccount')
    await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: namespaceAndAccount.map((o) => YAML.stringify(o)).join('---\n') })
    await cp.kubectl(['create', 'namespace', WORKLOAD_NAMESPACE])
    await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: base.filter((o) => RBAC_KINDS.has(o.kind)).map((o) => YAML.stringify(o)).join('---\n') })
  })

  await t.test('kubectl auth can-i --as=<the ServiceAccount>: every need granted cluster-wide', async (t) => {
    for (const { label, answer, stderr } of await ask(cp, questionsFor(NEEDS, () => undefined))) t.equal(answer, 'yes', label + (stderr ? ` — ${stderr}` : ''))
  })

  await t.test('kubectl auth can-i --as=<the ServiceAccount>: nothing else', async (t) => {
    const questions = NOT_NEEDED.flatMap((n) =>
      n.verbs.map((verb) => ({
        label: `${verb} ${n.resource}${n.subresource ? `/${n.subresource}` : ''}${n.name ? ` ${n.name}` : ''} in ${n.namespace ?? 'all namespaces'}: refused (${n.why})`,
        args: canIArgs(verb, n, n.namespace),
      })),
    )
    for (const { label, answer } of await ask(cp, questions)) t.equal(answer, 'no', label)
  })

  await t.test('kubectl create --as=<the ServiceAccount> of an events.k8s.io/v1 Event', async (t) => {
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'runguard-rbac-check', namespace: 'default' },
      eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: 'runguard.proompteng.ai/webhook',
      reportingInstance: 'rbac-test',
      action: 'Admission',
      reason: 'InvalidSpec',
      note: 'written as system:serviceaccount:runguard-system:runguard',
      type: 'Warning',
      regarding: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'any', namespace: 'default' },
    }
    const created = await cp.kubectl(['create', `--as=${SERVICE_ACCOUNT}`, '-f', '-'], { input: YAML.stringify(event), allowFailure: true })
    t.equal(created.code, 0, `created: ${created.stdout.trim()} ${created.stderr.trim()}`)
    const read = await cp.kubectl(['get', 'events.events.k8s.io', 'runguard-rbac-check', '-n', 'default', '-o', 'jsonpath={.reason}'])
    t.equal(read.stdout, 'InvalidSpec', 'stored')
    const readBack = await cp.kubectl(['get', 'events.events.k8s.io', 'runguard-rbac-check', '-n', 'default', `--as=${SERVICE_ACCOUNT}`], { allowFailure: true })
    t.match(readBack.stderr, /Forbidden/, 'but the ServiceAccount cannot read it back (not needed)')
  })

  // ------------------------------------------------------------------------------------------
  // runguard's own code, authenticated by a real token of the ServiceAccount

  const { stdout: token } = await cp.kubectl(['create', 'token', 'runguard', '-n', NAMESPACE, '--duration=1h'])
  const saConfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') } }],
    users: [{ name: 'runguard', user: { token: token.trim() } }],
    contexts: [{ name: 'runguard', context: { cluster: 'test', user: 'runguard', namespace: NAMESPACE } }],
    'current-context': 'runguard',
  }
  const saKubeconfigPath = join(work, 'runguard.kubeconfig')
  await writeFile(saKubeconfigPath, YAML.stringify(saConfig), { mode: 0o600 })
  const kubeConfig = (): KubeConfig => {
    const kc = new KubeConfig()
    kc.loadFromFile(saKubeconfigPath)
    return kc
  }
  /** kubectl authenticated by the ServiceAccount's token (no impersonation, no admin certificate). */
  const kubectlAsRunguard = async (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env = { ...process.env }
    delete env.KUBECONFIG
    const child = execFileAsync(join(cp.binDir, 'kubectl'), ['--kubeconfig', saKubeconfigPath, ...args], { env })
    if (input !== undefined) {
      child.child.stdin?.end(input)
    }
    return child.then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    )
  }

  await t.test('the token is the ServiceAccount', async (t) => {
    const whoami = await kubectlAsRunguard(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])
    t.equal(whoami.stdout, SERVICE_ACCOUNT)
  })

  // An AgentRun to record Events about (no webhook is installed here: this is about RBAC only).
  await cp.apply({
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name: 'rbac-run', namespace: 'default' },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'hello-spec' }, runtime: { type: 'job' } },
  })
  const run = JSON.parse((await cp.kubectl(['get', 'agentrun', 'rbac-run', '-n', 'default', '-o', 'json'])).stdout) as { metadata: { uid: string } }

  await t.test('the Event recorder writes as the ServiceAccount: create, then a repeat patched into series.count', async (t) => {
    const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
    const recorder = new EventRecorder({
      transport: kubeEventTransport(kubeConfig()),
      config: { eventsEnabled: true, eventsRateLimitPerMin: 6, podName: 'runguard-rbac-test' },
      metrics,
      logger: silentLogger(),
      component: 'runguard.proompteng.ai/webhook',
      defaultAction: 'Admission',
    })
    const regarding = { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'rbac-run', namespace: 'default', uid: run.metadata.uid }
    recorder.warning(regarding, 'InvalidSpec', 'spec.parameters.x: Too long: may not be more than 2048 bytes')
    await recorder.flush(10_000)
    recorder.warning(regarding, 'InvalidSpec', 'spec.parameters.x: Too long: may not be more than 2048 bytes')
    await recorder.flush(10_000)
    await recorder.close()
    t.equal(recorder.api, 'eventsV1', 'events.k8s.io/v1 used')
    const counts = Object.fromEntries(
      ((await metrics.registry.getSingleMetric('runguard_events_total')?.get())?.values ?? []).map((v) => [`${String(v.labels.reason)}/${String(v.labels.result)}`, v.value]),
    )
    t.same(counts, { 'InvalidSpec/sent': 2 }, 'both occurrences sent, none failed')
    const events = JSON.parse((await cp.kubectl(['get', 'events.events.k8s.io', '-n', 'default', '-o', 'json'])).stdout) as {
      items: Array<{ reason: string; reportingController: string; regarding: { name: string }; series?: { count: number } }>
    }
    const ours = events.items.filter((e) => e.reportingController === 'runguard.proompteng.ai/webhook' && e.regarding.name === 'rbac-run')
    t.equal(ours.length, 1, 'one Event object')
    t.equal(ours[0]?.series?.count, 2, 'the repeat was folded into series.count (a patch)')
  })

  await t.test('the core v1 fallback calls (create + patch) as the ServiceAccount', async (t) => {
    const transport = kubeEventTransport(kubeConfig())
    const now = new Date().toISOString()
    const { name } = await transport.createCoreV1('default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'runguard-rbac-core', namespace: 'default' },
      involvedObject: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'rbac-run', namespace: 'default', uid: run.metadata.uid },
      reason: 'JobMissing',
      message: 'Job rbac-run-job disappeared before the result was collected',
      type: 'Warning',
      action: 'Reconcile',
      source: { component: 'runguard.proompteng.ai/reconciler' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: 'runguard.proompteng.ai/reconciler',
      reportingInstance: 'rbac-test',
    })
    await transport.patchCoreV1('default', name, { count: 2, lastTimestamp: new Date().toISOString() })
    const { stdout } = await cp.kubectl(['get', 'events', name, '-n', 'default', '-o', 'jsonpath={.count}'])
    t.equal(stdout, '2')
  })

  await t.test('leader election on runguard-reconciler as the ServiceAccount; no other Lease', async (t) => {
    const config: LeaderElectionConfig = { namespace: NAMESPACE, name: LEASE, durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 }
    const identity = 'runguard-rbac-test'
    const stopped: StoppedReason[] = []
    const elector = startLeaseElection({
      config,
      identity,
      leaseClient: kubeLeaseClient(kubeConfig(), config.namespace, config.name),
      onStartedLeading: () => {},
      onStoppedLeading: (reason) => void stopped.push(reason),
    })
    const other = startLeaseElection({
      config: { ...config, name: 'someone-else' },
      identity,
      leaseClient: kubeLeaseClient(kubeConfig(), config.namespace, 'someone-else'),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
    })
    t.teardown(() => Promise.all([elector.stop(), other.stop()]))
    await waitUntil('leadership (create + get + update of the Lease)', () => elector.isLeader(), 15_000)
    const holder = async (): Promise<string> => (await cp.kubectl(['get', 'lease', LEASE, '-n', NAMESPACE, '-o', 'jsonpath={.spec.holderIdentity}'])).stdout
    t.equal(await holder(), elector.identity, 'the Lease names us')
    await new Promise((resolve) => setTimeout(resolve, 2_500)) // two renewals (update)
    t.ok(elector.isLeader(), 'still leading after renewals')
    // `create` cannot be limited by name, so the other elector can create its Lease once; it can
    // never read or renew it (get/update are limited to runguard-reconciler), so it never leads.
    t.notOk(other.isLeader(), 'cannot lead on another Lease')
    await elector.stop()
    t.equal(await holder(), '', 'released on stop (update)')
    t.same(stopped, ['stopped'], 'stopped because asked, never lost (no renewal was refused)')
  })

  await t.test('informers (list+watch) on the run kinds, run Jobs and Workflows, cluster-wide, as the ServiceAccount', async (t) => {
    const kc = kubeListWatchSources(kubeConfig())
    t.equal(await apiResourceExists(kubeApiResources(kubeConfig()), WORKFLOW_RESOURCE.group, WORKFLOW_RESOURCE.version, WORKFLOW_RESOURCE.plural), true, 'discovery of argoproj.io/v1alpha1')
    const informers: Informer[] = [
      ...RUN_KINDS.map((kind) => createKubeInformer(kc, kind)),
      ...JOB_RUN_LABELS.map((label) => createKubeInformer(kc, JOB_RESOURCE, { labelSelector: label })),
      createKubeInformer(kc, WORKFLOW_RESOURCE),
    ]
    t.teardown(() => Promise.all(informers.map((i) => i.stop())))
    for (const informer of informers) informer.start()
    for (const informer of informers) {
      await informer.waitForSync(AbortSignal.timeout(20_000)).then(
        () => t.pass(`${informer.name} synced`),
        (err: unknown) => t.fail(`${informer.name} did not sync: ${String(err)}`),
      )
    }
    const seen: string[] = []
    informers[0]?.addHandlers({ onAdd: (obj) => void seen.push(obj.metadata?.name ?? '') })
    t.ok(seen.includes('rbac-run'), 'the AgentRun is in the cache')
  })

  await t.test('the reconciler\'s resource client (src/kube/resource-client.ts) as the ServiceAccount: every call it makes', async (t) => {
    await cp.apply([
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'rbac-run-job', namespace: 'default', labels: { [JOB_RUN_LABELS[0]]: 'rbac-run' } },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37' }] } } },
      },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'rbac-wf', namespace: 'default' }, spec: {} },
      { apiVersion: 'tools.proompteng.ai/v1alpha1', kind: 'ToolRun', metadata: { name: 'rbac-tool', namespace: 'default' }, spec: { toolRef: { name: 't' } } },
      { apiVersion: 'orchestration.proompteng.ai/v1alpha1', kind: 'OrchestrationRun', metadata: { name: 'rbac-orch', namespace: 'default' }, spec: { orchestrationRef: { name: 'o' } } },
    ])
    const api = kubeResourceClient(kubeConfig())
    const attempt = async (what: string, call: () => Promise<unknown>): Promise<void> => {
      const outcome = await call().then(
        () => 'ok',
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      )
      t.equal(outcome, 'ok', what)
    }
    const names: Record<string, string> = { AgentRun: 'rbac-run', ToolRun: 'rbac-tool', OrchestrationRun: 'rbac-orch' }
    for (const kind of RUN_KINDS) {
      const name = names[kind.kind] ?? ''
      await attempt(`get ${kind.kind}`, () => api.get(kind, 'default', name))
      await attempt(`merge-patch ${kind.kind} spec.cancel (cancel propagation to a child)`, () => api.mergePatch(kind, 'default', name, { spec: { cancel: true } }))
      const current = await api.get(kind, 'default', name)
      await attempt(`PUT ${kind.kind} /status (the status helper)`, () => api.replaceStatus(kind, { ...current, status: { phase: 'Running' } }))
    }
    await attempt('get Job', () => api.get(JOB_RESOURCE, 'default', 'rbac-run-job'))
    await attempt('merge-patch Job ttlSecondsAfterFinished (TTL release)', () => api.mergePatch(JOB_RESOURCE, 'default', 'rbac-run-job', { spec: { ttlSecondsAfterFinished: 600 } }))
    await attempt('get Workflow', () => api.get(WORKFLOW_RESOURCE, 'default', 'rbac-wf'))
    await attempt('merge-patch Workflow spec.shutdown (cancel)', () => api.mergePatch(WORKFLOW_RESOURCE, 'default', 'rbac-wf', { spec: { shutdown: 'Terminate' } }))
    await attempt('delete Job, propagation Background (cancel)', () => api.delete(JOB_RESOURCE, 'default', 'rbac-run-job', { propagationPolicy: 'Background' }))
    await attempt('delete AgentRun (retention)', () => api.delete(RUN_KINDS[0]!, 'default', 'rbac-run', { propagationPolicy: 'Background' }))

    const refused = async (what: string, call: () => Promise<unknown>): Promise<void> => {
      const code = await call().then(
        () => 200,
        (err: unknown) => statusOf(err),
      )
      t.equal(code, 403, `${what}: refused`)
    }
    await refused('delete ToolRun', () => api.delete(RUN_KINDS[2]!, 'default', 'rbac-tool'))
    await refused('list Roles in runguard-system (no RBAC reads)', async () => {
      await kubeConfig().makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: 'rbac.authorization.k8s.io', version: 'v1', namespace: NAMESPACE, plural: 'roles' })
    })
    const createJob = await kubectlAsRunguard(['create', 'job', 'x', '-n', 'default', '--image=busybox:1.37'])
    t.match(createJob.stderr, /forbidden/i, 'the same token cannot create a Job')
    const secrets = await kubectlAsRunguard(['get', 'secrets', '-n', NAMESPACE])
    t.match(secrets.stderr, /forbidden/i, 'nor list Secrets')
  })

  await t.test('the real `runguard reconcile` process as the ServiceAccount: a cancel storm completes, nothing Forbidden', async (t) => {
    const ns = WORKLOAD_NAMESPACE
    const orch = await create(cp, runPath('OrchestrationRun', ns), runManifest('OrchestrationRun', ns, 'sa-orch'))
    t.ok(orch.metadata.uid)
    await create(cp, runPath('AgentRun', ns), runManifest('AgentRun', ns, 'sa-child', { labels: { 'agents.proompteng.ai/orchestration-run': 'sa-orch', 'agents.proompteng.ai/orchestration-step': 'build' } }))
    await create(cp, jobPath(ns), jobManifest(ns, 'sa-child-job', 'sa-child'))
    await create(cp, runPath('ToolRun', ns), runManifest('ToolRun', ns, 'sa-tool'))
    await create(cp, jobPath(ns), jobManifest(ns, 'sa-tool-job', 'sa-tool', { runKind: 'ToolRun' }))
    for (const [kind, name] of [['OrchestrationRun', 'sa-orch'], ['AgentRun', 'sa-child'], ['ToolRun', 'sa-tool']] as const) {
      await writeStatus(cp, runPath(kind, ns, name), { phase: 'Running' })
    }
    const reconciler = await startReconcilerProcess(cp, { name: 'reconciler-as-sa', kubeconfigPath: saKubeconfigPath, env: { RUNGUARD_LEASE_NAMESPACE: NAMESPACE } })
    t.teardown(() => reconciler.stop())
    await waitForLeader([reconciler])
    await cancel(cp, runPath('OrchestrationRun', ns, 'sa-orch'))
    await cancel(cp, runPath('ToolRun', ns, 'sa-tool'))
    for (const [kind, name] of [['OrchestrationRun', 'sa-orch'], ['AgentRun', 'sa-child'], ['ToolRun', 'sa-tool']] as const) {
      const done = await waitForObject(cp, runPath(kind, ns, name), `${kind} ${name} Cancelled`, (o) => o.status?.phase === 'Cancelled')
      t.equal(condition(done, 'Cancelled')?.reason, 'CancelRequested', `${kind} ${name}: Cancelled=True, CancelRequested`)
    }
    for (const job of ['sa-child-job', 'sa-tool-job']) t.equal(await get(cp, jobPath(ns, job)), undefined, `${job} deleted by the reconciler`)
    const forbidden = [...(await eventsFor(cp, ns, 'sa-orch', 'Forbidden')), ...(await eventsFor(cp, ns, 'sa-child', 'Forbidden')), ...(await eventsFor(cp, ns, 'sa-tool', 'Forbidden'))]
    t.same(forbidden, [], 'no Forbidden Events')
    const log = await readFile(reconciler.logPath, 'utf8')
    t.notMatch(log, /forbidden|"(statusCode|code)":403/i, 'no 403 in the reconciler log')
    t.equal(metricValue(await reconciler.scrape(), 'runguard_leader'), 1)
  })

  await t.test('the real `runguard webhook` process as the ServiceAccount records its InvalidSpec Event', async (t) => {
    const certs = await writeCertificateBundle(join(work, 'webhook-tls'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
    const [port = 0, metricsPort = 0] = await freePorts(2)
    const webhook = startProcess({
      name: 'webhook-as-sa',
      command: process.execPath,
      args: [join(root, 'src', 'cli.ts'), 'webhook', '--port', String(port), '--host', '127.0.0.1', '--tls-cert', certs.certPath, '--tls-key', certs.keyPath, '--metrics-port', String(metricsPort), '--kubeconfig', saKubeconfigPath],
      logPath: join(cp.logsDir, 'webhook-as-sa.log'),
      env: { PATH: process.env.PATH ?? '', RUNGUARD_POD_NAME: 'webhook-as-sa', RUNGUARD_POD_NAMESPACE: NAMESPACE },
    })
    t.teardown(() => webhook.stop())
    await waitForHttpReady(metricsPort, 'webhook as the ServiceAccount', webhook)
    const review = reviewFor({ ...agentRun('sa-invalid'), metadata: { name: 'sa-invalid', namespace: WORKLOAD_NAMESPACE } }, {})
    ;(review.request!.object!.spec as Record<string, unknown>).workflow = { steps: [{ name: 'a' }, { name: 'a' }] }
    const answer = await postHttps(port, '/validate', JSON.stringify(review), { ca: certs.caPem })
    t.equal((answer.json as { response?: { allowed?: boolean } }).response?.allowed, false)
    const events = await waitForValue('InvalidSpec Event written with the ServiceAccount token', { timeoutMs: 20_000 }, async () => {
      const found = await eventsFor(cp, WORKLOAD_NAMESPACE, 'sa-invalid', 'InvalidSpec')
      return found.length > 0 ? found : undefined
    })
    t.equal(events.length, 1)
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    t.match(metrics, /runguard_events_total\{reason="InvalidSpec",result="sent"\} 1/)
    t.notMatch(metrics, /runguard_events_total\{[^}]*result="failed"\} [1-9]/, 'no failed Event writes')
  })

  await t.test('namespaced overlay: Roles grant the needs in agents only', async (t) => {
    const namespaced = await build('overlays/namespaced')
    t.notOk(
      namespaced.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'),
      'no cluster-scoped RBAC in the overlay',
    )
    // Switch the cluster from the base to the overlay's RBAC.
    await cp.kubectl(['delete', 'clusterrolebinding', 'runguard-webhook', 'runguard-reconciler'])
    await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: namespaced.filter((o) => RBAC_KINDS.has(o.kind)).map((o) => YAML.stringify(o)).join('---\n') })

    for (const { label, answer } of await ask(cp, questionsFor(NEEDS, () => WORKLOAD_NAMESPACE))) t.equal(answer, 'yes', label)
    const elsewhere = NEEDS.filter((n) => n.namespace === undefined)
    for (const { label, answer } of await ask(cp, questionsFor(elsewhere, () => 'default'))) t.equal(answer, 'no', `refused: ${label.replace(' in default', ' in default (not watched)')}`)
    for (const { label, answer } of await ask(cp, questionsFor(elsewhere, () => undefined))) t.equal(answer, 'no', `refused: ${label}`)

    const informer = createKubeInformer(kubeListWatchSources(kubeConfig()), RUN_KINDS[0]!, { namespaces: [WORKLOAD_NAMESPACE] })
    t.teardown(() => informer.stop())
    informer.start()
    await informer.waitForSync(AbortSignal.timeout(20_000)).then(
      () => t.pass('an informer limited to agents syncs with the token'),
      (err: unknown) => t.fail(`informer in agents did not sync: ${String(err)}`),
    )
  })
})
