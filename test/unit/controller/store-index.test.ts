/** The cache's indexes (issue 13): list() answers exactly what a scan would, through every kind of change. */
import fc from 'fast-check'
import t from 'tap'
import { KubeConfig, Watch } from '@kubernetes/client-node'
import { WATCH_IDLE_TIMEOUT_MS, WATCH_TIMEOUT_SECONDS } from '../../../src/controller/list-watch.ts'
import { matchesLabelSelector } from '../../../src/controller/selector.ts'
import { Store } from '../../../src/controller/store.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'

const NAMESPACES = ['a', 'b']
const NAMES = ['x', 'y', 'z', 'w']
const RUNS = ['r1', 'r2', 'r3']
const LABEL = 'agents.proompteng.ai/agent-run'

function obj(namespace: string, name: string, run: string | undefined, rv: number): KubeObject {
  return { metadata: { namespace, name, resourceVersion: String(rv), labels: run === undefined ? {} : { [LABEL]: run, app: 'job' } } }
}

/** What list() must return: a scan of everything cached. */
function scan(objects: Map<string, KubeObject>, namespace?: string, selector?: string): string[] {
  return [...objects.values()]
    .filter((o) => (namespace === undefined || o.metadata?.namespace === namespace) && (!selector || matchesLabelSelector(o.metadata?.labels, selector)))
    .map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`)
    .sort()
}

const change = fc.oneof(
  fc.record({ op: fc.constant('apply' as const), type: fc.constantFrom('ADDED' as const, 'MODIFIED' as const, 'DELETED' as const), ns: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...NAMES), run: fc.option(fc.constantFrom(...RUNS), { nil: undefined }) }),
  fc.record({ op: fc.constant('replace' as const), ns: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }), names: fc.subarray(NAMES), run: fc.option(fc.constantFrom(...RUNS), { nil: undefined }) }),
  fc.record({ op: fc.constant('query' as const), ns: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }), selector: fc.constantFrom(undefined, `${LABEL}=r1`, `${LABEL} in (r1,r2)`, `${LABEL}=r2,app=job`, LABEL, `!${LABEL}`, `${LABEL}!=r1`) }),
)

t.test('list() by namespace and selector equals a full scan, whatever the history of changes', async (t) => {
  fc.assert(
    fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
      const store = new Store()
      const model = new Map<string, KubeObject>()
      let rv = 1
      for (const c of changes) {
        if (c.op === 'apply') {
          const o = obj(c.ns, c.name, c.run, ++rv)
          store.apply(c.type, o)
          if (c.type === 'DELETED') model.delete(`${c.ns}/${c.name}`)
          else model.set(`${c.ns}/${c.name}`, o)
        } else if (c.op === 'replace') {
          const namespaces = c.ns === undefined ? NAMESPACES : [c.ns]
          const items = namespaces.flatMap((ns) => c.names.map((name) => obj(ns, name, c.run, ++rv)))
          store.replace(c.ns, items)
          for (const key of [...model.keys()]) if (c.ns === undefined || key.startsWith(`${c.ns}/`)) model.delete(key)
          for (const item of items) model.set(`${item.metadata?.namespace}/${item.metadata?.name}`, item)
        } else {
          const got = store.list(c.ns, c.selector).map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort()
          if (JSON.stringify(got) !== JSON.stringify(scan(model, c.ns, c.selector))) return false
        }
      }
      return store.size() === model.size
    }),
    { numRuns: 300 },
  )
  t.pass('list() matched the scan in every generated history')
})

t.test('a label change moves an object between index entries', async (t) => {
  const store = new Store()
  store.apply('ADDED', obj('a', 'x', 'r1', 1))
  t.equal(store.list('a', `${LABEL}=r1`).length, 1, 'indexed on first use')
  store.apply('MODIFIED', obj('a', 'x', 'r2', 2))
  t.equal(store.list('a', `${LABEL}=r1`).length, 0)
  t.equal(store.list('a', `${LABEL}=r2`).length, 1)
  store.apply('DELETED', obj('a', 'x', 'r2', 3))
  t.equal(store.list('a', `${LABEL}=r2`).length, 0)
  t.equal(store.list('a').length, 0)
})

t.test("every watch ends (after its bookmark) before the idle timeout cuts it: the REST watch's, and client-node's on the fallback", async (t) => {
  t.ok(WATCH_TIMEOUT_SECONDS.max * 1000 < WATCH_IDLE_TIMEOUT_MS, `${WATCH_TIMEOUT_SECONDS.max} s < ${WATCH_IDLE_TIMEOUT_MS} ms`)
  const inactivityMs: unknown = Reflect.get(new Watch(new KubeConfig()), 'requestTimeoutMs')
  t.equal(typeof inactivityMs, 'number', "client-node's Watch still has its inactivity timeout")
  t.ok(WATCH_TIMEOUT_SECONDS.max * 1000 < (inactivityMs as number), `${WATCH_TIMEOUT_SECONDS.max} s < ${inactivityMs} ms`)
  t.ok(WATCH_TIMEOUT_SECONDS.min > 2, 'long enough for the bookmark sent 2 s before the end')
})
