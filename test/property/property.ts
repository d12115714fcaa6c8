/**
 * fast-check under tap: a fixed seed in CI, the seed and path printed on failure so a failing case
 * replays exactly, and a per-case CPU meter.
 *
 *   PROPERTY_SEED=<n>            run with another seed (default: the fixed CI seed)
 *   PROPERTY_PATH=<path>         replay one counterexample (with its seed; use tap --grep for one property)
 *   PROPERTY_RUNS=<factor>       multiply every property's number of cases (e.g. 10 for a long local run)
 */
import fc from 'fast-check'
import type { Test } from 'tap'

export const CI_SEED = 20261123
export const SEED = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : CI_SEED
const PATH = process.env.PROPERTY_PATH || undefined
const FACTOR = process.env.PROPERTY_RUNS ? Number(process.env.PROPERTY_RUNS) : 1

export function runs(n: number): number {
  return Math.max(1, Math.round(n * FACTOR))
}

/** A value for a failure report: JSON, long strings cut, the whole cut to `max` characters. */
export function preview(value: unknown, max = 3_000): string {
  let text: string
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 80)}…<${v.length} chars>` : v))
  } catch (err) {
    text = `<unprintable: ${(err as Error).message}>`
  }
  return text.length > max ? `${text.slice(0, max)}…<${text.length} chars>` : text
}

/**
 * Runs `property` with the fixed seed and reports one tap assertion: pass with the number of cases,
 * or fail with the seed, the path, the error and the (shrunk) counterexample, plus the command that
 * replays it.
 */
export function checkProperty<Ts>(t: Test, name: string, property: fc.IProperty<Ts>, numRuns: number, file: string): void {
  const details = fc.check(property, { seed: SEED, numRuns: runs(numRuns), ...(PATH ? { path: PATH, endOnFailure: true } : {}) })
  if (!details.failed) {
    t.pass(`${name}: ${details.numRuns} cases, seed ${details.seed}`)
    return
  }
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  const lines = [
    `${name}: property failed after ${details.numRuns} cases (${details.numShrinks} shrinks)`,
    `seed ${details.seed}, path ${details.counterexamplePath}`,
    `replay: PROPERTY_SEED=${details.seed} PROPERTY_PATH=${details.counterexamplePath} npx tap --grep=${JSON.stringify(t.name)} ${file}`,
    `error: ${error}`,
    `counterexample: ${preview(details.counterexample)}`,
  ]
  t.fail(lines.join('\n'), { diagnostic: true })
}

// --- CPU per case -------------------------------------------------------------------------------

/**
 * CPU time of the process in milliseconds (user + system). process.cpuUsage() has microsecond
 * resolution; the per-thread counter only moves in uneven steps of up to 4 ms here.
 */
export function threadCpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** Runs `fn` and returns its result with the CPU milliseconds it took. */
export function metered<T>(fn: () => T): { result: T; cpuMs: number } {
  const start = threadCpuMs()
  const result = fn()
  return { result, cpuMs: threadCpuMs() - start }
}

/**
 * The CPU bound per admission case: a few milliseconds, plus linear room for the bytes of the input
 * — about 65 ns a byte, several times what the handler's linear passes cost (decode, shape guard,
 * copy, rules on new and old object, encode), so a 1 MiB AgentRun may take 70 ms, while a quadratic
 * path or a backtracking regex on even 10 KB of it takes seconds.
 */
export function cpuBoundMs(inputBytes: number): number {
  return 5 + inputBytes / 15_000
}

/**
 * CPU of `fn` as the least of up to `tries` runs, retried only while over `boundMs`: a garbage
 * collection or a context switch on a shared CI core lands in one run, a slow path in all of them.
 */
export function steadyCpuMs(fn: () => unknown, boundMs: number, first: number, tries = 3): number {
  let best = first
  for (let i = 1; i < tries && best > boundMs; i++) best = Math.min(best, metered(fn).cpuMs)
  return best
}
