/**
 * The API server's verdict on manifests/ (issue 6): every kustomization applies with
 * `kubectl apply --server-side --dry-run=server` (the way the README installs them) on the real 1.35
 * control plane — schema, defaulting, strict field validation
 * (kubectl's default: an unknown or misspelt field is an error), admission, and the
 * `restricted` Pod Security Standard the runguard-system namespace enforces (its `warn` label makes
 * the API server print a warning for any pod template that would violate it; we require none).
 *
 * The CRDs are installed for real first, and the namespaces the objects live in are created for real
 * (a server dry run of a Namespace does not create it, so the objects inside it would be refused).
 *
 * Not checkable here: cert-manager's Issuer/Certificate and Prometheus Operator's
 * ServiceMonitor/PrometheusRule are third-party CRDs this control plane does not have; those four
 * kinds are removed from the build before applying and each test says so in its name.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import YAML from 'yaml'
import { writeCertificateBundle } from '../../src/certs/write.ts'
import { startControlPlane } from '../harness/controlplane.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const THIRD_PARTY_KINDS = new Set(['Issuer', 'Certificate', 'ServiceMonitor', 'PrometheusRule'])

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string }
  [key: string]: unknown
}

interface Webhook {
  name: string
  clientConfig: { caBundle?: string }
}

t.test('manifests/ against the real API server (--dry-run=server)', async (t) => {
  const controlPlane = await startControlPlane({ controllerManager: false })
  t.teardown(() => controlPlane.stop())
  const kubectl = controlPlane.kubectl

  // A copy of manifests/ with the files `runguard certs` writes for the self-signed overlay.
  const work = await mkdtemp(join(tmpdir(), 'runguard-manifests-it-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  await cp(join(root, 'manifests'), join(work, 'manifests'), { recursive: true, filter: (src) => !src.endsWith(join('self-signed', 'certs')) })
  const bundle = await writeCertificateBundle(join(work, 'manifests/overlays/self-signed/certs'), { dnsNames: ['runguard-webhook.runguard-system.svc'] })
  const dir = (path: string): string => join(work, 'manifests', path)

  const build = async (path: string): Promise<K8sObject[]> => {
    const { stdout } = await kubectl(['kustomize', dir(path)])
    return YAML.parseAllDocuments(stdout).map((d) => d.toJSON() as K8sObject)
  }
  const yaml = (objects: K8sObject[]): string => objects.map((o) => YAML.stringify(o)).join('---\n')
  /** The names kubectl reports, e.g. `deployment.apps/runguard`. */
  const reported = (stdout: string): string[] => stdout.trim().split('\n').map((line) => line.split(' ')[0] ?? '')
  const expectedNames = (objects: K8sObject[]): string[] =>
    objects.map((o) => {
      const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : ''
      return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`
    })

  await t.test('setup: the CRDs installed for real, then the namespaces', async (t) => {
    await kubectl(['apply', '--server-side', '-k', join(root, 'manifests/crds')])
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/agentruns.agents.proompteng.ai', 'crd/orchestrationruns.orchestration.proompteng.ai', 'crd/toolruns.tools.proompteng.ai'])
    // runguard-system exactly as the base defines it (with its Pod Security labels).
    const namespace = (await build('base')).find((o) => o.kind === 'Namespace')
    t.ok(namespace, 'the base defines the Namespace')
    if (namespace) await kubectl(['apply', '--server-side', '-f', '-'], { input: yaml([namespace]) })
    await kubectl(['create', 'namespace', 'agents']) // namespaced mode's example namespace (the Agents chart's)
    const { stdout } = await kubectl(['get', 'namespace', 'runguard-system', '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}'])
    t.equal(stdout, 'restricted')
  })

  await t.test('base: kubectl apply --server-side -k --dry-run=server accepts every object, no warnings', async (t) => {
    const objects = await build('base')
    const result = await kubectl(['apply', '--server-side', '-k', dir('base'), '--dry-run=server'])
    t.same(reported(result.stdout).sort(), expectedNames(objects).sort(), 'every object accepted')
    t.match(result.stdout, /\(server dry run\)/)
    t.equal(result.stderr.trim(), '', 'no warnings (Pod Security restricted, deprecated fields)')
  })

  await t.test('overlays/self-signed: kubectl apply --server-side -k --dry-run=server; caBundle decodes to ca.crt', async (t) => {
    const objects = await build('overlays/self-signed')
    const result = await kubectl(['apply', '--server-side', '-k', dir('overlays/self-signed'), '--dry-run=server', '-o', 'json'])
    t.equal(result.stderr.trim(), '', 'no warnings')
    const answered = JSON.parse(result.stdout) as { items: Array<K8sObject & { webhooks?: Webhook[] }> }
    t.equal(answered.items.length, objects.length, 'every object accepted')
    const webhooks = answered.items.flatMap((o) => o.webhooks ?? [])
    t.equal(webhooks.length, 5, 'two run webhooks split by writer, plus the Job webhook')
    const caPem = bundle.caPem
    for (const w of webhooks) t.equal(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString(), caPem, `${w.name}: the API server decoded caBundle to our CA`)
    const secret = answered.items.find((o) => o.kind === 'Secret')
    t.equal(secret?.type, 'kubernetes.io/tls', 'the TLS Secret passes the kubernetes.io/tls type checks (tls.crt + tls.key)')
  })

  for (const overlay of ['overlays/cert-manager', 'overlays/namespaced']) {
    await t.test(`${overlay}: kubectl apply --server-side --dry-run=server accepts every object except cert-manager's Issuer/Certificate (third-party CRDs, not installed here)`, async (t) => {
      const all = await build(overlay)
      const objects = all.filter((o) => !THIRD_PARTY_KINDS.has(o.kind))
      t.same(
        all.filter((o) => THIRD_PARTY_KINDS.has(o.kind)).map((o) => o.kind).sort(),
        ['Certificate', 'Certificate', 'Issuer', 'Issuer'],
        'only the cert-manager objects are left out',
      )
      const result = await kubectl(['apply', '--server-side', '-f', '-', '--dry-run=server'], { input: yaml(objects) })
      t.same(reported(result.stdout).sort(), expectedNames(objects).sort(), 'every other object accepted')
      t.equal(result.stderr.trim(), '', 'no warnings')
    })
  }

  await t.test('monitoring: kubectl apply --server-side --dry-run=server accepts the dashboard ConfigMap; ServiceMonitor/PrometheusRule left out (Prometheus Operator CRDs, not installed here)', async (t) => {
    const all = await build('monitoring')
    const objects = all.filter((o) => !THIRD_PARTY_KINDS.has(o.kind))
    t.same(
      all.filter((o) => THIRD_PARTY_KINDS.has(o.kind)).map((o) => o.kind).sort(),
      ['PrometheusRule', 'ServiceMonitor'],
    )
    const result = await kubectl(['apply', '--server-side', '-f', '-', '--dry-run=server'], { input: yaml(objects) })
    t.same(reported(result.stdout), ['configmap/runguard-dashboard'])
    t.equal(result.stderr.trim(), '', 'no warnings')
  })
})
