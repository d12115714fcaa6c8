/**
 * The one Event recorder, shared by the webhook and the reconciler (SPEC §4, design note 001).
 *
 *   recorder.warning(ref, 'InvalidSpec', message)                      // non-retryable (default)
 *   recorder.warning(ref, 'Forbidden', message, { transient: true })   // transient
 *
 * `warning()`/`normal()` return at once and never throw: the write happens later (never inside
 * the caller's stack, never awaited by an admission response) and its failure is counted in
 * `runguard_events_total{result="failed"}` and logged, once per run of failures.
 *
 * Semantics, per occurrence (one call):
 * - Identity. An occurrence belongs to a *series*: object (group, kind, namespace, name, uid) +
 *   type + action + reason + sanitised note. One series is one Event object in the API.
 * - Non-retryable (default). The first occurrence of a series is always written — every distinct
 *   occurrence reaches the API (SPEC: "every distinct occurrence, deduplicated"). It also draws a
 *   token from the object's budget when one is there, so an object's repeats share that budget.
 * - Repeats, and every transient occurrence, need a token from the object's bucket
 *   (`eventsRateLimitPerMin` per minute, per object — not per reason). With a token, a new series
 *   is created and a known one is PATCHed: `series: {count, lastObservedTime}` (events.k8s.io/v1)
 *   or `count`/`lastTimestamp` (core v1) — never a second Event object. Without one it is
 *   `suppressed`, and its count is folded into the series on that series' next allowed write.
 * - Per series, one write is in flight at a time. An occurrence that arrives meanwhile either
 *   schedules one follow-up write (if it gets a token) or folds into it (`suppressed`); the
 *   follow-up carries the count as it is when it runs. 50 identical calls in a row therefore make
 *   one create and one patch showing count 50.
 * - Series flush. A suppressed occurrence that no write carries yet leaves its series *pending*.
 *   Pending series are written `seriesFlushMs` (30 s) after the first of them, and at close(), so
 *   `series.count` tells the truth when a storm stops (without it, 300 repeats showed count 6
 *   until the next occurrence). A flush patches an existing Event without a token (one patch per
 *   series per period at most); creating an Event still takes one, else the series waits for the
 *   next period. A flush write is not an occurrence: it changes no count in `runguard_events_total`,
 *   and a failed one is logged, not retried until another occurrence comes.
 * - Results: `sent` (its write succeeded), `suppressed` (no write of its own), `failed` (its write
 *   failed or timed out). Exactly one per call, except `opts.dryRun` (see below).
 * - Off: with `eventsEnabled: false` or no transport nothing is written and every occurrence counts
 *   as `suppressed`, so the metric still shows how many Events would have been sent (the rollout
 *   plan's "confirm event volume" step works before enabling). One log line at construction says so.
 * - Dry run: callers must not record Events for dryRun requests; `opts.dryRun` is accepted as a
 *   safety net and the occurrence is dropped without being counted (a dry run has no side effects,
 *   and counting it would inflate the Event volume).
 * - API: events.k8s.io/v1 first. A 404 on create that is not "namespace not found", before any
 *   events.k8s.io/v1 create succeeded, switches this process to core v1 Events for good.
 *   A 404 on patch (the Event expired, default TTL 1 h) re-creates it carrying the series.
 * - Memory: series and buckets live in LRU maps capped at `maxKeys` (10 000) whose entries expire
 *   after `idleTtlMs` (1 h) without use. A forgotten series starts a new Event next time. The
 *   pending set holds series only until the next flush.
 */
import type { Config } from '../config.ts'
import type { ObjectMeta } from '../kube/objects.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { DEFAULT_IDLE_TTL_MS, DEFAULT_MAX_KEYS, LruTtlMap, PerKeyRateLimiter, type Clock } from './rate-limiter.ts'
import { NOTE_MAX_BYTES, sanitizeMessage } from './sanitize.ts'
import {
  EventTransportError,
  isApiNotServed,
  statusCodeOf,
  toTransportError,
  type CoreV1Body,
  type EventTransport,
  type EventType,
  type EventsV1Body,
  type ObjectReference,
} from './transport.ts'

