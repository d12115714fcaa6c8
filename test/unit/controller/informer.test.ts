import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { Informer, type InformerHandlers } from '../../../src/controller/informer.ts'
import type { ListResult, ListWatchScope, ListWatchSource, WatchEvent, WatchStream } from '../../../src/controller/list-watch.ts'
import { matchesLabelSelector } from '../../../src/controller/selector.ts'
import { TimeSlice } from '../../../src/controller/time-slice.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { FakeClock, flush, metricValue } from '../../helpers/fake-clock.ts'

interface FakeWatch {
  scope: ListWatchScope & { resourceVersion: string }
  onEvent: (event: WatchEvent) => void
  end: () => void
  fail: (err: unknown) => void
  aborted: boolean
  ended: boolean
}

/** An API server in miniature: objects with resourceVersions, list, and watches the test drives. */
class FakeSource implements ListWatchSource {
  objects = new Map<string, KubeObject>()
  rv = 100
  lists: ListWatchScope[] = []
  watches: FakeWatch[] = []
  listError: unknown

  put(namespace: string, name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}): KubeObject {
    const obj: KubeObject = { apiVersion: 'v1', kind: 'Thing', metadata: { namespace, name, labels, resourceVersion: String(++this.rv) }, spec }
    this.objects.set(`${namespace}/${name}`, obj)
    return obj
  }

  remove(namespace: string, name: string): KubeObject {
    const obj = this.objects.get(`${namespace}/${name}`)!
    this.objects.delete(`${namespace}/${name}`)
    this.rv++
    return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } }
  }

  async list(scope: ListWatchScope): Promise<ListResult> {
    this.lists.push(scope)
    if (this.listError) throw this.listError
    const items = [...this.objects.values()].filter(
      (o) => (scope.namespace === undefined || o.metadata?.namespace === scope.namespace) && (!scope.labelSelector || matchesLabelSelector(o.metadata?.labels, scope.labelSelector)),
    )
    return { items: structuredClone(items), resourceVersion: String(this.rv) }
  }

  watch(scope: ListWatchScope & { resourceVersion: string }, onEvent: (event: WatchEvent) => void): WatchStream {
    let resolve!: () => void
    let reject!: (err: unknown) => void
    const done = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const w: FakeWatch = {
      scope,
      onEvent,
      aborted: false,
      ended: false,
      end: () => {
        w.ended = true
        resolve()
      },
      fail: (err) => {
        w.ended = true
        reject(err)
      },
    }
    this.watches.push(w)
    return {
      done,
      abort: () => {
        w.aborted = true
        w.end()
      },
    }
  }

  /** The newest watch still open. */
  current(): FakeWatch {
    const open = this.watches.filter((w) => !w.ended)
    if (open.length !== 1) throw new Error(`expected one open watch, found ${open.length}`)
    return open[0]!
  }

  send(type: string, object: unknown, watch: FakeWatch = this.current()): void {
    watch.onEvent({ type, object: structuredClone(object) })
  }
}

interface Recorded {
  event: 'add' | 'update' | 'delete'
  key: string
  rv?: string | undefined
  same?: boolean
}

