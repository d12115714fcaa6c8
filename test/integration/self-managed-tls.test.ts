/**
 * Self-managed TLS and arming (issue 12) on the real API server, with the chart's defaults
 * (`tls.mode: self-managed`, `webhook.armWhenReady: true`) installed by the Helm CLI and two real
 * `runguard webhook` processes started with the environment the chart rendered into the stored
 * Deployment (two replicas: one Lease holder, one reader).
 *
 * 1. The Lease holder creates the `kubernetes.io/tls` Secret (CA + serving certificate for the
 *    Service's DNS names), injects the CA into every entry of both configurations that points at
 *    the Service, and arms the people webhooks (Ignore → Fail, as annotated). Both replicas serve
 *    the pair from the Secret and only then report ready.
 * 2. End to end: a person's invalid AgentRun is denied by the webhook.
 * 3. A `helm upgrade`-style reset of failurePolicy to Ignore is undone within seconds.
 * 4. CA rotation with overlap: given a Secret whose CA expires inside renewBefore, the Lease holder
 *    adds a new CA next to the old one, injects both, and only then moves the serving certificate
 *    to the new CA; both replicas pick it up.
 * 5. The replica without the Lease serves a Secret write within moments: it watches the Secret
 *    (list + watch by name), it does not poll.
 *
 * Stand-ins for a node: arming waits for a ready endpoint behind the webhook Service, which no
 * kubelet publishes here, so the test adds an EndpointSlice (checking first that nothing is armed
 * without it). And there is no kube-proxy, so once the CA injection is asserted on
 * the stored objects (on the chart's `clientConfig.service` entries, the only ones runguard
 * injects), the entries are repointed at the Lease holder's loopback URL, keeping their injected
 * caBundle. For that URL to verify, the processes get `--tls-ip 127.0.0.1`, which adds an IP SAN to
 * the self-managed certificate. Arming needs nothing else: it checks each entry's caBundle against
 * the certificate served, whatever the entry points at. The processes use the admin kubeconfig, so
 * the chart's RBAC for them is not exercised here.
 */
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { freePorts, startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { startProcess, type ManagedProcess } from '../harness/processes.ts'
import { waitForHttpReady } from '../harness/runguard.ts'
import { envOf, type Container, type K8sObject } from '../helpers/chart.ts'
import { CHART_DIR, helm as makeHelm, REPO_ROOT } from '../helpers/tools.ts'

interface Webhook {
  name: string
  failurePolicy: string
  clientConfig: { service?: { namespace: string; name: string; path: string }; url?: string; caBundle?: string }
}
type Configuration = K8sObject & { webhooks: Webhook[] }
interface Secret extends K8sObject {
  metadata: K8sObject['metadata'] & { ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string }> }
  type: string
  data: Record<string, string>
}

t.setTimeout(40 * 60_000)
const cp = await startControlPlaneForTest(t)
const helm = await makeHelm(cp.kubeconfigPath)
const kubectl = cp.kubectl
const json = async <T>(args: string[]): Promise<T> => JSON.parse((await kubectl([...args, '-o', 'json'])).stdout) as T
const NS = 'guard-tls'
const RUNS = 'agents-tls'
const KINDS = [
  ['mutatingwebhookconfiguration', 'guard-runguard-mutating'],
  ['validatingwebhookconfiguration', 'guard-runguard-validating'],
] as const
const PEOPLE = ['mutate.runguard.proompteng.ai', 'validate.runguard.proompteng.ai']

const processes: ManagedProcess[] = []
t.teardown(async () => {
  for (const p of processes) await p.stop(10_000)
})

async function policies(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [kind, name] of KINDS) for (const w of (await json<Configuration>(['get', kind, name])).webhooks) out[w.name] = w.failurePolicy
  return out
}

async function metricsText(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  return response.text()
}

