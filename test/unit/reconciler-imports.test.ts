/**
 * The reconciler must not pay for @kubernetes/client-node (~89 MiB RSS to import) when its
 * kubeconfig is one the lean REST client supports: the static module graph of src/cmd/reconcile.ts
 * (and of each module the REST path goes through) must not load it; client-node is reached only by
 * the dynamic imports of the fallback (src/kube/client.ts, src/controller/client-node.ts,
 * src/events/kube-transport.ts). The probe: test/helpers/module-probe.ts.
 */
import t from 'tap'
import { checkNoClientNode, clientNodeModules, probe, rssDeltaMiB } from '../helpers/module-probe.ts'

const paths = [
  'src/cmd/reconcile.ts',
  'src/kube/reconciler-api.ts',
  'src/controller/elector.ts',
  'src/controller/rest-lease-client.ts',
  'src/events/transport.ts',
  'src/reconcile/controllers.ts',
  'src/controller/informer.ts',
  'src/controller/list-watch.ts',
  'src/kube/discovery.ts',
  'src/kube/resource-client.ts',
]

for (const path of paths) {
  // The whole reconciler graph without client-node measured +47–50 MiB here.
  t.test(`${path} does not load @kubernetes/client-node`, (t) => checkNoClientNode(t, path, 70))
}

for (const path of ['src/kube/client.ts', 'src/controller/client-node.ts', 'src/events/kube-transport.ts']) {
  t.test(`the fallback's ${path} does load client-node (the probe sees it)`, async (t) => {
    const fallback = await probe(path)
    t.ok(clientNodeModules(fallback).length > 0, `${clientNodeModules(fallback).length} client-node modules seen`)
    t.comment(`${path}: +${rssDeltaMiB(fallback).toFixed(1)} MiB RSS`)
  })
}
