import t from 'tap'
import { LruTtlMap, PerKeyRateLimiter } from '../../../src/events/rate-limiter.ts'

function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let now = start
  return { now: () => now, advance: (ms) => (now += ms) }
}

t.test('LruTtlMap', async (t) => {
  t.test('keeps at most maxKeys, dropping the least recently used', async (t) => {
    const clock = manualClock()
    const map = new LruTtlMap<number>({ maxKeys: 3, idleTtlMs: 60_000, clock: clock.now })
    map.set('a', 1)
    map.set('b', 2)
    map.set('c', 3)
    t.equal(map.get('a'), 1, 'reading a makes it most recent')
    map.set('d', 4)
    t.equal(map.size, 3)
    t.equal(map.get('b'), undefined, 'b was least recently used')
    t.equal(map.get('a'), 1)
    t.equal(map.get('c'), 3)
    t.equal(map.get('d'), 4)
  })

  t.test('entries expire after idleTtlMs without use; use extends them', async (t) => {
    const clock = manualClock()
    const map = new LruTtlMap<string>({ maxKeys: 10, idleTtlMs: 1_000, clock: clock.now })
    map.set('old', 'x')
    map.set('used', 'y')
    clock.advance(600)
    t.equal(map.get('used'), 'y')
    clock.advance(600)
    t.notOk(map.has('old'), 'old expired')
    t.equal(map.get('old'), undefined)
    t.equal(map.get('used'), 'y', 'used 600 ms ago: alive')
    clock.advance(1_000)
    map.set('new', 'z')
    t.equal(map.size, 1, 'set sweeps expired entries')
  })

  t.test('memory stays bounded under many keys', async (t) => {
    const map = new LruTtlMap<number>({ maxKeys: 100 })
    for (let i = 0; i < 100_000; i++) map.set(`k${i}`, i)
    t.equal(map.size, 100)
    t.equal(map.get('k99999'), 99_999)
    t.equal(map.get('k0'), undefined)
  })

  t.test('delete and clear', async (t) => {
    const map = new LruTtlMap<number>()
    map.set('a', 1)
    t.ok(map.delete('a'))
    t.notOk(map.delete('a'))
    map.set('b', 2)
    map.clear()
    t.equal(map.size, 0)
  })
})

t.test('PerKeyRateLimiter', async (t) => {
  t.test('first occurrence passes, a burst stops at perMinute', async (t) => {
    const clock = manualClock()
    const limiter = new PerKeyRateLimiter({ perMinute: 6, clock: clock.now })
    const results = Array.from({ length: 50 }, () => limiter.tryTake('obj'))
    t.equal(results[0], true)
    t.equal(results.filter(Boolean).length, 6, '50 rapid tries: 6 allowed')
  })

  t.test('tokens come back at perMinute per minute', async (t) => {
    const clock = manualClock()
    const limiter = new PerKeyRateLimiter({ perMinute: 6, clock: clock.now })
    for (let i = 0; i < 6; i++) limiter.tryTake('obj')
    t.notOk(limiter.tryTake('obj'))
    clock.advance(9_999)
    t.notOk(limiter.tryTake('obj'), 'not yet: one token per 10 s')
    clock.advance(1)
    t.ok(limiter.tryTake('obj'), 'one token after 10 s')
    t.notOk(limiter.tryTake('obj'))
    clock.advance(10 * 60_000)
    const burst = Array.from({ length: 10 }, () => limiter.tryTake('obj')).filter(Boolean).length
    t.equal(burst, 6, 'never more than perMinute saved up')
  })

  t.test('limits are per key', async (t) => {
    const limiter = new PerKeyRateLimiter({ perMinute: 2, clock: () => 0 })
    t.ok(limiter.tryTake('a'))
    t.ok(limiter.tryTake('a'))
    t.notOk(limiter.tryTake('a'))
    t.ok(limiter.tryTake('b'), 'b has its own bucket')
  })

  t.test('sustained load: at most 2 × perMinute − 1 in any 60 s window, perMinute per minute long-run', async (t) => {
    const clock = manualClock(0)
    const limiter = new PerKeyRateLimiter({ perMinute: 6, clock: clock.now })
    const sent: number[] = []
    for (let ms = 0; ms < 10 * 60_000; ms += 100) {
      clock.advance(ms === 0 ? 0 : 100)
      if (limiter.tryTake('obj')) sent.push(clock.now())
    }
    let worst = 0
    for (const start of sent) worst = Math.max(worst, sent.filter((at) => at >= start && at < start + 60_000).length)
    t.ok(worst <= 11, `worst window ${worst}`)
    t.ok(sent.length <= 6 + 6 * 10, `${sent.length} in 10 minutes`)
  })

  t.test('idle buckets are forgotten (bounded memory) without changing the outcome', async (t) => {
    const clock = manualClock()
    const limiter = new PerKeyRateLimiter({ perMinute: 1, maxKeys: 10, idleTtlMs: 120_000, clock: clock.now })
    for (let i = 0; i < 1_000; i++) limiter.tryTake(`obj-${i}`)
    t.equal(limiter.size, 10)
    clock.advance(120_000)
    t.ok(limiter.tryTake('obj-999'), 'a full bucket after the idle time either way')
  })

  t.test('rejects a rate below 1', async (t) => {
    t.throws(() => new PerKeyRateLimiter({ perMinute: 0 }), RangeError)
    t.throws(() => new PerKeyRateLimiter({ perMinute: Number.NaN }), RangeError)
  })
})
