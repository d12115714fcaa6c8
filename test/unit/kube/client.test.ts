/** Where the reconciler's credentials come from (src/kube/client.ts). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadKubeConfig } from '../../../src/kube/client.ts'

const dir = mkdtempSync(join(tmpdir(), 'runguard-kubeconfig-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function kubeconfig(name: string, server: string): string {
  const path = join(dir, `${name}.yaml`)
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster: { server } }],
      users: [{ name, user: { token: 't' } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      'current-context': name,
    }),
  )
  return path
}

const a = kubeconfig('a', 'https://a.example:6443')
const b = kubeconfig('b', 'https://b.example:6443')

t.test('one file from the env passed in, not process.env', async (t) => {
  const loaded = loadKubeConfig({ KUBECONFIG: a })
  t.equal(loaded?.source, a)
  t.equal(loaded?.kubeConfig.getCurrentCluster()?.server, 'https://a.example:6443')
})

t.test('a list merges every file; the first file\'s context wins', async (t) => {
  const loaded = loadKubeConfig({ KUBECONFIG: `${b}:${a}` })
  t.equal(loaded?.kubeConfig.getCurrentContext(), 'b')
  t.same(loaded?.kubeConfig.getContexts().map((c) => c.name), ['b', 'a'])
})

t.test('an explicit file beats KUBECONFIG; a missing file is an error; nothing at all is undefined', async (t) => {
  t.equal(loadKubeConfig({ KUBECONFIG: a }, b)?.kubeConfig.getCurrentContext(), 'b')
  t.throws(() => loadKubeConfig({ KUBECONFIG: join(dir, 'missing.yaml') }), /does not exist/)
  t.equal(loadKubeConfig({}), undefined)
})
