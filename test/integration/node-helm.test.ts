/**
 * charts/runguard installed with the Helm CLI (built from Go modules) on a real node — kubelet +
 * containerd + kube-proxy (test/harness/node.ts) — running the runguard image built here
 * (test/node/build-images.sh, never pulled: `image.pullPolicy=Never`), with the chart's default
 * `tls.mode=self-managed`, release `sentinel` in namespace `guard-ops` (neither is a default).
 * Everything is asserted on what kubectl (and helm) print.
 *
 * 1. `helm install --wait`: both replicas Running and Ready; the TLS Secret made by runguard (owned
 *    by the webhook Service); its CA injected into every webhook entry's caBundle; the people
 *    webhooks armed from Ignore to Fail; the ServiceAccount may list/watch only that Secret (and
 *    the pods' logs show the watch running, no RBAC refusal).
 * 2. A person's bad AgentRun (`spec.cancel: true` with `desiredState: Running`) is denied with
 *    runguard's message by runguard's webhook; a valid one is admitted.
 * 3. The pod holding the TLS Lease is deleted: every write meanwhile is still judged by runguard
 *    (the other replica serves), the Lease moves to a live pod, the Secret and caBundle stay.
 * 4. `helm uninstall`: every object the release rendered is gone (the TLS Secret too, through the
 *    garbage collector), the CRDs and runs are kept, and run writes are admitted again (only the
 *    CRD's own CEL rules still refuse).
 * 5. An install whose image cannot start (a tag that does not exist, pullPolicy Never): the pods
 *    sit in ErrImageNeverPull, the webhooks stay Ignore, and run writes are admitted — never a
 *    cluster where every run write is refused.
 *
 * One cluster for the whole file. Figures are printed as `# figure: ...` comments.
 */
import t from 'tap'
import { nodePreflight, startNodeClusterForTest } from '../harness/node.ts'
import { waitUntil } from '../harness/pods.ts'
import { parseAll, type K8sObject } from '../helpers/chart.ts'
import { CHART_DIR, helm as makeHelm } from '../helpers/tools.ts'

interface Webhook {
  name: string
  failurePolicy: string
  clientConfig: { service?: { namespace: string; name: string; path: string }; caBundle?: string }
}
type Configuration = K8sObject & { webhooks: Webhook[] }
interface PodJson {
  metadata: { name: string; deletionTimestamp?: string }
  spec: { nodeName?: string }
  status: {
    phase?: string
    conditions?: Array<{ type: string; status: string }>
    containerStatuses?: Array<{ name: string; ready: boolean; state?: { waiting?: { reason?: string } } }>
  }
}

const NS = 'guard-ops'
const RELEASE = 'sentinel'
const FULL = 'sentinel-runguard'
const RUNS = 'agents-helm'
const SELECTOR = `app.kubernetes.io/instance=${RELEASE}`
const SECRET = `${FULL}-webhook-tls`
const PEOPLE = ['mutate.runguard.proompteng.ai', 'validate.runguard.proompteng.ai']
const RUNGUARD_DENIAL = /admission webhook "(mutate|validate)\.runguard\.proompteng\.ai" denied the request/
const CONFLICT = /spec\.desiredState: Invalid value: "Running": conflicts with spec\.cancel: true/

