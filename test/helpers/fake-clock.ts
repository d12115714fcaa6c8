/**
 * A manual clock for the reconciler machinery: timers run only when a test advances time, and
 * every promise chain they start is flushed before the next timer runs.
 */
import type { Registry } from 'prom-client'
import type { Clock, TimerHandle } from '../../src/controller/clock.ts'

interface Timer {
  id: number
  at: number
  callback: () => void
}

/** Lets every pending promise continuation run (they only wait on microtasks and this clock). */
export async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

export class FakeClock implements Clock {
  time: number
  private timers: Timer[] = []
  private nextId = 1

  constructor(start = Date.parse('2026-11-23T11:00:00Z')) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), callback }
    this.timers.push(timer)
    return { timer: timer.id }
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.timer)
  }

  pendingTimers(): number {
    return this.timers.length
  }

  /** Moves time forward by `ms`, running due timers in order and flushing promises after each. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms
    await flush()
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (!due) break
      this.timers = this.timers.filter((t) => t !== due)
      this.time = Math.max(this.time, due.at)
      due.callback()
      await flush()
    }
    this.time = target
    await flush()
  }
}

/** The value of one series of a metric (`suffix` picks a histogram's _count/_sum). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}, suffix = ''): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const data = await metric.get()
  const values = data.values as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>
  const found = values.find(
    (v) =>
      (suffix === '' ? v.metricName === undefined || v.metricName === name : v.metricName === name + suffix) &&
      Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value),
  )
  return found?.value
}
