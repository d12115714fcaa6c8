import t from 'tap'
import { MAX_TIMER_MS, realClock } from '../../../src/controller/clock.ts'

t.test('delays beyond 2^31-1 ms do not fire at once (Node would clamp them to 1 ms)', async (t) => {
  let fired = false
  const handle = realClock.setTimeout(() => {
    fired = true
  }, 30 * 24 * 3600 * 1000)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(fired, false)
  realClock.clearTimeout(handle)
})

t.test('ordinary delays fire, and can be cleared', async (t) => {
  let fired = 0
  realClock.setTimeout(() => fired++, 5)
  const cleared = realClock.setTimeout(() => fired++, 5)
  realClock.clearTimeout(cleared)
  await new Promise((r) => setTimeout(r, 40))
  t.equal(fired, 1)
  t.equal(MAX_TIMER_MS, 2147483647)
})
