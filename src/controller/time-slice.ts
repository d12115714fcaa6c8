/**
 * Cooperative yielding for work that never waits on I/O. A reconcile served from the cache, a
 * resync of every cached object or a relist diff runs on promises that are already resolved, so
 * without an explicit yield a backlog of 13k keys ran as one macrotask: the event loop was
 * blocked for seconds, /livez went unanswered and the Lease renewal timer fired too late.
 *
 * A TimeSlice measures how long the current macrotask has been running work through it; once
 * that passes `budgetMs`, yield() resolves on the next turn of the event loop (setImmediate, after
 * I/O callbacks and timers), otherwise at once. One slice is shared by every work queue and
 * informer of the process (defaultTimeSlice), so four queues cannot add up four budgets.
 */
import { performance } from 'node:perf_hooks'

/** Longest run of cache-only work between two turns of the event loop, by default. */
export const DEFAULT_SLICE_BUDGET_MS = 5

export class TimeSlice {
  readonly budgetMs: number
  private readonly now: () => number
  /** When the current slice started; undefined once the event loop has turned since. */
  private startedAt: number | undefined

  constructor(budgetMs: number = DEFAULT_SLICE_BUDGET_MS, now: () => number = () => performance.now()) {
    if (!(budgetMs >= 0)) throw new RangeError(`time slice budget must be >= 0, got ${budgetMs}`)
    this.budgetMs = budgetMs
    this.now = now
  }

  /** Whether the work running now has used up its slice (and should yield before going on). */
  expired(): boolean {
    const now = this.now()
    if (this.startedAt === undefined) {
      this.startedAt = now
      // The callback runs on the next turn of the loop: whatever runs after it is a new slice.
      setImmediate(() => {
        this.startedAt = undefined
      })
    }
    return now - this.startedAt >= this.budgetMs
  }

  /** Resolves at once while the slice lasts, else on the next turn of the event loop. */
  yield(): Promise<void> {
    if (!this.expired()) return Promise.resolve()
    return new Promise((resolve) => setImmediate(resolve))
  }
}

/** The process-wide slice that work queues and informers use unless given their own. */
export const defaultTimeSlice = new TimeSlice()

/** Items handled between two looks at the clock (and at least this many per turn of the loop). */
const MIN_BATCH = 100

/**
 * Calls `fn` on every item, yielding to the event loop whenever `slice` is used up (at most every
 * MIN_BATCH items, so a short list is handled synchronously, before this returns). Stops early
 * when `stopped()` says so.
 */
export async function forEachInSlices<T>(items: Iterable<T>, slice: TimeSlice, fn: (item: T) => void, stopped: () => boolean = () => false): Promise<void> {
  let sinceYield = 0
  for (const item of items) {
    if (sinceYield >= MIN_BATCH) {
      if (slice.expired()) await new Promise<void>((resolve) => setImmediate(resolve))
      sinceYield = 0
    }
    if (stopped()) return
    fn(item)
    sinceYield++
  }
}