const problem = nodePreflight()
if (problem !== undefined && process.getuid?.() !== 0) {
  t.plan(0, `no test node here: ${problem}`)
} else {
  // The first Helm build (test/tools/build.sh) takes minutes when nothing is cached.
  t.setTimeout(20 * 60_000)
  const cluster = await startNodeClusterForTest(t, { nodes: 1, log: (m) => t.comment(m) })
  const { cp } = cluster
  const helm = await makeHelm(cp.kubeconfigPath)
  const kubectl = (args: string[], options: { input?: string; timeoutMs?: number } = {}) => cp.kubectl(args, { allowFailure: true, timeoutMs: options.timeoutMs ?? 120_000, ...(options.input !== undefined ? { input: options.input } : {}) })
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await kubectl([...args, '-o', 'json'])
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  // The image as the node's containerd holds it, e.g. docker.io/library/runguard:0.1.0.
  const image = cluster.images.runguard.name
  const repository = image.slice(0, image.lastIndexOf(':'))
  const tag = image.slice(image.lastIndexOf(':') + 1)

  const agentRun = (name: string, spec: Record<string, unknown> = {}) =>
    JSON.stringify({
      apiVersion: 'agents.proompteng.ai/v1alpha1',
      kind: 'AgentRun',
      metadata: { name, namespace: RUNS },
      spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'hello-spec' }, runtime: { type: 'job' }, workload: { image: 'registry.example/agents/runner:1.2.3' }, ...spec },
    })
  /** A person's run that runguard refuses: cancel and desiredState disagree. */
  const badRun = (name: string) => agentRun(name, { cancel: true, desiredState: 'Running' })

  async function policies(fullname: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const c = await json<Configuration>(['get', kind, `${fullname}-${kind.startsWith('mutating') ? 'mutating' : 'validating'}`])
      for (const w of c.webhooks) out[w.name] = w.failurePolicy
    }
    return out
  }
  const pods = async (namespace: string, selector: string): Promise<PodJson[]> => (await json<{ items: PodJson[] }>(['get', 'pods', '-n', namespace, '-l', selector])).items
  const isReady = (p: PodJson) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  const leaseHolder = async (): Promise<string> => (await kubectl(['get', 'lease', '-n', NS, `${FULL}-webhook-tls`, '-o', 'jsonpath={.spec.holderIdentity}'])).stdout.trim()

  await kubectl(['create', 'namespace', RUNS])
  let installedObjects: K8sObject[] = []

  t.test('1. helm install: two Ready replicas, runguard\'s own TLS Secret and CA injection, people webhooks armed', async (t) => {
    const started = Date.now()
    const install = await helm(
      ['install', RELEASE, CHART_DIR, '--namespace', NS, '--create-namespace', '--set', 'crds.install=true', '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'image.pullPolicy=Never', '--wait', '--timeout', '4m'],
      { timeoutMs: 300_000 },
    )
    const installMs = Date.now() - started
    t.match(install.stdout, /STATUS: deployed/, 'helm install: deployed')
    t.comment(`figure: helm install --wait: deployed and both replicas Ready after ${secs(installMs)}`)

    const table = await kubectl(['get', 'pods', '-n', NS, '-l', SELECTOR, '-o', 'wide'])
    t.comment(`kubectl get pods -n ${NS} -o wide:\n${table.stdout.trim()}`)
    const running = await pods(NS, SELECTOR)
    t.equal(running.length, 2, 'two pods')
    for (const p of running) {
      t.equal(p.status.phase, 'Running', `${p.metadata.name}: Running`)
      t.ok(isReady(p), `${p.metadata.name}: Ready`)
      t.same(p.status.containerStatuses?.map((c) => `${c.name}:${c.ready}`).sort(), ['reconciler:true', 'webhook:true'], `${p.metadata.name}: both containers ready`)
    }
    t.match((await kubectl(['get', 'deployment', '-n', NS, FULL])).stdout, new RegExp(`${FULL}\\s+2/2\\s+2\\s+2`), 'kubectl get deployment: 2/2')

    // The Secret runguard made, and what it injected.
    const secret = await json<K8sObject & { type: string; data: Record<string, string>; metadata: { ownerReferences?: Array<{ kind: string; name: string; uid: string }> } }>(['get', 'secret', '-n', NS, SECRET])
    t.equal(secret.type, 'kubernetes.io/tls', `Secret ${SECRET}: kubernetes.io/tls`)
    t.same(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'], 'holds the CA and the serving pair')
    const service = await json<K8sObject & { metadata: { uid: string } }>(['get', 'service', '-n', NS, `${FULL}-webhook`])
    t.same(secret.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}`), [`Service/${FULL}-webhook/${service.metadata.uid}`], 'owned by the webhook Service')
    t.match(Buffer.from(secret.data['tls.crt']!, 'base64').toString(), /BEGIN CERTIFICATE/)

    const armedAfter = await waitUntil('the people webhooks armed to Fail', { timeoutMs: 90_000, intervalMs: 500 }, async () => {
      const p = await policies(FULL)
      return PEOPLE.every((w) => p[w] === 'Fail') ? Date.now() - started : undefined
    })
    t.comment(`figure: people webhooks armed ${secs(armedAfter)} after helm install started`)
    t.same(await policies(FULL), {
      'mutate.runguard.proompteng.ai': 'Fail',
      'controllers.mutate.runguard.proompteng.ai': 'Ignore',
      'jobs.mutate.runguard.proompteng.ai': 'Ignore',
      'validate.runguard.proompteng.ai': 'Fail',
      'controllers.validate.runguard.proompteng.ai': 'Ignore',
    }, 'people webhooks Fail; the controller copies and the Job webhook stay Ignore')
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const c = await json<Configuration>(['get', kind, `${FULL}-${kind.startsWith('mutating') ? 'mutating' : 'validating'}`])
      for (const w of c.webhooks) {
        t.equal(w.clientConfig.service?.name, `${FULL}-webhook`, `${w.name}: calls ${FULL}-webhook`)
        t.equal(w.clientConfig.service?.namespace, NS, `${w.name}: in ${NS}`)
        t.equal(w.clientConfig.caBundle, secret.data['ca.crt'], `${w.name}: caBundle is the Secret's ca.crt`)
      }
    }

    // RBAC as the pods use it: the one Secret, listed and watched by name; nothing else.
    const sa = `system:serviceaccount:${NS}:${FULL}`
    const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, '-n', NS, ...args])).stdout.trim()
    t.equal(await can('watch', `secrets/${SECRET}`), 'yes', `can-i watch secrets/${SECRET}: yes`)
    t.equal(await can('list', `secrets/${SECRET}`), 'yes', `can-i list secrets/${SECRET}: yes`)
    t.equal(await can('update', `secrets/${SECRET}`), 'yes', `can-i update secrets/${SECRET}: yes`)
    t.equal(await can('patch', `secrets/${SECRET}`), 'no', `can-i patch secrets/${SECRET}: no (written by PUT only)`)
    t.equal(await can('list', 'secrets'), 'no', 'can-i list secrets (all): no')
    t.equal(await can('get', 'secrets/other'), 'no', 'can-i get secrets/other: no')
    t.equal(await can('get', `services/${FULL}-webhook`), 'yes', `can-i get services/${FULL}-webhook: yes (the Secret's owner)`)
    for (const p of running) {
      const logs = (await kubectl(['logs', '-n', NS, p.metadata.name, '-c', 'webhook'])).stdout
      t.match(logs, /TLS Secret listed; watching it/, `${p.metadata.name}: watches the Secret`)
      t.notMatch(logs, /forbidden/i, `${p.metadata.name}: no RBAC refusal in its log`)
      t.notMatch(logs, /TLS Secret list\/watch failed/, `${p.metadata.name}: no failed list or watch`)
    }
    installedObjects = parseAll((await helm(['get', 'manifest', RELEASE, '--namespace', NS])).stdout)
  })

  t.test('2. a bad run is denied with runguard\'s message; a valid one is admitted', async (t) => {
    const denied = await kubectl(['apply', '-f', '-'], { input: badRun('conflicted') })
    t.not(denied.code, 0, 'kubectl apply of the bad run fails')
    t.match(denied.stderr, RUNGUARD_DENIAL, `denied by runguard's webhook: ${denied.stderr.trim()}`)
    t.match(denied.stderr, CONFLICT, 'with runguard\'s field error')
    const admitted = await kubectl(['apply', '-f', '-'], { input: agentRun('valid-run') })
    t.equal(admitted.code, 0, `kubectl apply of the valid run succeeds ${admitted.stderr.trim()}`)
    t.match(admitted.stdout, /agentrun\.agents\.proompteng\.ai\/valid-run created/, `admitted: ${admitted.stdout.trim()}`)
    // Proof that runguard answered rather than being skipped: its mutation is in what was stored
    // (a run asked to be Cancelled gets the matching spec.cancel: true).
    const spelled = await kubectl(['apply', '-f', '-'], { input: agentRun('valid-cancelled', { desiredState: 'Cancelled' }) })
    t.equal(spelled.code, 0, `admitted: ${(spelled.stdout || spelled.stderr).trim()}`)
    const stored = await json<{ spec: Record<string, unknown> }>(['get', 'agentrun', '-n', RUNS, 'valid-cancelled'])
    t.same([stored.spec.desiredState, stored.spec.cancel], ['Cancelled', true], 'stored with spec.cancel: true filled in by runguard\'s mutating webhook')
  })

  t.test('3. the TLS Lease holder deleted: the other replica keeps judging every write', async (t) => {
    const before = await pods(NS, SELECTOR)
    const holderIdentity = await leaseHolder()
    const holder = before.find((p) => holderIdentity.startsWith(`${p.metadata.name}_`))
    t.ok(holder, `a runguard pod holds the TLS Lease (${holderIdentity})`)
    const other = before.find((p) => p !== holder)!
    const secretBefore = (await kubectl(['get', 'secret', '-n', NS, SECRET, '-o', 'jsonpath={.data.tls\\.crt}'])).stdout
    const caBundleBefore = (await json<Configuration>(['get', 'validatingwebhookconfiguration', `${FULL}-validating`])).webhooks.map((w) => w.clientConfig.caBundle)

    // Writes all along: a person's bad run, server-side dry run, straight to the API server.
    const outcomes = { denied: 0, other: new Map<string, number>() }
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const r = await cp.request('POST', `/apis/agents.proompteng.ai/v1alpha1/namespaces/${RUNS}/agentruns?dryRun=All`, JSON.parse(badRun(`during-${i}`)))
        // The Status message (r.text is the JSON, its quotes escaped).
        const message = typeof (r.body as { message?: unknown } | undefined)?.message === 'string' ? (r.body as { message: string }).message : r.text
        if (r.status >= 400 && RUNGUARD_DENIAL.test(message) && CONFLICT.test(message)) outcomes.denied++
        else {
          const key = `${r.status} ${message.slice(0, 200)}`
          outcomes.other.set(key, (outcomes.other.get(key) ?? 0) + 1)
        }
        await sleep(100)
      }
    })()
    await sleep(1_000)
    const deletedAt = Date.now()
    const del = await kubectl(['delete', 'pod', '-n', NS, holder!.metadata.name, '--wait=false'])
    t.match(del.stdout, new RegExp(`pod "${holder!.metadata.name}" deleted`), del.stdout.trim())
    // The Lease moves on (the deleted pod hands it back as it stops; the survivor or the new pod takes it).
    const newHolder = await waitUntil('the TLS Lease held by a live pod', { timeoutMs: 90_000, intervalMs: 250 }, async () => {
      const h = await leaseHolder()
      return h !== '' && !h.startsWith(`${holder!.metadata.name}_`) ? h : undefined
    })
    const leaseMs = Date.now() - deletedAt
    const status = await kubectl(['rollout', 'status', 'deployment', '-n', NS, FULL, '--timeout=120s'], { timeoutMs: 150_000 })
    t.equal(status.code, 0, `rollout status: ${status.stdout.trim()}`)
    await waitUntil('two Ready pods, the deleted one gone', { timeoutMs: 90_000, intervalMs: 500 }, async () => {
      const now = await pods(NS, SELECTOR)
      return now.length === 2 && now.every(isReady) && !now.some((p) => p.metadata.name === holder!.metadata.name) ? true : undefined
    })
    await sleep(2_000)
    writing = false
    await writer
    const recoveredMs = Date.now() - deletedAt

    const otherOutcomes = [...outcomes.other.entries()].map(([k, n]) => `${n}× ${k}`)
    const attempted = outcomes.denied + [...outcomes.other.values()].reduce((a, n) => a + n, 0)
    t.comment(`figure: Lease holder deleted: Lease moved after ${secs(leaseMs)} (${holderIdentity.split('_')[0]} → ${newHolder.split('_')[0]}); ${attempted} writes over ${secs(recoveredMs)}, ${outcomes.denied} denied by runguard`)
    t.ok(outcomes.denied >= 20, `writes kept coming (${outcomes.denied} denied by runguard)`)
    t.same(otherOutcomes, [], 'every write was judged by runguard: none failed calling the webhook, none admitted')
    t.ok((await pods(NS, SELECTOR)).some((p) => p.metadata.name === other.metadata.name && isReady(p)), `the other replica ${other.metadata.name} served throughout and is still Ready`)
    t.equal((await kubectl(['get', 'secret', '-n', NS, SECRET, '-o', 'jsonpath={.data.tls\\.crt}'])).stdout, secretBefore, 'the serving certificate did not change')
    t.same((await json<Configuration>(['get', 'validatingwebhookconfiguration', `${FULL}-validating`])).webhooks.map((w) => w.clientConfig.caBundle), caBundleBefore, 'caBundle did not change')
    const p = await policies(FULL)
    t.same(PEOPLE.map((w) => p[w]), ['Fail', 'Fail'], 'still armed')
    const denied = await kubectl(['apply', '-f', '-'], { input: badRun('after-failover') })
    t.match(denied.stderr, RUNGUARD_DENIAL, 'denied by runguard after the fail-over')
  })

  t.test('4. helm uninstall removes runguard\'s objects; run writes are admitted again', async (t) => {
    t.ok(installedObjects.length > 10, `the release rendered ${installedObjects.length} objects`)
    const uninstall = await helm(['uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '3m'], { timeoutMs: 240_000 })
    t.match(uninstall.stdout, new RegExp(`release "${RELEASE}" uninstalled`), uninstall.stdout.trim())
    t.match(uninstall.stdout + uninstall.stderr, /These resources were kept due to the resource policy:[\s\S]*CustomResourceDefinition/, 'helm says the CRDs were kept')

    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const r = await kubectl(['get', kind, `${FULL}-${kind.startsWith('mutating') ? 'mutating' : 'validating'}`])
      t.match(r.stderr, /NotFound/, `${kind}: ${r.stderr.trim()}`)
    }
    const left: string[] = []
    for (const o of installedObjects) {
      if (o.kind === 'CustomResourceDefinition') continue
      const r = await kubectl(['get', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []), '--ignore-not-found', '-o', 'name'])
      if (r.stdout.trim() !== '') left.push(r.stdout.trim())
    }
    t.same(left, [], 'no object the release rendered is left')
    // runguard's own TLS Secret goes with its owner, the webhook Service (garbage collector).
    await waitUntil(`Secret ${SECRET} deleted with its owner`, { timeoutMs: 60_000, intervalMs: 500 }, async () =>
      (await kubectl(['get', 'secret', '-n', NS, SECRET, '--ignore-not-found', '-o', 'name'])).stdout.trim() === '' ? true : undefined,
    )
    t.pass(`Secret ${SECRET} deleted with the Service`)
    await waitUntil('the pods gone', { timeoutMs: 90_000, intervalMs: 500 }, async () => ((await pods(NS, SELECTOR)).length === 0 ? true : undefined))
    const remaining = await kubectl(['get', 'all,secrets,configmaps,leases,roles,rolebindings,serviceaccounts', '-n', NS, '-o', 'name'])
    t.comment(`left in ${NS} after helm uninstall:\n${remaining.stdout.trim() || '(nothing)'}`)
    t.notMatch(remaining.stdout, /secret\/|deployment|service\/|role/, 'no Secret, Deployment, Service or Role left (only runguard\'s Leases, the cluster\'s ServiceAccount and root CA ConfigMap)')

    for (const crd of ['agentruns.agents.proompteng.ai', 'orchestrationruns.orchestration.proompteng.ai', 'toolruns.tools.proompteng.ai']) {
      t.equal((await kubectl(['get', 'crd', crd, '-o', 'name'])).code, 0, `CRD ${crd} kept`)
    }
    t.equal((await kubectl(['get', 'agentrun', '-n', RUNS, 'valid-run', '-o', 'name'])).code, 0, 'runs kept')
    // Admitted again: nothing calls runguard any more (retry while the API server drops the configurations).
    const created = await waitUntil('a run write admitted', { timeoutMs: 30_000, intervalMs: 500 }, async () => {
      const r = await kubectl(['create', '-f', '-'], { input: agentRun('after-uninstall') })
      return r.code === 0 ? r : undefined
    })
    t.match(created.stdout, /agentrun\.agents\.proompteng\.ai\/after-uninstall created/, created.stdout.trim())
    const cel = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: badRun('cel-only') })
    t.notMatch(cel.stderr, /admission webhook/, 'no webhook involved any more')
    t.match(cel.stderr, /spec\.cancel and spec\.desiredState disagree/, `only the CRD's own CEL rule refuses the bad run: ${cel.stderr.trim()}`)
  })

  t.test('5. an image that cannot start: the pods never run, run writes stay admitted', async (t) => {
    const BROKEN_NS = 'guard-broken'
    const install = await helm(['install', 'broken', CHART_DIR, '--namespace', BROKEN_NS, '--create-namespace', '--set', `image.repository=${repository}`, '--set', 'image.tag=does-not-exist', '--set', 'image.pullPolicy=Never'])
    t.match(install.stdout, /STATUS: deployed/, 'helm install (no --wait): deployed')
    const stuck = await waitUntil('the pods stuck in ErrImageNeverPull', { timeoutMs: 90_000, intervalMs: 500 }, async () => {
      const list = await pods(BROKEN_NS, 'app.kubernetes.io/instance=broken')
      const reasons = list.flatMap((p) => (p.status.containerStatuses ?? []).map((c) => c.state?.waiting?.reason))
      return list.length === 2 && reasons.length === 4 && reasons.every((r) => r === 'ErrImageNeverPull') ? list : undefined
    })
    const table = await kubectl(['get', 'pods', '-n', BROKEN_NS, '-o', 'wide'])
    t.comment(`kubectl get pods -n ${BROKEN_NS}:\n${table.stdout.trim()}`)
    t.match(table.stdout, /0\/2\s+ErrImageNeverPull/, 'kubectl shows the containers cannot start')
    t.ok(stuck.every((p) => !isReady(p)), 'no pod Ready')
    // Give it time: nothing changes while the image is missing.
    await sleep(5_000)
    t.same(await policies('broken-runguard'), {
      'mutate.runguard.proompteng.ai': 'Ignore',
      'controllers.mutate.runguard.proompteng.ai': 'Ignore',
      'jobs.mutate.runguard.proompteng.ai': 'Ignore',
      'validate.runguard.proompteng.ai': 'Ignore',
      'controllers.validate.runguard.proompteng.ai': 'Ignore',
    }, 'every webhook still Ignore: nothing armed them')
    t.equal((await kubectl(['get', 'secret', '-n', BROKEN_NS, 'broken-runguard-webhook-tls', '--ignore-not-found', '-o', 'name'])).stdout.trim(), '', 'no TLS Secret: runguard never ran')

    for (let i = 0; i < 3; i++) {
      const r = await kubectl(['create', '-f', '-'], { input: agentRun(`while-broken-${i}`) })
      t.equal(r.code, 0, `a person's run write #${i + 1} is admitted: ${(r.stdout || r.stderr).trim()}`)
      await sleep(1_000)
    }
    const refused = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: badRun('broken-bad') })
    t.notMatch(refused.stderr, /failed calling webhook/, 'no write refused because runguard cannot answer')
    t.match(refused.stderr, /spec\.cancel and spec\.desiredState disagree/, 'the bad run is still refused by the CRD\'s CEL rule')

    const uninstall = await helm(['uninstall', 'broken', '--namespace', BROKEN_NS, '--wait', '--timeout', '2m'], { timeoutMs: 180_000 })
    t.match(uninstall.stdout, /release "broken" uninstalled/, uninstall.stdout.trim())
  })
}