function record(): { events: Recorded[]; handlers: InformerHandlers } {
  const events: Recorded[] = []
  const key = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`
  return {
    events,
    handlers: {
      onAdd: (o) => events.push({ event: 'add', key: key(o), rv: o.metadata?.resourceVersion }),
      onUpdate: (a, b) => events.push({ event: 'update', key: key(b), rv: b.metadata?.resourceVersion, same: a === b }),
      onDelete: (o) => events.push({ event: 'delete', key: key(o) }),
    },
  }
}

/** Synced, and the first watch is open. */
async function synced(informer: Informer): Promise<void> {
  await informer.waitForSync()
  await flush()
}

function setup(options: { namespaces?: string[]; labelSelector?: string; resyncMs?: number } = {}) {
  const clock = new FakeClock()
  const source = new FakeSource()
  const informer = new Informer({ name: 'things', source, clock, random: () => 0.5, ...options })
  const rec = record()
  informer.addHandlers(rec.handlers)
  return { clock, source, informer, events: rec.events }
}

t.test('initial list fills the cache, emits adds, and marks the informer synced', async (t) => {
  const { source, informer, events } = setup()
  source.put('ns', 'a', { app: 'x' })
  source.put('ns', 'b', { app: 'y' })
  source.put('other', 'c')
  t.notOk(informer.hasSynced())
  let synced = false
  const waiting = informer.waitForSync().then(() => {
    synced = true
  })
  informer.start()
  await waiting
  t.ok(synced)
  t.ok(informer.hasSynced())
  t.same(
    events.map((e) => `${e.event} ${e.key}`),
    ['add ns/a', 'add ns/b', 'add other/c'],
  )
  t.equal(informer.get('ns', 'a')?.metadata?.name, 'a')
  t.equal(informer.get('ns', 'zzz'), undefined)
  t.same(informer.list('ns').map((o) => o.metadata?.name), ['a', 'b'])
  t.same(informer.list(undefined, 'app=x').map((o) => o.metadata?.name), ['a'])
  t.same(informer.list('ns', 'app in (x,y)').map((o) => o.metadata?.name), ['a', 'b'])
  t.equal(informer.list().length, 3)
  t.same(source.lists, [{}], 'one cluster-wide list')
  t.equal(source.current().scope.resourceVersion, '103', 'watch starts at the list resourceVersion')
  await informer.stop()
})

t.test('watch events keep the cache current; a closed watch resumes from the last resourceVersion', async (t) => {
  const { source, informer, events, clock } = setup()
  source.put('ns', 'a')
  informer.start()
  await synced(informer)
  events.length = 0
  await clock.advance(2000)
  source.send('ADDED', source.put('ns', 'b'))
  source.send('MODIFIED', source.put('ns', 'a', {}, { cancel: true }))
  source.send('DELETED', source.remove('ns', 'b'))
  source.send('BOOKMARK', { kind: 'Thing', metadata: { resourceVersion: '200' } })
  t.same(
    events.map((e) => `${e.event} ${e.key}`),
    ['add ns/b', 'update ns/a', 'delete ns/b'],
  )
  t.equal(informer.get('ns', 'a')?.spec?.cancel, true)
  t.equal(informer.get('ns', 'b'), undefined)
  const first = source.current()
  first.end() // the server closed the watch (timeout)
  await clock.advance(0)
  t.equal(source.watches.length, 2, 'reconnected at once')
  t.equal(source.current().scope.resourceVersion, '200', 'from the bookmark resourceVersion')
  t.equal(source.lists.length, 1, 'no relist')
  await informer.stop()
})

t.test('410 Gone as an ERROR event → relist and diff against the cache', async (t) => {
  const { source, informer, events, clock } = setup()
  source.put('ns', 'same')
  source.put('ns', 'changed')
  source.put('ns', 'deleted')
  informer.start()
  await synced(informer)
  events.length = 0
  // While we are "disconnected", the world moves on.
  source.put('ns', 'changed', {}, { v: 2 })
  source.remove('ns', 'deleted')
  source.put('ns', 'new')
  source.send('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' })
  await clock.advance(0)
  t.equal(source.lists.length, 2, 'relisted')
  t.same(
    events.map((e) => `${e.event} ${e.key}`).sort(),
    ['add ns/new', 'delete ns/deleted', 'update ns/changed'],
    'only the differences are emitted',
  )
  t.ok(source.watches[0]!.aborted, 'the expired watch was closed')
  t.equal(source.current().scope.resourceVersion, String(source.rv), 'new watch from the new list')
  t.same(informer.list().map((o) => o.metadata?.name).sort(), ['changed', 'new', 'same'])
  await informer.stop()
})

t.test('410 Gone as an HTTP status when resuming → relist', async (t) => {
  const { source, informer, events, clock } = setup()
  source.put('ns', 'a')
  informer.start()
  await synced(informer)
  events.length = 0
  source.remove('ns', 'a')
  source.current().fail(Object.assign(new Error('Gone'), { statusCode: 410 }))
  await clock.advance(0)
  t.equal(source.lists.length, 2)
  t.same(events, [{ event: 'delete', key: 'ns/a' }])
  await informer.stop()
})

t.test('other failures back off exponentially and keep the resourceVersion', async (t) => {
  const { source, informer, clock } = setup()
  source.put('ns', 'a')
  informer.start()
  await synced(informer)
  await clock.advance(5000)
  source.send('MODIFIED', source.put('ns', 'a'))
  const rv = String(source.rv)
  source.current().fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }))
  await clock.advance(799)
  t.equal(source.watches.length, 1, 'not before the backoff (800 ms at jitter 0.5)')
  await clock.advance(1)
  t.equal(source.watches.length, 2)
  t.equal(source.current().scope.resourceVersion, rv, 'resumes from the last resourceVersion')
  source.current().fail(new Error('boom'))
  await clock.advance(1599)
  t.equal(source.watches.length, 2, 'second failure waits 1600 ms')
  await clock.advance(1)
  t.equal(source.watches.length, 3)
  t.equal(source.lists.length, 1, 'no relist for transient errors')
  // A healthy watch resets the backoff.
  await clock.advance(5000)
  source.send('MODIFIED', source.put('ns', 'a'))
  source.current().fail(new Error('blip'))
  await clock.advance(800)
  t.equal(source.watches.length, 4, 'back to 800 ms')
  await informer.stop()
})

t.test('a watch ERROR event other than 410 backs off; repeated failures force a relist', async (t) => {
  const { source, informer, clock } = setup()
  informer.start()
  await synced(informer)
  const delays: number[] = []
  for (let i = 0; i < 5; i++) {
    const watches = source.watches.length
    source.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' })
    const from = clock.now()
    while (source.watches.length === watches) await clock.advance(100)
    delays.push(clock.now() - from)
  }
  t.same(delays, [800, 1600, 3200, 6400, 12800], 'exponential backoff')
  t.equal(source.lists.length, 2, 'relisted after five failed watches in a row')
  t.equal(source.watches[0]!.scope.resourceVersion, source.watches[4]!.scope.resourceVersion, 'the first four resumed')
  await informer.stop()
})

t.test('a watch that closes at once without events counts as a failure (no hot loop)', async (t) => {
  const { source, informer, clock } = setup()
  informer.start()
  await synced(informer)
  source.current().end()
  await clock.advance(0)
  t.equal(source.watches.length, 1, 'waits before reconnecting')
  await clock.advance(800)
  t.equal(source.watches.length, 2)
  await informer.stop()
})

t.test('a failing initial list is retried with backoff; waitForSync resolves once it succeeds', async (t) => {
  const { source, informer, clock } = setup()
  source.listError = Object.assign(new Error('Forbidden'), { code: 403 })
  informer.start()
  await clock.advance(0)
  t.equal(source.lists.length, 1)
  t.notOk(informer.hasSynced())
  source.listError = undefined
  await clock.advance(800)
  t.equal(source.lists.length, 2)
  t.ok(informer.hasSynced())
  await synced(informer)
  await informer.stop()
})

t.test('periodic resync re-emits update(obj, obj) for every cached object', async (t) => {
  const { source, informer, events, clock } = setup({ resyncMs: 60_000 })
  source.put('ns', 'a')
  source.put('ns', 'b')
  informer.start()
  await synced(informer)
  events.length = 0
  await clock.advance(59_999)
  t.same(events, [])
  await clock.advance(1)
  t.same(
    events.map((e) => `${e.event} ${e.key} ${e.same}`),
    ['update ns/a true', 'update ns/b true'],
  )
  await clock.advance(60_000)
  t.equal(events.length, 4, 'again each period')
  await informer.stop()
  await clock.advance(120_000)
  t.equal(events.length, 4, 'no resync after stop')
})

t.test('resync 0 disables it', async (t) => {
  const { source, informer, events, clock } = setup({ resyncMs: 0 })
  source.put('ns', 'a')
  informer.start()
  await synced(informer)
  events.length = 0
  await clock.advance(3_600_000)
  t.same(events, [])
  await informer.stop()
})

t.test('a namespace list runs one list+watch per namespace; a relist in one leaves the others alone', async (t) => {
  const { source, informer, events, clock } = setup({ namespaces: ['a', 'b'], labelSelector: 'app' })
  source.put('a', 'x', { app: '1' })
  source.put('b', 'y', { app: '1' })
  source.put('b', 'unlabelled')
  source.put('c', 'z', { app: '1' })
  informer.start()
  await synced(informer)
  t.same(source.lists, [
    { namespace: 'a', labelSelector: 'app' },
    { namespace: 'b', labelSelector: 'app' },
  ])
  t.same(informer.list().map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort(), ['a/x', 'b/y'])
  events.length = 0
  const watchA = source.watches.find((w) => w.scope.namespace === 'a')!
  source.remove('a', 'x')
  source.send('ERROR', { kind: 'Status', code: 410 }, watchA)
  await clock.advance(0)
  t.same(events, [{ event: 'delete', key: 'a/x' }], 'only namespace a was diffed')
  t.ok(informer.get('b', 'y'))
  await informer.stop()
})

t.test('hasSynced waits for every namespace', async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  let releaseB!: () => void
  const slow: ListWatchSource = {
    list: async (scope) => {
      if (scope.namespace === 'b') await new Promise<void>((resolve) => (releaseB = resolve))
      return source.list(scope)
    },
    watch: (scope, onEvent) => source.watch(scope, onEvent),
  }
  const informer = new Informer({ name: 'x', source: slow, namespaces: ['a', 'b'], clock })
  informer.start()
  await flush()
  t.notOk(informer.hasSynced(), 'b has not listed yet')
  releaseB()
  await synced(informer)
  t.ok(informer.hasSynced())
  await informer.stop()
})

t.test('handlers added late get adds for what is already cached; removal works; a throwing handler is isolated', async (t) => {
  const { source, informer, clock } = setup()
  source.put('ns', 'a')
  informer.start()
  await synced(informer)
  const late = record()
  const remove = informer.addHandlers(late.handlers)
  t.same(late.events.map((e) => `${e.event} ${e.key}`), ['add ns/a'])
  informer.addHandlers({
    onAdd: () => {
      throw new Error('handler bug')
    },
  })
  await clock.advance(2000)
  source.send('ADDED', source.put('ns', 'b'))
  t.same(late.events.map((e) => `${e.event} ${e.key}`), ['add ns/a', 'add ns/b'], 'other handlers still called')
  remove()
  source.send('ADDED', source.put('ns', 'c'))
  t.equal(late.events.length, 2)
  t.ok(informer.get('ns', 'c'), 'the informer survived the throwing handler')
  await informer.stop()
})

t.test('stop() ends the loops and rejects waitForSync; signals abort a wait', async (t) => {
  const { source, informer, clock } = setup()
  source.listError = new Error('down')
  informer.start()
  const waiting = informer.waitForSync()
  const controller = new AbortController()
  const aborted = informer.waitForSync(controller.signal)
  controller.abort()
  await t.rejects(aborted)
  await clock.advance(0)
  await informer.stop()
  await t.rejects(waiting, /stopped before it synced/)
  await t.rejects(informer.waitForSync(), /stopped/)
  const lists = source.lists.length
  await clock.advance(60_000)
  t.equal(source.lists.length, lists, 'no more lists after stop')
  t.equal(clock.pendingTimers(), 0)
})

t.test('stop() aborts the open watch', async (t) => {
  const { source, informer } = setup()
  informer.start()
  await synced(informer)
  const w = source.current()
  await informer.stop()
  t.ok(w.aborted)
})

// --- issue 13: transform, relist counter, slices ---------------------------------------------

t.test('a transform shrinks every listed object and every watch event before the cache and handlers see it', async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  const informer = new Informer<KubeObject>({
    name: 'things',
    source,
    clock,
    random: () => 0.5,
    transform: (obj): KubeObject => ({ metadata: obj.metadata ?? {}, spec: { kept: obj.spec?.kept ?? null } }),
  })
  const seen: KubeObject[] = []
  informer.addHandlers({ onAdd: (o) => seen.push(o), onUpdate: (_a, b) => seen.push(b) })
  source.put('ns', 'a', {}, { kept: 1, big: 'x'.repeat(1000) })
  informer.start()
  await synced(informer)
  await clock.advance(2000)
  source.send('MODIFIED', source.put('ns', 'a', {}, { kept: 2, big: 'y'.repeat(1000) }))
  source.send('ADDED', source.put('ns', 'b', {}, { kept: 3, big: 'z' }))
  t.same(informer.get('ns', 'a')?.spec, { kept: 2 }, 'the cache holds the transformed object')
  t.same(informer.get('ns', 'b')?.spec, { kept: 3 })
  t.same(
    seen.map((o) => o.spec),
    [{ kept: 1 }, { kept: 2 }, { kept: 3 }],
    'handlers get the transformed objects, from the list and from watch events',
  )
  await informer.stop()
})

t.test('runguard_informer_relists_total counts each list by reason; resuming from a bookmark is no relist', async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const informer = new Informer({ name: 'things', source, clock, random: () => 0.5, metrics })
  const relists = (reason: string) => metricValue(metrics.registry, 'runguard_informer_relists_total', { resource: 'things', reason })
  t.equal(await relists('expired'), 0, 'series start at zero')
  informer.start()
  await synced(informer)
  t.equal(await relists('initial'), 1)
  await clock.advance(2000)
  source.send('BOOKMARK', { kind: 'Thing', metadata: { resourceVersion: '500' } })
  source.current().end()
  await clock.advance(0)
  t.equal(source.current().scope.resourceVersion, '500', 'resumed from the bookmark')
  t.equal(source.lists.length, 1)
  t.equal(await relists('expired'), 0, 'no relist counted')
  await clock.advance(2000)
  source.send('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' })
  await clock.advance(0)
  t.equal(source.lists.length, 2)
  t.equal(await relists('expired'), 1, '410 Gone is counted as expired')
  for (let i = 0; i < 5; i++) {
    const watches = source.watches.length
    source.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' })
    while (source.watches.length === watches) await clock.advance(100)
  }
  t.equal(await relists('watch_failures'), 1, 'five failed watches in a row')
  source.listError = new Error('boom')
  source.send('ERROR', { kind: 'Status', code: 410 })
  await clock.advance(0)
  t.equal(await relists('expired'), 2)
  source.listError = undefined
  // The backoff grew with the failed watches before; wait it out.
  await clock.advance(60_000)
  t.equal(await relists('list_failed'), 1, 'the retry of a failed list')
  t.equal(await relists('initial'), 1, 'initial only once')
  await informer.stop()
})

t.test('a resync of many objects is handed out in slices: timers and I/O run between them', async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  // A zero budget: every look at the clock finds the slice used up.
  const informer = new Informer({ name: 'things', source, clock, random: () => 0.5, resyncMs: 60_000, timeSlice: new TimeSlice(0) })
  for (let i = 0; i < 1000; i++) source.put('ns', `o${i}`)
  let updates = 0
  informer.addHandlers({ onUpdate: () => updates++ })
  informer.start()
  await synced(informer)
  await clock.advance(59_999)
  t.equal(updates, 0)
  let updatesWhenImmediateRan: number | undefined
  // Fire the resync timer by hand, so nothing but the informer's own slices runs in between.
  await clock.advance(1).then(() => undefined, () => undefined)
  setImmediate(() => {
    updatesWhenImmediateRan = updates
  })
  await new Promise<void>((resolve) => {
    const check = (): void => (updates >= 1000 ? resolve() : void setImmediate(check))
    check()
  })
  t.equal(updates, 1000, 'every object resynced once')
  t.ok(updatesWhenImmediateRan !== undefined && updatesWhenImmediateRan < 1000, `the loop turned during the resync (after ${updatesWhenImmediateRan} of 1000)`)
  await informer.stop()
})

t.test('late handlers get the cached objects in slices; a short cache synchronously', async (t) => {
  const { source, informer } = setup()
  for (let i = 0; i < 250; i++) source.put('ns', `o${i}`)
  informer.start()
  await synced(informer)
  const adds: string[] = []
  informer.addHandlers({ onAdd: (o) => adds.push(o.metadata?.name ?? '') })
  t.ok(adds.length >= 100 && adds.length <= 250, `at least the first batch at once (${adds.length})`)
  await flush(5)
  t.equal(adds.length, 250, 'then the rest')
  t.equal(new Set(adds).size, 250, 'each once')
  await informer.stop()
})

t.test("a relist's changes are handed out in slices, and a watch event meanwhile waits behind them", async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  const informer = new Informer({ name: 'things', source, clock, random: () => 0.5, timeSlice: new TimeSlice(0) })
  for (let i = 0; i < 300; i++) source.put('ns', `o${i}`)
  const events: string[] = []
  informer.addHandlers({ onAdd: (o) => events.push(`add ${o.metadata?.name}`), onUpdate: (_a, b) => events.push(`update ${b.metadata?.name} ${b.metadata?.resourceVersion}`) })
  informer.start()
  await informer.waitForSync()
  // Microtasks only: the watch opens right after the list, before the next slice.
  for (let i = 0; i < 100 && source.watches.length === 0; i++) await Promise.resolve()
  t.ok(events.length < 300, `not all at once (${events.length} handed out when the watch opened)`)
  // The watch is open from the list's resourceVersion; an event for an object not handed out yet.
  const modified = source.put('ns', 'o299')
  source.send('MODIFIED', modified)
  t.notOk(events.includes(`update o299 ${modified.metadata?.resourceVersion}`), 'the event waits')
  await flush(10)
  t.equal(events.length, 301)
  t.same(events.slice(-2), ['add o299', `update o299 ${modified.metadata?.resourceVersion}`], 'in the order it happened')
  t.equal(informer.get('ns', 'o299')?.metadata?.resourceVersion, modified.metadata?.resourceVersion, 'the cache is current at once')
  await informer.stop()
})

t.test('a source that transforms page by page is trusted: each listed object is transformed once', async (t) => {
  const clock = new FakeClock()
  const source = new FakeSource()
  for (let i = 0; i < 3; i++) source.put('ns', `o${i}`, {}, { big: 'x' })
  let calls = 0
  const transform = (obj: KubeObject): KubeObject => {
    calls++
    return { metadata: obj.metadata ?? {} }
  }
  const paging: ListWatchSource = {
    list: async (scope, pageTransform) => {
      const result = await source.list(scope)
      t.equal(pageTransform, transform, 'the informer hands its transform to the source')
      return { ...result, items: result.items.map((item) => pageTransform!(item)), transformed: true }
    },
    watch: (scope, onEvent) => source.watch(scope, onEvent),
  }
  const informer = new Informer({ name: 'things', source: paging, clock, random: () => 0.5, transform })
  informer.start()
  await synced(informer)
  t.equal(calls, 3, 'once per object')
  t.same(informer.get('ns', 'o1'), { metadata: source.objects.get('ns/o1')?.metadata })
  await informer.stop()
})

t.test('isCurrent: false from a failed or expired watch until a list or a working watch; listLive reads through the source', async (t) => {
  const { source, informer, clock } = setup({ labelSelector: 'app' })
  source.put('ns', 'a', { app: 'x', run: 'r1' })
  t.notOk(informer.isCurrent(), 'not current before the first list')
  informer.start()
  await synced(informer)
  t.ok(informer.isCurrent(), 'current once listed')

  // A watch that fails: events may be missing until a watch works again.
  source.current().fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }))
  await flush()
  t.notOk(informer.isCurrent(), 'not current after a failed watch')
  await clock.advance(2000)
  t.equal(source.watches.length, 2, 'resumed after the backoff')
  t.notOk(informer.isCurrent(), 'a resumed watch that has delivered nothing yet is not yet trusted')
  source.send('MODIFIED', source.put('ns', 'a', { app: 'x', run: 'r1' }))
  t.ok(informer.isCurrent(), 'current again once the resumed watch delivers')

  // 410: not current until the relist is in.
  source.listError = new Error('the API server is restarting')
  source.send('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' })
  await clock.advance(0)
  t.notOk(informer.isCurrent(), 'not current while the relist fails')
  source.listError = undefined
  await clock.advance(5000)
  t.equal(source.lists.length, 3, 'relisted')
  t.ok(informer.isCurrent(), 'current after the relist')

  // listLive: the source's list now, within the informer's own selector and the caller's.
  source.put('ns', 'b', { app: 'y', run: 'r1' })
  source.put('ns', 'c', { run: 'r1' })
  source.put('other', 'd', { app: 'x', run: 'r1' })
  const listsBefore = source.lists.length
  t.same((await informer.listLive('ns', 'run=r1')).map((o) => o.metadata?.name).sort(), ['a', 'b'], 'labelled for the informer and the run, in that namespace')
  t.same(source.lists.slice(listsBefore), [{ namespace: 'ns', labelSelector: 'app,run=r1' }])
  t.equal(informer.get('ns', 'b'), undefined, 'the cache itself is left alone')
  await informer.stop()
})

t.test('listLive: transformed like the cache; empty for a namespace the informer does not watch', async (t) => {
  const source = new FakeSource()
  const informer = new Informer({ name: 'things', source, namespaces: ['ns'], transform: (o) => ({ metadata: o.metadata ?? {}, kept: true }) })
  source.put('ns', 'a')
  source.put('elsewhere', 'b')
  t.same((await informer.listLive('ns')).map((o) => [o.metadata?.name, o.kept]), [['a', true]])
  t.same(await informer.listLive('elsewhere'), [], 'not in its scope: no list')
  t.equal(source.lists.length, 1)
})