await kubectl(['create', 'namespace', RUNS])
const install = await helm(['install', 'guard', CHART_DIR, '--namespace', NS, '--create-namespace', '--set', 'crds.install=true'])
if (!/STATUS: deployed/.test(install.stdout)) throw new Error(`helm install: ${install.stdout}`)
await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/agentruns.agents.proompteng.ai'])

const deployment = await json<K8sObject & { spec: { template: { spec: { containers: Container[] } } } }>(['get', '-n', NS, 'deployment', 'guard-runguard'])
const container = deployment.spec.template.spec.containers.find((c) => c.name === 'webhook')!
const [portA = 0, metricsA = 0, portB = 0, metricsB = 0] = await freePorts(4)

function startReplica(pod: string, port: number, metricsPort: number): ManagedProcess {
  const env = envOf(container, { name: pod, namespace: NS })
  // The chart's args; the mounted Secret folder does not exist here (the volume is optional and
  // nothing synced it yet), as on a first install.
  const args = (container.args ?? []).map((a) =>
    a.startsWith('--port=') ? `--port=${port}` : a.startsWith('--host=') ? '--host=127.0.0.1' : a.startsWith('--metrics-port=') ? `--metrics-port=${metricsPort}` : a.replace('/tls/', join(cp.workDir, 'no-tls-mount') + '/'),
  )
  const p = startProcess({
    name: `runguard-webhook-${pod}`,
    command: process.execPath,
    args: ['--', join(REPO_ROOT, 'src', 'cli.ts'), ...args, '--tls-ip', '127.0.0.1', '--kubeconfig', cp.kubeconfigPath],
    logPath: join(cp.workDir, `runguard-webhook-${pod}.log`),
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  processes.push(p)
  return p
}

t.test('1. the Lease holder writes the Secret, injects the CA and arms; both replicas serve the Secret\'s pair', async (t) => {
  const env = envOf(container, { name: 'x', namespace: NS })
  t.equal(env.RUNGUARD_TLS_MODE, 'self-managed')
  t.equal(env.RUNGUARD_TLS_SECRET_NAME, 'guard-runguard-webhook-tls')
  const a = startReplica('guard-runguard-a', portA, metricsA)
  await waitForHttpReady(metricsA, 'replica a', a, 60_000)
  const b = startReplica('guard-runguard-b', portB, metricsB)
  await waitForHttpReady(metricsB, 'replica b', b, 60_000)
  t.pass('both replicas ready')

  const secret = await json<Secret>(['get', '-n', NS, 'secret', 'guard-runguard-webhook-tls'])
  t.equal(secret.type, 'kubernetes.io/tls')
  t.same(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'])
  const service = await json<K8sObject & { metadata: { uid: string } }>(['get', '-n', NS, 'service', 'guard-runguard-webhook'])
  t.same(secret.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'guard-runguard-webhook', uid: service.metadata.uid }], 'owned by the webhook Service (deleted with it)')
  const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'))
  for (const name of [`guard-runguard-webhook.${NS}.svc`, `guard-runguard-webhook.${NS}.svc.cluster.local`, 'guard-runguard-webhook', `guard-runguard-webhook.${NS}`]) {
    t.ok(leaf.subjectAltName?.includes(`DNS:${name}`), `serving certificate covers ${name}`)
  }
  const ca = new X509Certificate(Buffer.from(secret.data['ca.crt']!, 'base64'))
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'signed by the CA in ca.crt')

  const lease = await json<K8sObject & { spec: { holderIdentity: string } }>(['get', '-n', NS, 'lease', 'guard-runguard-webhook-tls'])
  t.match(lease.spec.holderIdentity, /^guard-runguard-a_/, 'replica a holds the TLS Lease')

  // Both replicas serve the Secret's certificate (the reader got it through the API).
  for (const port of [portA, portB]) {
    const { connect } = await import('node:tls')
    const served = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
        socket.end()
      })
      socket.on('error', reject)
    })
    t.equal(served, leaf.fingerprint256, `port ${port} serves the Secret's certificate`)
  }

  // Arming waits for a ready endpoint behind the Service (there is no kubelet to publish one).
  await new Promise((r) => setTimeout(r, 3_000))
  t.same(await policies().then((p) => PEOPLE.map((w) => p[w])), ['Ignore', 'Ignore'], 'not armed while the Service has no ready endpoint')
  t.match(await metricsText(metricsA), /runguard_webhook_armed\{configuration="guard-runguard-validating",webhook="validate\.runguard\.proompteng\.ai"\} 0/, 'armed gauge 0')
  // The kubelet's and the EndpointSlice controller's job: a ready endpoint for the Service.
  await cp.apply(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: guard-runguard-webhook-test
  namespace: ${NS}
  labels: {kubernetes.io/service-name: guard-runguard-webhook, endpointslice.kubernetes.io/managed-by: test}
addressType: IPv4
ports: [{name: https, port: 8443, protocol: TCP}]
endpoints: [{addresses: [10.0.0.10], conditions: {ready: true}}]
`)
  const caBundle = secret.data['ca.crt']
  await waitUntil('CA injected and people webhooks armed', { timeoutMs: 30_000, intervalMs: 500 }, async () => {
    const p = await policies()
    return PEOPLE.every((w) => p[w] === 'Fail') ? true : undefined
  })
  for (const [kind, name] of KINDS) {
    const c = await json<Configuration>(['get', kind, name])
    for (const w of c.webhooks) {
      t.equal(w.clientConfig.service?.name, 'guard-runguard-webhook', `${w.name}: points at the Service`)
      t.equal(w.clientConfig.caBundle, caBundle, `${w.name}: CA injected`)
    }
  }
  t.same(await policies(), {
    'mutate.runguard.proompteng.ai': 'Fail',
    'controllers.mutate.runguard.proompteng.ai': 'Ignore',
    'jobs.mutate.runguard.proompteng.ai': 'Ignore',
    'validate.runguard.proompteng.ai': 'Fail',
    'controllers.validate.runguard.proompteng.ai': 'Ignore',
  }, 'people webhooks armed to Fail; controller copies and the Job webhook stay Ignore')
  const metrics = await metricsText(metricsA)
  t.match(metrics, /runguard_webhook_armed\{configuration="guard-runguard-validating",webhook="validate\.runguard\.proompteng\.ai"\} 1/, 'armed gauge')
  t.match(a.logTail(), /webhook armed/, 'a log line on arming')
})

t.test('2. end to end: a person\'s invalid AgentRun is denied', async (t) => {
  // kube-proxy's job: route the entries to replica a, keeping the injected caBundle.
  for (const [kind, name] of KINDS) {
    const c = await json<Configuration>(['get', kind, name])
    const patch = c.webhooks.flatMap((w, i) => [
      { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
      { op: 'remove', path: `/webhooks/${i}/clientConfig/service` },
      { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: `https://127.0.0.1:${portA}${w.clientConfig.service?.path}` },
    ])
    await kubectl(['patch', kind, name, '--type=json', '-p', JSON.stringify(patch)])
  }
  const invalid = JSON.stringify({
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name: 'dup-steps', namespace: RUNS },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'hello-spec' }, runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'plan' }, { name: 'plan' }] } },
  })
  const denied = await waitUntil('the invalid run to be denied by the webhook', { timeoutMs: 30_000, intervalMs: 500 }, async () => {
    const r = await kubectl(['create', '-f', '-'], { input: invalid, allowFailure: true })
    return r.code !== 0 && /admission webhook "validate\.runguard\.proompteng\.ai" denied the request/.test(r.stderr) ? r : undefined
  })
  t.match(denied.stderr, /Duplicate value: "plan"/, `denied: ${denied.stderr.trim()}`)
})

