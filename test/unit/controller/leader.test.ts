import t from 'tap'
import { createMetrics } from '../../../src/metrics.ts'
import { leaseIdentity, startLeaseElection as runLeaderElection, type LeaderElectionConfig, type LeaderElector, type StoppedReason } from '../../../src/controller/elector.ts'
import type { LeaseClient, LeaseRecord } from '../../../src/controller/lease-types.ts'
import { formatMicroTime } from '../../../src/status/rfc3339.ts'
import { FakeClock, flush, metricValue } from '../../helpers/fake-clock.ts'

const micro = (ms: number): string => formatMicroTime(new Date(ms))

const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

class ApiError extends Error {
  readonly code: number
  constructor(code: number, message: string) {
    super(message)
    this.code = code
  }
}

/** The Lease as the API server keeps it: resourceVersion checks, 404 and 409. */
class FakeLease implements LeaseClient {
  record: LeaseRecord | undefined
  rv = 0
  /** When set, every call fails with it. */
  failWith: Error | undefined
  /** When true, calls never answer. */
  hang = false
  writes: LeaseRecord[] = []

  private guard(): Promise<void> {
    if (this.hang) return new Promise(() => {})
    if (this.failWith) return Promise.reject(this.failWith)
    return Promise.resolve()
  }

  async get(): Promise<LeaseRecord | undefined> {
    await this.guard()
    return this.record ? { ...this.record } : undefined
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    await this.guard()
    if (this.record) throw new ApiError(409, 'leases "runguard" already exists')
    return this.store(record)
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    await this.guard()
    if (!this.record) throw new ApiError(404, 'not found')
    if (record.resourceVersion !== this.record.resourceVersion) throw new ApiError(409, 'the object has been modified')
    return this.store(record)
  }

  /** Another process writing the Lease directly. */
  set(record: Omit<LeaseRecord, 'resourceVersion'>): void {
    this.store(record)
  }

  private store(record: LeaseRecord): LeaseRecord {
    this.record = { ...record, resourceVersion: String(++this.rv) }
    this.writes.push({ ...this.record })
    return { ...this.record }
  }
}

const config: LeaderElectionConfig = { namespace: 'runguard-system', name: 'runguard-reconciler', durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 }

interface Harness {
  elector: LeaderElector
  started: AbortSignal[]
  stopped: StoppedReason[]
  leaders: string[]
  gauge: () => Promise<number | undefined>
}

function elect(lease: FakeLease, clock: FakeClock, identity: string): Harness {
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const started: AbortSignal[] = []
  const stopped: StoppedReason[] = []
  const leaders: string[] = []
  const elector = runLeaderElection({
    config,
    leaseClient: lease,
    identity,
    clock,
    metrics,
    random: () => 0,
    onStartedLeading: (signal) => void started.push(signal),
    onStoppedLeading: (reason) => void stopped.push(reason),
    onNewLeader: (id) => void leaders.push(id),
  })
  return { elector, started, stopped, leaders, gauge: () => metricValue(metrics.registry, 'runguard_leader') }
}

t.test('identities', async (t) => {
  const id = leaseIdentity('runguard-0')
  t.match(id, /^runguard-0_[0-9a-f]{8}$/)
  t.not(leaseIdentity('runguard-0'), id, 'random suffix')
})

t.test('acquires a free (absent) lease at once', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const h = elect(lease, clock, 'me')
  await flush()
  t.ok(h.elector.isLeader())
  t.equal(h.started.length, 1)
  t.equal(await h.gauge(), 1)
  t.equal(lease.record?.holderIdentity, 'me')
  t.equal(lease.record?.leaseDurationSeconds, 15)
  t.equal(lease.record?.leaseTransitions, 0)
  t.match(lease.record?.acquireTime, MICROTIME)
  t.equal(lease.record?.acquireTime, '2026-11-23T11:00:00.000000Z')
  t.equal(lease.record?.renewTime, lease.record?.acquireTime)
  t.same(h.leaders, ['me'])
  await clock.advance(2000)
  t.equal(lease.record?.renewTime, '2026-11-23T11:00:02.000000Z', 'renewed every retry period')
  t.equal(lease.record?.acquireTime, '2026-11-23T11:00:00.000000Z', 'acquireTime kept on renewal')
  await clock.advance(20_000)
  t.ok(h.elector.isLeader(), 'still leading')
  t.equal(lease.record?.leaseTransitions, 0)
  await h.elector.stop()
})

