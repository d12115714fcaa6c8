/**
 * Strict RFC 3339 date-times (SPEC §2 rule 9), accepted exactly as Go's time.RFC3339 parses
 * them, because every Kubernetes client reading these fields decodes them into metav1.Time.
 * Date.parse is no use here: it accepts `2026-02-30`, `2026-02-07 10:00`, bare dates and
 * local times without an offset.
 *
 * Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, uppercase `T` and `Z`, real calendar
 * dates, seconds 00–59 (Go rejects leap second 60), any number of fraction digits (Go keeps 9).
 */

const PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/

/** An instant with nanosecond precision; two spellings of the same instant compare equal. */
export interface Instant {
  /** Seconds since the Unix epoch (UTC). */
  readonly seconds: number
  readonly nanos: number
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

/**
 * Every status write parses the same few timestamps several times (old and new object, mutating
 * and validating webhook); remembering recent answers takes this off the admission hot path.
 * Bounded: cleared when full, so hostile input cannot grow it.
 */
const recent = new Map<string, Instant | null>()
const RECENT_MAX = 1024
/** A valid timestamp with nanoseconds and an offset is 35 characters; longer ones are not kept. */
const CACHEABLE_LENGTH = 40

export function parseRfc3339(text: unknown): Instant | undefined {
  if (typeof text !== 'string') return undefined
  if (text.length > CACHEABLE_LENGTH) return parseUncached(text)
  const known = recent.get(text)
  if (known !== undefined) return known ?? undefined
  const parsed = parseUncached(text)
  if (recent.size >= RECENT_MAX) recent.clear()
  recent.set(text, parsed ?? null)
  return parsed
}

function parseUncached(text: string): Instant | undefined {
  const m = PATTERN.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  if (!m[8]) {
    const offHour = Number(m[10])
    const offMinute = Number(m[11])
    if (offHour > 23 || offMinute > 59) return undefined
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offHour * 60 + offMinute)
  }
  const nanos = m[7] ? Number(m[7].slice(0, 9).padEnd(9, '0')) : 0
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second)
  // Date.UTC maps years 0–99 onto 1900–1999; setUTCFullYear puts them back where RFC 3339 means.
  const date = new Date(epochMs)
  if (year < 100) date.setUTCFullYear(year)
  return { seconds: date.getTime() / 1000 - offsetMinutes * 60, nanos }
}

export function isRfc3339(text: unknown): text is string {
  return parseRfc3339(text) !== undefined
}

/** Negative when a is earlier than b, 0 when they are the same instant. */
export function compareInstants(a: Instant, b: Instant): number {
  return a.seconds === b.seconds ? a.nanos - b.nanos : a.seconds - b.seconds
}

/**
 * `now` as upstream's controllers write status timestamps (`new Date().toISOString()`): UTC,
 * milliseconds, `Z`. Whole seconds would put runguard's `finishedAt` before an upstream
 * millisecond `startedAt` from the same second; metav1.Time parses either.
 */
export function formatRfc3339(now: Date): string {
  return now.toISOString()
}

/**
 * The same instant as metav1.MicroTime spells it (Lease times, events.k8s.io eventTime): six
 * fractional digits, `2026-11-23T11:00:00.123000Z`. JavaScript time has milliseconds only.
 */
export function formatMicroTime(now: Date): string {
  return formatRfc3339(now).replace(/Z$/, '000Z')
}
