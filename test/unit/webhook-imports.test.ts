/**
 * The webhook must stay within 100 MiB RSS, and @kubernetes/client-node alone costs ~85 MiB: the
 * webhook's module graph (src/cmd/webhook.ts and everything it imports) must not load it. The
 * probe (test/helpers/module-probe.ts) imports a module in a fresh `node` and sees every module it
 * resolves, and the RSS it adds (that it does see client-node where it is loaded:
 * reconciler-imports.test.ts).
 */
import t from 'tap'
import { checkNoClientNode } from '../helpers/module-probe.ts'

for (const path of ['src/cmd/webhook.ts', 'src/events/recorder.ts', 'src/events/transport.ts', 'src/kube/rest.ts']) {
  // The whole webhook graph measured ~42 MiB here.
  t.test(`${path} does not load @kubernetes/client-node`, (t) => checkNoClientNode(t, path, 60))
}
