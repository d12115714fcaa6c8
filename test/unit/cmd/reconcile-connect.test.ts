/**
 * connectReconciler() (src/cmd/reconcile.ts): a kubeconfig the lean REST client supports gives the
 * REST client for every call the reconciler makes — list, watch, Lease, Events, discovery, reads and
 * writes — all from one RestConfig; an exec plugin falls back to client-node with a warning; a
 * missing kubeconfig or no credentials at all are errors.
 */
import t from 'tap'
import { connectReconciler } from '../../../src/cmd/reconcile.ts'
import { JOB_RESOURCE } from '../../../src/kube/resources.ts'
import { silentLogger } from '../../../src/log.ts'
import { tlsApiServer, type SeenRequest } from '../../helpers/tls-api-server.ts'

t.test('a token kubeconfig: every call through the REST client; an exec plugin: client-node, with a warning', async (t) => {
  const api = await tlsApiServer((req: SeenRequest) => {
    if (req.url.startsWith('/apis/argoproj.io/v1alpha1')) return { status: 404, body: { kind: 'Status', code: 404 } }
    if (req.url.startsWith('/apis/batch/v1?') || req.url === '/apis/batch/v1') return { status: 200, body: { kind: 'APIResourceList', resources: [{ name: 'jobs' }, { name: 'jobs/status' }] } }
    if (req.url.includes('watch=true')) return { status: 200, body: '' }
    if (req.url.includes('/leases/')) return { status: 404, body: { kind: 'Status', code: 404 } }
    if (req.method === 'POST') return { status: 201, body: { metadata: { name: 'e1' } } }
    if (req.url.startsWith('/apis/batch/v1/jobs?')) return { status: 200, body: { kind: 'JobList', metadata: { resourceVersion: '3' }, items: [] } }
    return { status: 200, body: { kind: 'Job', metadata: { name: 'x' } } }
  })
  t.teardown(api.close)
  const write = (name: string, user: Record<string, unknown>): string => api.writeKubeconfig(name, user)

  const tokenConfig = write('token.kubeconfig', { token: 'lean' })
  const limits: number[] = []
  const lean = await connectReconciler({}, tokenConfig, silentLogger(), { onLimit: (limit) => limits.push(limit) })
  t.teardown(() => lean.close())
  t.equal(lean.client, 'rest')
  t.equal(lean.source, tokenConfig)
  t.match(await lean.api.get(JOB_RESOURCE, 'ns', 'x'), { metadata: { name: 'x' } })
  t.same(await lean.apiResources('batch', 'v1'), ['jobs', 'jobs/status'], 'discovery: the names served')
  t.equal(await lean.apiResources('argoproj.io', 'v1alpha1'), undefined, 'discovery: 404 is "not served"')
  t.same((await lean.listWatch(JOB_RESOURCE).list({})).resourceVersion, '3')
  await lean.listWatch(JOB_RESOURCE).watch({ resourceVersion: '3' }, () => {}).done
  t.equal(await lean.lease('runguard-system', 'runguard-reconciler', 2_000).get(), undefined)
  await lean.events.createCoreV1('ns', {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'e1', namespace: 'ns' },
    involvedObject: { kind: 'Job', name: 'x', namespace: 'ns' },
    reason: 'R',
    message: 'm',
    type: 'Normal',
    action: 'A',
    source: { component: 'c' },
    firstTimestamp: '2026-11-28T00:00:00Z',
    lastTimestamp: '2026-11-28T00:00:00Z',
    count: 1,
    reportingComponent: 'c',
    reportingInstance: 'i',
  })
  t.equal(api.seen.length, 7)
  for (const seen of api.seen) {
    t.equal(seen.headers['user-agent']?.startsWith('runguard/'), true, `runguard's own REST client: ${seen.method} ${seen.url}`)
    t.equal(seen.headers.authorization, 'Bearer lean')
  }
  t.ok(limits.length > 0, 'the reads and writes go through the adaptive limiter')

  const execConfig = write('exec.kubeconfig', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } })
  const warnings: unknown[] = []
  const logger = silentLogger()
  logger.warn = ((obj: unknown) => void warnings.push(obj)) as typeof logger.warn
  const fallback = await connectReconciler({}, execConfig, logger)
  t.equal(fallback.client, 'client-node', 'an exec plugin: client-node')
  t.equal(fallback.source, execConfig)
  t.match(warnings, [{ err: { message: /exec/ } }], 'with a warning naming what the REST client refused')
  fallback.close()
})

t.test('no credentials, or a kubeconfig that does not exist: an error', async (t) => {
  await t.rejects(connectReconciler({}, undefined, silentLogger()), /needs Kubernetes API access/)
  await t.rejects(connectReconciler({}, '/nonexistent/runguard.kubeconfig', silentLogger()), /does not exist/)
})
