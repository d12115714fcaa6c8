/**
 * Gives memory back once a burst is over (issue 13 goal 2, issue 14 "memory back to its baseline").
 *
 * After a burst — a cancel storm for the reconciler, a flood of large or hostile requests for the
 * webhook — V8 keeps the pages it grew into. Its own memory reducer shrinks the heap's committed
 * size a few seconds after allocation stops, but the pages themselves stay mapped: measured on the
 * webhook after 20,000 hostile requests, RSS stayed at 200 MiB (from 100) for as long as it idled,
 * 105 MiB of it in V8's 256 KiB pages against a 23 MiB heap in use. A memory-reducing collection
 * (the one V8 runs on a low-memory notification) returned it: RSS 111 MiB, in 40–130 ms.
 *
 * So, once the process has been idle for a while after its RSS grew, it asks V8 for that
 * collection — once per burst: the RSS it settles at afterwards becomes the new mark, so memory
 * that is really in use (a cache that filled, the heap V8 grows back to) never causes a second one. Idle means the event loop was
 * almost unused over each sample, so the pause lands where nothing waits on it. Node has no
 * public call for this collection other than the inspector protocol's HeapProfiler.collectGarbage,
 * reached through an in-process session (no port is opened).
 */
import { performance } from 'node:perf_hooks'
import type { Counter, Histogram } from 'prom-client'
import { realClock, type Clock, type TimerHandle } from './controller/clock.ts'
import type { Logger } from './log.ts'

/** When to collect. */
export interface IdleMemoryPolicy {
  /** How long the event loop must have been idle, in ms. */
  idleMs: number
  /** Event-loop utilisation (0–1) over a sample below which the process counts as idle. */
  idleUtilization: number
  /** RSS growth over the baseline worth a collection: at least this many bytes … */
  minGrowthBytes: number
  /** … and at least this fraction of the baseline. */
  minGrowthRatio: number
}

export const DEFAULT_IDLE_MEMORY_POLICY: Omit<IdleMemoryPolicy, 'idleMs'> = {
  idleUtilization: 0.05,
  // Below a few MiB a collection is not worth its pause; 5 % is half the goal's 10 % band.
  minGrowthBytes: 4 * 2 ** 20,
  minGrowthRatio: 0.05,
}

/** What the reducer remembers between samples. */
export interface IdleMemoryState {
  /** The mark growth is measured from: what the process holds when idle and settled. */
  baselineBytes: number
  /** When the current idle stretch began; undefined while busy. */
  idleSince?: number
  /**
   * True from a collection until the process is next busy. V8 grows its heap back to its working
   * size after a memory-reducing collection, with no work at all; that regrowth is what the process
   * holds when settled, so it raises the mark instead of counting as a new burst.
   */
  settling?: boolean
}

export interface IdleMemorySample {
  now: number
  rssBytes: number
  /** Event-loop utilisation since the previous sample. */
  utilization: number
}

/** The decision for one sample, pure: collect now or not, and the state to keep. */
export function decideIdleCollection(state: IdleMemoryState, sample: IdleMemorySample, policy: IdleMemoryPolicy): { collect: boolean; state: IdleMemoryState } {
  const busy = sample.utilization >= policy.idleUtilization
  if (state.settling && !busy) return { collect: false, state: { baselineBytes: Math.max(state.baselineBytes, sample.rssBytes), settling: true } }
  // Memory that went down by itself lowers the mark later growth is measured from.
  const baselineBytes = Math.min(state.baselineBytes, sample.rssBytes)
  if (busy) return { collect: false, state: { baselineBytes } }
  const idleSince = state.idleSince ?? sample.now
  const growth = sample.rssBytes - baselineBytes
  const grown = growth >= policy.minGrowthBytes && growth >= baselineBytes * policy.minGrowthRatio
  return { collect: grown && sample.now - idleSince >= policy.idleMs, state: { baselineBytes, idleSince } }
}

/** The collection itself: V8's memory-reducing GC, through an in-process inspector session. */
export async function collectAllAvailableGarbage(): Promise<void> {
  const { Session } = await import('node:inspector')
  const session = new Session()
  session.connect()
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())))
  } finally {
    session.disconnect()
  }
}

export interface IdleMemoryMetrics {
  idleMemoryCollections: Counter<string>
  idleMemoryCollectionSeconds: Histogram<string>
  idleMemoryReleasedBytes: Counter<string>
}

export interface IdleMemoryOptions {
  /** Seconds of idleness before collecting; 0 disables. */
  idleSeconds: number
  metrics: IdleMemoryMetrics
  log: Logger
  policy?: Partial<Omit<IdleMemoryPolicy, 'idleMs'>>
  /** How often to sample, in ms (default: a quarter of the idle time, at most 5 s). */
  intervalMs?: number
  /** Injectable for tests. */
  clock?: Clock
  rss?: () => number
  utilization?: () => number
  collect?: () => Promise<void>
}

/** Event-loop utilisation since the previous call (Node's performance.eventLoopUtilization). */
function utilizationSinceLastCall(): () => number {
  let last = performance.eventLoopUtilization()
  return () => {
    const current = performance.eventLoopUtilization()
    const delta = performance.eventLoopUtilization(current, last)
    last = current
    return delta.utilization
  }
}

/** Starts sampling; returns a stop function. Does nothing when `idleSeconds` is 0. */
export function startIdleMemoryReducer(options: IdleMemoryOptions): () => void {
  if (options.idleSeconds <= 0) return () => {}
  const policy: IdleMemoryPolicy = { ...DEFAULT_IDLE_MEMORY_POLICY, ...options.policy, idleMs: options.idleSeconds * 1000 }
  const clock = options.clock ?? realClock
  const rss = options.rss ?? (() => process.memoryUsage.rss())
  const utilization = options.utilization ?? utilizationSinceLastCall()
  const collect = options.collect ?? collectAllAvailableGarbage
  const intervalMs = options.intervalMs ?? Math.min(5_000, policy.idleMs / 4)
  let state: IdleMemoryState = { baselineBytes: rss() }
  let timer: TimerHandle | undefined
  let stopped = false

  const tick = async (): Promise<void> => {
    const decision = decideIdleCollection(state, { now: clock.now(), rssBytes: rss(), utilization: utilization() }, policy)
    state = decision.state
    if (!decision.collect) return
    const before = rss()
    const started = performance.now()
    await collect()
    const seconds = (performance.now() - started) / 1000
    const after = rss()
    options.metrics.idleMemoryCollections.inc()
    options.metrics.idleMemoryCollectionSeconds.observe(seconds)
    options.metrics.idleMemoryReleasedBytes.inc(Math.max(0, before - after))
    options.log.info({ rssBeforeMiB: Math.round(before / 2 ** 20), rssAfterMiB: Math.round(after / 2 ** 20), pauseMs: Math.round(seconds * 1000) }, 'idle: gave memory back to the system')
    // What is left, and what V8 grows back to before the next work, is in use: the next
    // collection waits for a burst and growth above that. The pause just taken is not work.
    utilization()
    state = { baselineBytes: after, settling: true }
  }
  const schedule = (): void => {
    if (stopped) return
    timer = clock.setTimeout(() => {
      tick().then(schedule, (error: unknown) => {
        // Without the inspector (a Node built without it) there is nothing to retry.
        options.log.warn({ err: error }, 'idle memory collection failed; not trying again')
      })
    }, intervalMs)
  }
  schedule()
  return () => {
    stopped = true
    if (timer) clock.clearTimeout(timer)
  }
}
