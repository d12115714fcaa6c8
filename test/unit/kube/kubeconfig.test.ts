/**
 * src/kube/kubeconfig.ts, the one resolver behind both Kubernetes clients: precedence, a KUBECONFIG
 * list merged like kubectl, paths resolved per file, the in-cluster shape, and only the env passed in.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { resolveKubeconfig } from '../../../src/kube/kubeconfig.ts'

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-kubeconfig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function write(dir: string, name: string, doc: Record<string, unknown>): string {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', ...doc }))
  return path
}

const cluster = (name: string, server: string, extra: Record<string, unknown> = {}) => ({ name, cluster: { server, ...extra } })
const user = (name: string, fields: Record<string, unknown>) => ({ name, user: fields })
const context = (name: string, clusterName: string, userName: string) => ({ name, context: { cluster: clusterName, user: userName } })

t.test('a list merges like kubectl: the first current-context and the first of each name win', async (t) => {
  const dir = tempDir(t)
  const noContext = write(dir, 'no-context', { clusters: [cluster('shared', 'https://first')], users: [], contexts: [] })
  const second = write(dir, 'second', {
    'current-context': 'b',
    clusters: [cluster('shared', 'https://second'), cluster('b', 'https://b')],
    users: [user('b', { token: 'tb' })],
    contexts: [context('b', 'b', 'b')],
  })
  const third = write(dir, 'third', { 'current-context': 'c', clusters: [cluster('c', 'https://c')], users: [], contexts: [context('b', 'c', 'x')] })
  const resolved = resolveKubeconfig({ KUBECONFIG: [noContext, second, third].join(':') })
  t.equal(resolved?.source, [noContext, second, third].join(':'))
  t.equal(resolved?.config.currentContext, 'b', 'the first file that sets current-context')
  t.same(resolved?.config.clusters.map((c) => [c.name, (c.cluster as { server: string }).server]), [
    ['shared', 'https://first'],
    ['b', 'https://b'],
    ['c', 'https://c'],
  ])
  t.same(resolved?.config.contexts.map((c) => c.context), [{ cluster: 'b', user: 'b' }], 'context "b" from the first file naming it')
})

t.test('relative paths resolve against their own file; an exec command only when it is a path', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'one'))
  mkdirSync(join(dir, 'two'))
  const one = write(join(dir, 'one'), 'config', {
    'current-context': 'a',
    clusters: [cluster('a', 'https://a', { 'certificate-authority': 'pki/ca.crt' })],
    users: [user('a', { 'client-certificate': 'a.crt', 'client-key': '/abs/a.key', tokenFile: './token' })],
    contexts: [context('a', 'a', 'a')],
  })
  const two = write(join(dir, 'two'), 'config', {
    users: [user('local-exec', { exec: { command: './bin/creds' } }), user('path-exec', { exec: { command: 'aws' } })],
  })
  const resolved = resolveKubeconfig({}, `${one}:${two}`)!
  t.same(resolved.config.clusters[0]?.cluster, { server: 'https://a', 'certificate-authority': join(dir, 'one', 'pki', 'ca.crt') })
  t.same(resolved.config.users.map((u) => u.user), [
    { 'client-certificate': join(dir, 'one', 'a.crt'), 'client-key': '/abs/a.key', tokenFile: join(dir, 'one', 'token') },
    { exec: { command: join(dir, 'two', 'bin', 'creds') } },
    { exec: { command: 'aws' } },
  ])
})

t.test('precedence: the explicit list, then KUBECONFIG, then in-cluster; only the env passed in is read', async (t) => {
  const dir = tempDir(t)
  const a = write(dir, 'a', { 'current-context': 'a', clusters: [cluster('a', 'https://a')], users: [], contexts: [context('a', 'a', '')] })
  const b = write(dir, 'b', { 'current-context': 'b', clusters: [cluster('b', 'https://b')], users: [], contexts: [context('b', 'b', '')] })
  const sa = join(dir, 'sa')
  mkdirSync(sa)
  writeFileSync(join(sa, 'token'), 'sa-token')
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }

  t.equal(resolveKubeconfig({ ...inCluster, KUBECONFIG: a }, b, sa)?.config.currentContext, 'b', 'explicit first')
  t.equal(resolveKubeconfig({ ...inCluster, KUBECONFIG: a }, undefined, sa)?.config.currentContext, 'a', 'then KUBECONFIG')
  t.equal(resolveKubeconfig({ ...inCluster, KUBECONFIG: ':' }, undefined, sa)?.source, 'in-cluster', 'an empty list is no list')

  const saved = process.env.KUBECONFIG
  process.env.KUBECONFIG = a
  t.teardown(() => {
    if (saved === undefined) delete process.env.KUBECONFIG
    else process.env.KUBECONFIG = saved
  })
  t.equal(resolveKubeconfig({}, undefined, sa), undefined, 'process.env is not read')
})

t.test('in-cluster: the service account as one context; without ca.crt, the default roots', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'token'), 'sa-token')
  writeFileSync(join(dir, 'ca.crt'), 'CA')
  t.same(resolveKubeconfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, undefined, dir), {
    config: {
      clusters: [{ name: 'in-cluster', cluster: { server: 'https://[fd00::1]:443', 'certificate-authority': join(dir, 'ca.crt') } }],
      users: [{ name: 'in-cluster', user: { tokenFile: join(dir, 'token') } }],
      contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'in-cluster' } }],
      currentContext: 'in-cluster',
    },
    source: 'in-cluster',
  })
  rmSync(join(dir, 'ca.crt'))
  t.same(resolveKubeconfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443' }, undefined, dir)?.config.clusters[0]?.cluster, { server: 'https://10.0.0.1:6443' })
  t.equal(resolveKubeconfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, undefined, dir), undefined, 'no port')
  t.equal(resolveKubeconfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, undefined, join(dir, 'none')), undefined, 'no token')
})

t.test('errors name the file: missing, not YAML, not a mapping', async (t) => {
  const dir = tempDir(t)
  const good = write(dir, 'good', { clusters: [] })
  writeFileSync(join(dir, 'broken'), 'a: [')
  writeFileSync(join(dir, 'list'), '- 1')
  t.throws(() => resolveKubeconfig({ KUBECONFIG: `${good}:${join(dir, 'missing')}` }), { message: `kubeconfig ${join(dir, 'missing')} does not exist` })
  t.throws(() => resolveKubeconfig({}, join(dir, 'broken')), new RegExp(`^kubeconfig ${join(dir, 'broken')}: `))
  t.throws(() => resolveKubeconfig({}, join(dir, 'list')), /not a kubeconfig \(expected a YAML mapping\)/)
})