t.test('3. a helm-upgrade-style reset to Ignore is re-armed within seconds', async (t) => {
  const c = await json<Configuration>(['get', 'validatingwebhookconfiguration', 'guard-runguard-validating'])
  const i = c.webhooks.findIndex((w) => w.name === 'validate.runguard.proompteng.ai')
  await kubectl(['patch', 'validatingwebhookconfiguration', 'guard-runguard-validating', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: 'Ignore' }])])
  t.equal((await policies())['validate.runguard.proompteng.ai'], 'Ignore', 'reset to the chart\'s Ignore')
  const started = Date.now()
  await waitUntil('re-armed', { timeoutMs: 20_000, intervalMs: 250 }, async () => ((await policies())['validate.runguard.proompteng.ai'] === 'Fail' ? true : undefined))
  const seconds = (Date.now() - started) / 1000
  t.ok(seconds < 15, `re-armed after ${seconds.toFixed(1)} s`)
})

t.test('4. CA rotation with overlap: the new CA is injected before the serving certificate moves to it', async (t) => {
  const { createCertificateAuthority, issueServingCertificate } = await import('../../src/certs/generate.ts')
  // Back to the chart's Service entries (the only ones runguard injects); traffic is not needed here.
  for (const [kind, name] of KINDS) {
    const c = await json<Configuration>(['get', kind, name])
    const patch = c.webhooks.flatMap((w, i) => [
      { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
      { op: 'remove', path: `/webhooks/${i}/clientConfig/url` },
      { op: 'add', path: `/webhooks/${i}/clientConfig/service`, value: { namespace: NS, name: 'guard-runguard-webhook', path: new URL(w.clientConfig.url!).pathname, port: 443 } },
    ])
    await kubectl(['patch', kind, name, '--type=json', '-p', JSON.stringify(patch)])
  }
  // A CA that expires inside renewBefore (30 days), and a serving certificate it signed.
  const oldCa = await createCertificateAuthority({ commonName: 'old-ca', days: 10 })
  const oldLeaf = await issueServingCertificate(oldCa, { dnsNames: [`guard-runguard-webhook.${NS}.svc`, `guard-runguard-webhook.${NS}.svc.cluster.local`, 'guard-runguard-webhook', `guard-runguard-webhook.${NS}`], ipAddresses: ['127.0.0.1'], days: 5 })
  const b64 = (text: string) => Buffer.from(text).toString('base64')
  const current = await json<Secret>(['get', '-n', NS, 'secret', 'guard-runguard-webhook-tls'])
  await kubectl(['replace', '-f', '-'], {
    input: JSON.stringify({ ...current, data: { 'tls.crt': b64(oldLeaf.certPem), 'tls.key': b64(oldLeaf.keyPem), 'ca.crt': b64(oldCa.certPem), 'ca.key': b64(oldCa.keyPem) } }),
  })
  const oldCaCert = new X509Certificate(oldCa.certPem)
  const certsOf = (bundle: string | undefined) =>
    (Buffer.from(bundle ?? '', 'base64').toString().match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem))

  // Step 1 (observed while it lasts, one pass): two CAs in ca.crt, the old serving certificate kept.
  let sawOverlap = false
  const final = await waitUntil('the serving certificate to move to the new CA', { timeoutMs: 60_000, intervalMs: 200 }, async () => {
    const s = await json<Secret>(['get', '-n', NS, 'secret', 'guard-runguard-webhook-tls'])
    const bundle = certsOf(s.data['ca.crt'])
    const leaf = new X509Certificate(Buffer.from(s.data['tls.crt']!, 'base64'))
    if (bundle.length === 2 && leaf.fingerprint256 === new X509Certificate(oldLeaf.certPem).fingerprint256) sawOverlap = true
    return bundle.length === 2 && !leaf.checkIssued(oldCaCert) ? { s, bundle, leaf } : undefined
  })
  t.ok(sawOverlap, 'observed the overlap step: both CAs in ca.crt while the old serving certificate was still served')
  const [newCa] = final.bundle
  t.not(newCa!.fingerprint256, oldCaCert.fingerprint256, 'new CA first in the bundle')
  t.ok(final.bundle.some((c) => c.fingerprint256 === oldCaCert.fingerprint256), 'old CA still in the bundle (until it expires)')
  t.ok(final.leaf.checkIssued(newCa!) && final.leaf.verify(newCa!.publicKey), 'serving certificate now from the new CA')
  for (const [kind, name] of KINDS) {
    for (const w of (await json<Configuration>(['get', kind, name])).webhooks) {
      const trusted = certsOf(w.clientConfig.caBundle).map((c) => c.fingerprint256)
      t.ok(trusted.includes(newCa!.fingerprint256) && trusted.includes(oldCaCert.fingerprint256), `${w.name}: caBundle trusts both CAs`)
    }
  }
  // Both replicas pick the new pair up through the API.
  for (const port of [portA, portB]) {
    const { connect } = await import('node:tls')
    await waitUntil(`port ${port} to serve the new certificate`, { timeoutMs: 20_000, intervalMs: 500 }, async () => {
      const served = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
          socket.end()
        })
        socket.on('error', reject)
      })
      return served === final.leaf.fingerprint256 ? true : undefined
    })
    t.pass(`port ${port} serves the serving certificate from the new CA`)
  }
})