t.test('takes a released lease (empty holder) at once and counts the transition', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  lease.set({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 4, renewTime: micro(clock.now()) })
  const h = elect(lease, clock, 'me')
  await flush()
  t.ok(h.elector.isLeader())
  t.equal(lease.record?.leaseTransitions, 5)
  t.equal(lease.record?.leaseDurationSeconds, 15)
  await h.elector.stop()
})

t.test('does not acquire a lease that is held and fresh', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  lease.set({ holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 2, renewTime: micro(clock.now()) })
  const h = elect(lease, clock, 'me')
  // The other holder renews every 2 s for a minute.
  for (let i = 0; i < 30; i++) {
    await clock.advance(2000)
    lease.set({ ...lease.record!, renewTime: micro(clock.now()) })
    t.notOk(h.elector.isLeader())
  }
  t.equal(h.started.length, 0)
  t.equal(await h.gauge(), 0)
  t.equal(h.elector.observedLeader(), 'other')
  t.same(h.leaders, ['other'])
  t.ok(lease.writes.every((w) => w.holderIdentity === 'other'), 'never wrote the lease')
  await h.elector.stop()
  t.same(h.stopped, [], 'onStoppedLeading only follows leading')
})

t.test('takes over a lease whose holder stopped renewing, after leaseDuration on our clock', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  // The renewTime claims "just now" (the holder's clock may be skewed): expiry is judged by our clock.
  lease.set({ holderIdentity: 'dead', leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: micro(clock.now() - 60_000), renewTime: micro(clock.now() + 3_600_000) })
  const start = clock.now()
  const h = elect(lease, clock, 'me')
  while (!h.elector.isLeader() && clock.now() - start < 60_000) await clock.advance(100)
  const took = clock.now() - start
  t.ok(h.elector.isLeader())
  t.ok(took >= 15_000, `not before the lease expired (${took} ms)`)
  t.ok(took <= 15_000 + 2_000, `within leaseDuration + retryPeriod of first seeing it (${took} ms)`)
  t.equal(lease.record?.holderIdentity, 'me')
  t.equal(lease.record?.leaseTransitions, 4, 'transitions incremented on takeover')
  t.equal(lease.record?.acquireTime, micro(start + took), 'acquireTime is the takeover time')
  t.same(h.leaders, ['dead', 'me'])
  await h.elector.stop()
})

t.test('a lost create race (409) leaves the winner alone', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const realGet = lease.get.bind(lease)
  let first = true
  lease.get = async () => {
    const result = await realGet()
    if (first) {
      first = false
      // Someone else creates the Lease between our read and our create.
      lease.set({ holderIdentity: 'fast', leaseDurationSeconds: 15, leaseTransitions: 0, renewTime: micro(clock.now()) })
    }
    return result
  }
  const h = elect(lease, clock, 'me')
  await clock.advance(0)
  t.notOk(h.elector.isLeader())
  t.equal(lease.record?.holderIdentity, 'fast')
  await h.elector.stop()
})

t.test('two electors on one lease: exactly one leads; the other takes over when it is released', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const a = elect(lease, clock, 'a')
  const b = elect(lease, clock, 'b')
  for (let i = 0; i < 20; i++) {
    await clock.advance(1000)
    t.equal([a, b].filter((h) => h.elector.isLeader()).length, 1, `one leader at ${i} s`)
  }
  const [leader, follower] = a.elector.isLeader() ? [a, b] : [b, a]
  const transitions = lease.record!.leaseTransitions
  await leader.elector.stop()
  t.same(leader.stopped, ['stopped'])
  t.equal(await leader.gauge(), 0)
  t.ok(leader.started[0]?.aborted, 'the leading signal was aborted')
  t.equal(lease.record?.holderIdentity, '', 'released: holder cleared')
  t.equal(lease.record?.leaseDurationSeconds, 1, 'released: duration 1 s')
  t.equal(lease.record?.leaseTransitions, transitions, 'release does not count a transition')
  const releasedAt = clock.now()
  while (!follower.elector.isLeader()) await clock.advance(100)
  t.ok(clock.now() - releasedAt <= 2_000, 'the peer takes over at its next retry')
  t.equal(lease.record?.leaseTransitions, transitions + 1)
  await follower.elector.stop()
})