export type { EventTransport, EventType, ObjectReference } from './transport.ts'
export { NOTE_MAX_BYTES } from './sanitize.ts'

export type EventResult = 'sent' | 'suppressed' | 'failed'

export interface RecordOptions {
  /** What runguard was doing, e.g. `Admission`, `Reconcile`, `CancelPropagation`; default from the recorder. */
  action?: string
  /** A transient error (API hiccup, conflict): rate limited from the second occurrence on. Default false. */
  transient?: boolean
  /** Drop the occurrence (safety net: callers should not record Events for dryRun requests at all). */
  dryRun?: boolean
}

export interface EventRecorderOptions {
  /** undefined when there are no API credentials: Events are then off. */
  transport: EventTransport | undefined
  config: Pick<Config, 'eventsEnabled' | 'eventsRateLimitPerMin' | 'podName'>
  metrics: Pick<Metrics, 'events'>
  logger: Logger
  /** `reportingController` / `source.component`, e.g. `runguard.proompteng.ai/webhook`. */
  component: string
  /** Action used when a call gives none; default `Reconcile`. */
  defaultAction?: string
  /** Milliseconds since the epoch; default Date.now. */
  clock?: Clock
  /** Cap on remembered series and rate-limited objects (each). Default 10 000. */
  maxKeys?: number
  /** A series or bucket unused this long is forgotten. Default 1 h. */
  idleTtlMs?: number
  /** A single API call taking longer counts as failed (the call itself is not aborted). Default 10 s. */
  sendTimeoutMs?: number
  /** Pending series counts are written this long after they start pending (at most 30 s). Default 30 s. */
  seriesFlushMs?: number
  /** Timers for the series flush; default the global ones (unref'd, so they never hold the process open). */
  timers?: RecorderTimers
}

/** The two timer functions the series flush uses, injectable so tests drive time by hand. */
export interface RecorderTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const GLOBAL_TIMERS: RecorderTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** The API limits `reportingController`, `reportingInstance`, `action` and `reason` to 128 characters. */
const FIELD_MAX = 128
const NAME_MAX = 253
const DEFAULT_SEND_TIMEOUT_MS = 10_000
/** Issue 14: a pending series count reaches the API within 30 s. */
export const SERIES_FLUSH_MAX_MS = 30_000

interface Series {
  readonly objectKey: string
  readonly namespace: string
  readonly type: EventType
  readonly action: string
  readonly reason: string
  readonly note: string
  readonly regarding: ObjectReference
  readonly firstObserved: number
  lastObserved: number
  /** Occurrences seen. */
  count: number
  /** Name of the Event object once created; undefined before (or after it vanished). */
  name: string | undefined
  /** Which API holds that object. */
  api: 'eventsV1' | 'coreV1' | undefined
  /** A write was tried at least once (a failed first create does not make the next one free). */
  attempted: boolean
  /** The count the last write started carried: occurrences beyond it are still to be written. */
  carried: number
  inFlight: boolean
  /** A write to run when the one in flight ends: for a counted occurrence, or a flush (not counted). */
  followUp: false | 'occurrence' | 'flush'
}

/** `probing` until the first create answers; then the Event API this process uses. */
export type EventApiMode = 'probing' | 'eventsV1' | 'coreV1'

export class EventRecorder {
  readonly enabled: boolean
  #transport: EventTransport | undefined
  #metrics: Pick<Metrics, 'events'>
  #logger: Logger
  #component: string
  #instance: string
  #defaultAction: string
  #clock: Clock
  #sendTimeoutMs: number
  #series: LruTtlMap<Series>
  #limiter: PerKeyRateLimiter
  #pending = new Set<Promise<void>>()
  /** Series with suppressed occurrences no write has carried yet (the series flush's work). */
  #unwritten = new Set<Series>()
  #timers: RecorderTimers
  #seriesFlushMs: number
  #flushTimer: unknown = undefined
  #api: EventApiMode = 'probing'
  #failing = false
  #closed = false
  #sequence = 0