t.test('5. the replica without the Lease hot-reloads a Secret write through its watch, not a poll', async (t) => {
  const { issueServingCertificate } = await import('../../src/certs/generate.ts')
  const current = await json<Secret>(['get', '-n', NS, 'secret', 'guard-runguard-webhook-tls'])
  const pem = (key: string) => Buffer.from(current.data[key]!, 'base64').toString()
  // A new serving certificate from the current CA (first in ca.crt, key in ca.key), valid long
  // enough that the Lease holder keeps it.
  const caPem = pem('ca.crt').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)![0]
  const leaf = await issueServingCertificate({ certPem: caPem, keyPem: pem('ca.key') }, { dnsNames: [`guard-runguard-webhook.${NS}.svc`, `guard-runguard-webhook.${NS}.svc.cluster.local`, 'guard-runguard-webhook', `guard-runguard-webhook.${NS}`], ipAddresses: ['127.0.0.1'], days: 300 })
  const fingerprint = new X509Certificate(leaf.certPem).fingerprint256
  const b64 = (text: string) => Buffer.from(text).toString('base64')
  const { connect } = await import('node:tls')
  const served = (port: number) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
        socket.end()
      })
      socket.on('error', reject)
    })
  const lease = await json<K8sObject & { spec: { holderIdentity: string } }>(['get', '-n', NS, 'lease', 'guard-runguard-webhook-tls'])
  const readerPort = lease.spec.holderIdentity.startsWith('guard-runguard-a_') ? portB : portA
  const written = Date.now()
  await kubectl(['replace', '-f', '-'], { input: JSON.stringify({ ...current, data: { ...current.data, 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem) } }) })
  await waitUntil('the reader to serve the written certificate', { timeoutMs: 20_000, intervalMs: 50 }, async () => ((await served(readerPort)) === fingerprint ? true : undefined))
  const ms = Date.now() - written
  t.comment(`figure: Secret write → served by the replica without the Lease in ${ms} ms`)
  // The poll this replaced came every 5 s; a watch delivers the write at once.
  t.ok(ms < 2_500, `served ${ms} ms after the write (a 5 s poll would average 2.5 s)`)
  const reader = processes[readerPort === portB ? 1 : 0]!
  t.match(reader.logTail(100_000), /TLS Secret listed; watching it/, 'the reader watches the Secret')
  t.notMatch(reader.logTail(100_000), /TLS Secret list\/watch failed/, 'with no failed list or watch')
})