t.test('stop({release: false}) leaves the lease to expire (a crash)', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const a = elect(lease, clock, 'a')
  await flush()
  t.ok(a.elector.isLeader())
  const b = elect(lease, clock, 'b')
  await clock.advance(3000)
  await a.elector.stop({ release: false })
  t.equal(lease.record?.holderIdentity, 'a', 'not released')
  const diedAt = clock.now()
  while (!b.elector.isLeader()) await clock.advance(100)
  const took = clock.now() - diedAt
  t.ok(took >= 15_000 - 2_000 && took <= 15_000 + 2 * 2_000, `b took over after the lease expired (${took} ms)`)
  await b.elector.stop()
})

t.test('stops leading when renewals fail past the renew deadline', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const h = elect(lease, clock, 'me')
  await flush()
  t.ok(h.elector.isLeader())
  await clock.advance(4000)
  lease.failWith = new Error('connect ECONNREFUSED')
  const failedAt = clock.now()
  while (h.elector.isLeader() && clock.now() - failedAt < 60_000) await clock.advance(100)
  const after = clock.now() - failedAt
  t.notOk(h.elector.isLeader())
  t.ok(after >= 10_000 - 2_000 && after <= 10_000 + 100, `gave up at the renew deadline after the last renewal (${after} ms)`)
  t.same(h.stopped, ['lost'])
  t.ok(h.started[0]?.aborted)
  t.equal(await h.gauge(), 0)
  await h.elector.done
  lease.failWith = undefined
  await clock.advance(60_000)
  t.notOk(h.elector.isLeader(), 'does not compete again: the process is expected to exit')
  t.same(h.stopped, ['lost'], 'called once')
})

t.test('a hanging API call does not stretch the renew deadline', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const h = elect(lease, clock, 'me')
  await flush()
  await clock.advance(2000)
  lease.hang = true
  const hungAt = clock.now()
  while (h.elector.isLeader() && clock.now() - hungAt < 60_000) await clock.advance(100)
  t.ok(clock.now() - hungAt <= 10_000, `lost within the renew deadline (${clock.now() - hungAt} ms)`)
  t.same(h.stopped, ['lost'])
})

t.test('stops leading at once when another holder has the lease', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const h = elect(lease, clock, 'me')
  await flush()
  lease.set({ holderIdentity: 'usurper', leaseDurationSeconds: 15, leaseTransitions: 9, renewTime: micro(clock.now()) })
  await clock.advance(2000)
  t.notOk(h.elector.isLeader())
  t.same(h.stopped, ['lost'])
  t.equal(lease.record?.holderIdentity, 'usurper', 'we did not fight back')
})

t.test('transient renewal failures within the deadline are tolerated', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  const h = elect(lease, clock, 'me')
  await flush()
  lease.failWith = new Error('blip')
  await clock.advance(6000)
  t.ok(h.elector.isLeader())
  lease.failWith = undefined
  await clock.advance(20_000)
  t.ok(h.elector.isLeader())
  t.same(h.stopped, [])
  await h.elector.stop()
})

t.test('stop while waiting to acquire ends quietly', async (t) => {
  const clock = new FakeClock()
  const lease = new FakeLease()
  lease.set({ holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 0, renewTime: micro(clock.now()) })
  const h = elect(lease, clock, 'me')
  await clock.advance(3000)
  await h.elector.stop()
  t.same(h.stopped, [])
  t.equal(lease.record?.holderIdentity, 'other')
  t.equal(clock.pendingTimers(), 0)
})

t.test('settings are validated', async (t) => {
  const lease = new FakeLease()
  const base = { leaseClient: lease, identity: 'a', onStartedLeading: () => {}, onStoppedLeading: () => {} }
  t.throws(() => runLeaderElection({ ...base, config: { ...config, renewDeadlineSeconds: 20 } }), RangeError)
})