  constructor(options: EventRecorderOptions) {
    this.#transport = options.transport
    this.#metrics = options.metrics
    this.#logger = options.logger
    this.#component = options.component.slice(0, FIELD_MAX)
    this.#instance = options.config.podName.slice(0, FIELD_MAX)
    this.#defaultAction = options.defaultAction ?? 'Reconcile'
    this.#clock = options.clock ?? Date.now
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
    this.#timers = options.timers ?? GLOBAL_TIMERS
    this.#seriesFlushMs = Math.min(SERIES_FLUSH_MAX_MS, Math.max(1, options.seriesFlushMs ?? SERIES_FLUSH_MAX_MS))
    const state = { maxKeys: options.maxKeys ?? DEFAULT_MAX_KEYS, idleTtlMs: options.idleTtlMs ?? DEFAULT_IDLE_TTL_MS, clock: this.#clock }
    this.#series = new LruTtlMap<Series>(state)
    this.#limiter = new PerKeyRateLimiter({ ...state, perMinute: Math.max(1, options.config.eventsRateLimitPerMin) })
    this.enabled = options.config.eventsEnabled && options.transport !== undefined
    if (!options.config.eventsEnabled) {
      this.#logger.info('Kubernetes Events are off (AGENTS_CONTROLLER_EVENTS_ENABLED=false); occurrences are counted as suppressed in runguard_events_total')
    } else if (!options.transport) {
      this.#logger.info('Kubernetes Events are off: no Kubernetes API credentials; occurrences are counted as suppressed in runguard_events_total')
    }
  }

  /** Records a `Warning` Event. Returns at once; never throws. */
  warning(regarding: ObjectReference, reason: string, message: string, opts: RecordOptions = {}): void {
    this.#record('Warning', regarding, reason, message, opts)
  }

  /** Records a `Normal` Event. Returns at once; never throws. */
  normal(regarding: ObjectReference, reason: string, message: string, opts: RecordOptions = {}): void {
    this.#record('Normal', regarding, reason, message, opts)
  }

  /** Number of series remembered (for tests and the memory-cap check). */
  get trackedSeries(): number {
    return this.#series.size
  }

  /** Series whose latest occurrences no write carries yet; the series flush writes them. */
  get pendingSeries(): number {
    return this.#unwritten.size
  }

  /** Which Event API this process uses now: `probing` until the first create answers. */
  get api(): EventApiMode {
    return this.#api
  }

  /**
   * Resolves when every write started so far (and the follow-ups they scheduled) has finished.
   * With `timeoutMs`, gives up after that long; the result says whether everything finished.
   */
  async flush(timeoutMs?: number): Promise<boolean> {
    const drain = async (): Promise<void> => {
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
    }
    if (timeoutMs === undefined) {
      await drain()
      return true
    }
    let timer: NodeJS.Timeout | undefined
    // Not unref'd: whoever awaits flush(timeout) wants the process alive until it answers.
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    try {
      return await Promise.race([drain().then(() => true as const), timedOut])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Stops accepting Events (later calls count as suppressed), writes pending series counts, waits
   * for writes in flight, forgets all state.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    this.#closed = true
    this.#flushSeries()
    this.#cancelFlushTimer()
    await this.flush(timeoutMs)
    this.#series.clear()
    this.#limiter.clear()
    this.#unwritten.clear()
  }

  #count(reason: string, result: EventResult): void {
    this.#metrics.events.inc({ reason, result })
  }

  #record(type: EventType, regarding: ObjectReference, reason: string, message: string, opts: RecordOptions): void {
    try {
      if (opts.dryRun) {
        this.#logger.debug({ reason, object: describe(regarding) }, 'Event for a dry-run request dropped')
        return
      }
      if (!this.enabled || this.#closed) {
        this.#count(reason, 'suppressed')
        return
      }
      const now = this.#clock()
      const action = (opts.action ?? this.#defaultAction).slice(0, FIELD_MAX)
      const note = sanitizeMessage(message, NOTE_MAX_BYTES)
      const objectKey = objectKeyOf(regarding)
      const seriesKey = [objectKey, regarding.uid ?? '', type, action, reason, note].join('\u0000')
      let series = this.#series.get(seriesKey)
      if (!series) {
        series = {
          objectKey,
          namespace: regarding.namespace || 'default',
          type,
          action,
          reason: reason.slice(0, FIELD_MAX),
          note,
          regarding: cleanReference(regarding),
          firstObserved: now,
          lastObserved: now,
          count: 0,
          name: undefined,
          api: undefined,
          attempted: false,
          carried: 0,
          inFlight: false,
          followUp: false,
        }
        this.#series.set(seriesKey, series)
      }
      series.count += 1
      series.lastObserved = Math.max(series.lastObserved, now)

      if (series.inFlight) {
        // One follow-up per series at most; it will carry this occurrence's count. A flush
        // follow-up becomes this occurrence's write when there is a token for it.
        if (series.followUp !== 'occurrence' && this.#limiter.tryTake(objectKey)) {
          series.followUp = 'occurrence'
        } else {
          this.#count(reason, 'suppressed')
          if (!series.followUp) this.#markUnwritten(series)
        }
        return
      }
      if (!series.attempted && !opts.transient) {
        // Every distinct non-retryable occurrence is written; it still draws on the object's budget.
        this.#limiter.tryTake(objectKey)
        this.#start(series, reason, true)
      } else if (this.#limiter.tryTake(objectKey)) {
        this.#start(series, reason, true)
      } else {
        this.#count(reason, 'suppressed')
        this.#markUnwritten(series)
      }
    } catch (err) {
      // A bug here must not reach an admission handler or a reconcile loop.
      this.#count(reason, 'failed')
      this.#logger.error({ err, reason }, 'recording an Event failed unexpectedly')
    }
  }

  /**
   * Starts a write outside the caller's stack and tracks it for flush(). `occurrence`: the write is
   * an occurrence's own and its result is counted; false for a series flush.
   */
  #start(series: Series, reason: string, occurrence: boolean): void {
    series.inFlight = true
    series.attempted = true
    const done = Promise.resolve()
      .then(() => this.#write(series))
      .then(
        () => (occurrence ? this.#succeeded(reason) : undefined),
        (err: unknown) => (occurrence ? this.#failed(series, reason, err) : this.#flushFailed(series, err)),
      )
      .finally(() => {
        this.#pending.delete(done)
        series.inFlight = false
        // A follow-up carries occurrences accepted before any close(), so it runs even then.
        const followUp = series.followUp
        series.followUp = false
        if (followUp) this.#start(series, reason, followUp === 'occurrence')
      })
      .catch((err: unknown) => this.#logger.error({ err, reason }, 'Event bookkeeping failed unexpectedly'))
    this.#pending.add(done)
  }

  // --- series flush -----------------------------------------------------------------------------

  #markUnwritten(series: Series): void {
    this.#unwritten.add(series)
    if (this.#flushTimer === undefined && !this.#closed) {
      this.#flushTimer = this.#timers.setTimeout(() => {
        this.#flushTimer = undefined
        this.#flushSeries()
      }, this.#seriesFlushMs)
    }
  }

  #cancelFlushTimer(): void {
    if (this.#flushTimer !== undefined) this.#timers.clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
  }

  /** Writes every pending series count: patches freely, creates only with a token (else waits a period). */
  #flushSeries(): void {
    try {
      const waiting: Series[] = []
      for (const series of this.#unwritten) {
        if (series.count <= series.carried) continue
        if (series.inFlight) {
          // The write in flight captured an older count; one more after it carries the rest.
          if (!series.followUp) series.followUp = 'flush'
        } else if (series.name !== undefined || this.#limiter.tryTake(series.objectKey)) {
          this.#start(series, series.reason, false)
        } else {
          waiting.push(series)
        }
      }
      this.#unwritten.clear()
      if (!this.#closed) for (const series of waiting) this.#markUnwritten(series)
    } catch (err) {
      this.#logger.error({ err }, 'flushing Event series failed unexpectedly')
    }
  }

  #flushFailed(series: Series, err: unknown): void {
    this.#logger.debug({ err, reason: series.reason, object: describe(series.regarding), statusCode: statusCodeOf(err) }, 'writing a pending Event series count failed; the next occurrence writes it')
  }

  #succeeded(reason: string): void {
    this.#count(reason, 'sent')
    if (this.#failing) {
      this.#failing = false
      this.#logger.info('sending Kubernetes Events works again')
    }
  }

