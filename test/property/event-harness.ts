/**
 * An EventRecorder wired for the Event properties: the fake API transport, a real metrics registry,
 * a pino logger whose lines are captured, a hand-driven clock and hand-driven timers (so a 30 s
 * series flush happens when the test says, not after 30 s of waiting).
 */
import { EventRecorder, type EventRecorderOptions } from '../../src/events/recorder.ts'
import { createLogger } from '../../src/log.ts'
import { createMetrics, type Metrics } from '../../src/metrics.ts'
import { FakeTransport } from '../unit/events/fake-transport.ts'

export const T0 = Date.parse('2026-11-23T11:00:00Z')

/** setTimeout/clearTimeout over the hand-driven clock: advance() fires what falls due. */
export class ManualTimers {
  #now: () => number
  #setNow: (ms: number) => void
  #next = 1
  #due = new Map<number, { at: number; fn: () => void }>()

  constructor(clock: { now: number }) {
    this.#now = () => clock.now
    this.#setNow = (ms) => {
      clock.now = ms
    }
  }

  setTimeout = (fn: () => void, ms: number): number => {
    const id = this.#next++
    this.#due.set(id, { at: this.#now() + ms, fn })
    return id
  }

  clearTimeout = (id: unknown): void => {
    this.#due.delete(id as number)
  }

  get pending(): number {
    return this.#due.size
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now() + ms
    for (;;) {
      const next = [...this.#due].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (!next) break
      this.#due.delete(next[0])
      this.#setNow(Math.max(this.#now(), next[1].at))
      next[1].fn()
    }
    this.#setNow(end)
  }
}

export interface LogLine {
  level: string
  msg: string
  [key: string]: unknown
}

export interface EventHarness {
  recorder: EventRecorder
  transport: FakeTransport
  metrics: Metrics
  logs: LogLine[]
  /** Every log line as written, for leak checks. */
  rawLogs: string[]
  clock: { now: number }
  timers: ManualTimers
  /** runguard_events_total{reason, result}. */
  counted(reason: string, result: string): Promise<number>
}

export function eventHarness(overrides: Partial<EventRecorderOptions> & { perMin?: number } = {}): EventHarness {
  const transport = new FakeTransport()
  const metrics = createMetrics({ component: 'webhook', version: 'test', processMetrics: false })
  const logs: LogLine[] = []
  const rawLogs: string[] = []
  const logger = createLogger('debug', 'test', {
    write: (line: string) => {
      rawLogs.push(line)
      logs.push(JSON.parse(line) as LogLine)
    },
  })
  const clock = { now: T0 }
  const timers = new ManualTimers(clock)
  const { perMin, ...rest } = overrides
  const recorder = new EventRecorder({
    transport,
    config: { eventsEnabled: true, eventsRateLimitPerMin: perMin ?? 6, podName: 'runguard-webhook-7d9f8-abcde' },
    metrics,
    logger,
    component: 'runguard.proompteng.ai/webhook',
    clock: () => clock.now,
    timers,
    ...rest,
  })
  const counted = async (reason: string, result: string): Promise<number> => {
    const { values } = await metrics.events.get()
    return values.filter((v) => v.labels.reason === reason && v.labels.result === result).reduce((sum, v) => sum + v.value, 0)
  }
  return { recorder, transport, metrics, logs, rawLogs, clock, timers, counted }
}
