/**
 * The webhook must stay within 100 MiB RSS, and @kubernetes/client-node alone costs ~85 MiB: the
 * webhook's module graph (src/cmd/webhook.ts and everything it imports) must not load it. The
 * probe (test/helpers/module-probe.ts) imports a module in a fresh `node` and sees every module it
 * resolves, and the RSS it adds.
 */
import t from 'tap'
import { clientNodeModules, MiB, probe, rssDeltaMiB } from '../helpers/module-probe.ts'

t.test('the probe sees client-node when a module does load it', async (t) => {
  const fallback = await probe('src/kube/client.ts')
  t.ok(clientNodeModules(fallback).length > 0, `${clientNodeModules(fallback).length} client-node modules seen`)
  t.comment(`src/kube/client.ts (the reconciler's client-node fallback): +${rssDeltaMiB(fallback).toFixed(1)} MiB RSS`)
})

for (const path of ['src/cmd/webhook.ts', 'src/events/recorder.ts', 'src/events/transport.ts', 'src/kube/rest.ts']) {
  t.test(`${path} does not load @kubernetes/client-node`, async (t) => {
    const result = await probe(path)
    t.ok(result.resolved.some((url) => url.endsWith(path)), 'the module itself was seen')
    t.same(clientNodeModules(result), [])
    const delta = rssDeltaMiB(result)
    t.comment(`${path}: ${result.resolved.length} modules, +${delta.toFixed(1)} MiB RSS (total ${(result.rssAfter / MiB).toFixed(1)} MiB)`)
    // client-node alone is ~80 MiB here; the whole webhook graph measured ~42 MiB.
    t.ok(delta < 60, `import cost ${delta.toFixed(1)} MiB stays well below client-node's ~80 MiB`)
  })
}