  #failed(series: Series, reason: string, err: unknown): void {
    this.#count(reason, 'failed')
    const fields = { err, reason, object: describe(series.regarding), statusCode: statusCodeOf(err) }
    if (!this.#failing) {
      this.#failing = true
      this.#logger.warn(fields, 'sending a Kubernetes Event failed; further failures are only counted (runguard_events_total{result="failed"}) until one succeeds')
    } else {
      this.#logger.debug(fields, 'sending a Kubernetes Event failed')
    }
  }

  async #write(series: Series): Promise<void> {
    const count = series.count
    const lastObserved = series.lastObserved
    series.carried = count
    if (series.name !== undefined) {
      try {
        await this.#patch(series, series.name, count, lastObserved)
        return
      } catch (err) {
        // The Event expired (default TTL 1 h) or was deleted: create it again, carrying the series.
        if (statusCodeOf(err) !== 404) throw err
        series.name = undefined
      }
    }
    await this.#create(series, count, lastObserved)
  }

  async #patch(series: Series, name: string, count: number, lastObserved: number): Promise<void> {
    const transport = this.#requireTransport()
    if (series.api === 'coreV1') {
      await this.#withTimeout(transport.patchCoreV1(series.namespace, name, { count, lastTimestamp: rfc3339(lastObserved) }), 'patch v1 Event')
    } else {
      const patch = { series: { count, lastObservedTime: microTime(lastObserved) } }
      await this.#withTimeout(transport.patchEventsV1(series.namespace, name, patch), 'patch events.k8s.io/v1 Event')
    }
  }

  async #create(series: Series, count: number, lastObserved: number): Promise<void> {
    const transport = this.#requireTransport()
    for (let attempt = 0; ; attempt++) {
      const name = this.#eventName(series.regarding)
      try {
        if (this.#api !== 'coreV1') {
          try {
            const created = await this.#withTimeout(transport.createEventsV1(series.namespace, this.#eventsV1Body(series, name, count, lastObserved)), 'create events.k8s.io/v1 Event')
            series.name = created.name
            series.api = 'eventsV1'
            this.#api = 'eventsV1'
            return
          } catch (err) {
            // Several first creates may be in flight; each one that gets the 404 falls back.
            if (this.#api === 'eventsV1' || !isApiNotServed(err)) throw err
            if (this.#api === 'probing') {
              this.#api = 'coreV1'
              this.#logger.info({ err }, 'events.k8s.io/v1 is not served by this API server; using core v1 Events from now on')
            }
          }
        }
        const created = await this.#withTimeout(transport.createCoreV1(series.namespace, this.#coreV1Body(series, name, count, lastObserved)), 'create v1 Event')
        series.name = created.name
        series.api = 'coreV1'
        return
      } catch (err) {
        // A name clash (two replicas, same object, same microsecond) gets one retry with a fresh name.
        if (statusCodeOf(err) === 409 && attempt === 0) continue
        throw err
      }
    }
  }

  #eventsV1Body(series: Series, name: string, count: number, lastObserved: number): EventsV1Body {
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: series.namespace },
      eventTime: microTime(series.firstObserved),
      // The API rejects a series with count < 2; a first write of a repeated occurrence carries it.
      ...(count >= 2 ? { series: { count, lastObservedTime: microTime(lastObserved) } } : {}),
      reportingController: this.#component,
      reportingInstance: this.#instance,
      action: series.action,
      reason: series.reason,
      note: series.note,
      type: series.type,
      regarding: series.regarding,
    }
  }

  #coreV1Body(series: Series, name: string, count: number, lastObserved: number): CoreV1Body {
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: series.namespace },
      involvedObject: series.regarding,
      reason: series.reason,
      message: series.note,
      type: series.type,
      action: series.action,
      source: { component: this.#component },
      firstTimestamp: rfc3339(series.firstObserved),
      lastTimestamp: rfc3339(lastObserved),
      count,
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
    }
  }

  /** `<object name>.<hex>` like client-go (`%v.%x` of name and UnixNano); a sequence keeps it unique here. */
  #eventName(regarding: ObjectReference): string {
    const nanos = BigInt(Math.floor(this.#clock())) * 1_000_000n + BigInt((this.#sequence++ % 1000) * 1000 + Math.floor(Math.random() * 1000))
    const suffix = nanos.toString(16)
    const base = dnsSubdomain(regarding.name || regarding.kind.toLowerCase() || 'object', NAME_MAX - suffix.length - 1)
    return `${base}.${suffix}`
  }

  #requireTransport(): EventTransport {
    if (!this.#transport) throw new EventTransportError('no transport')
    return this.#transport
  }

  async #withTimeout<T>(call: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EventTransportError(`${what}: no answer within ${this.#sendTimeoutMs} ms`)), this.#sendTimeoutMs)
      timer.unref()
    })
    // A late rejection of the abandoned call must not become an unhandled rejection.
    call.catch(() => undefined)
    try {
      return await Promise.race([call.catch((err: unknown) => Promise.reject(toTransportError(err, what))), timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** The reference an Event should carry for a Kubernetes object (uid and resourceVersion when known). */
export function referenceTo(obj: { apiVersion?: string; kind?: string; metadata?: ObjectMeta }, fallback: { apiVersion?: string; kind?: string } = {}): ObjectReference {
  const meta = obj.metadata ?? {}
  const apiVersion = obj.apiVersion ?? fallback.apiVersion
  return cleanReference({
    ...(apiVersion ? { apiVersion } : {}),
    kind: obj.kind ?? fallback.kind ?? '',
    name: meta.name ?? '',
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    ...(meta.uid ? { uid: meta.uid } : {}),
    ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
  })
}

/** Only the fields that are set, in the order kubectl shows them. */
function cleanReference(ref: ObjectReference): ObjectReference {
  return {
    ...(ref.apiVersion ? { apiVersion: ref.apiVersion } : {}),
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    ...(ref.uid ? { uid: ref.uid } : {}),
    ...(ref.resourceVersion ? { resourceVersion: ref.resourceVersion } : {}),
  }
}

/** Group/kind/namespace/name: the unit of rate limiting (stable before and after the object has a uid). */
function objectKeyOf(ref: ObjectReference): string {
  const apiVersion = ref.apiVersion ?? ''
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : ''
  return `${group}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`
}

function describe(ref: ObjectReference): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`
}

/** Lower-case DNS subdomain of at most `max` characters (Event names must be one). */
function dnsSubdomain(text: string, max: number): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .slice(0, Math.max(1, max))
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
  return cleaned || 'object'
}

/** RFC 3339 with microseconds, as metav1.MicroTime serialises: `2026-11-23T11:00:00.000000Z`. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

/** RFC 3339 to the second, as metav1.Time serialises. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

