/**
 * How Events reach the API server: four calls, nothing else, so the recorder can be tested against
 * a fake (test/unit/events/fake-transport.ts) and the real one stays a thin adapter over
 * @kubernetes/client-node v2.
 *
 * Bodies are plain JSON with RFC 3339 strings for times; the adapter converts them to the client's
 * model classes. Every failure is an EventTransportError carrying the HTTP status (when there was a
 * response) and, for a Kubernetes `Status` body, its reason and `details.kind` — the recorder needs
 * them to tell "events.k8s.io/v1 is not served" (404, fall back to core v1) from "the namespace is
 * gone" (404 with details.kind `namespaces`).
 */
import {
  ApiException,
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
  type CoreV1Event,
  type EventsV1Event,
  type KubeConfig,
} from '@kubernetes/client-node'

/** What an Event is about (events.k8s.io/v1 `regarding`, core v1 `involvedObject`). */
export interface ObjectReference {
  apiVersion?: string
  kind: string
  name: string
  namespace?: string
  uid?: string
  resourceVersion?: string
}

export type EventType = 'Normal' | 'Warning'

export interface EventMeta {
  name: string
  namespace: string
}

/** An events.k8s.io/v1 Event as the recorder writes it. */
export interface EventsV1Body {
  apiVersion: 'events.k8s.io/v1'
  kind: 'Event'
  metadata: EventMeta
  /** RFC 3339 with microseconds, e.g. `2026-11-23T11:00:00.000000Z`. */
  eventTime: string
  series?: { count: number; lastObservedTime: string }
  reportingController: string
  reportingInstance: string
  action: string
  reason: string
  note: string
  type: EventType
  regarding: ObjectReference
}

/** A core v1 Event (the fallback when events.k8s.io/v1 is not served). */
export interface CoreV1Body {
  apiVersion: 'v1'
  kind: 'Event'
  metadata: EventMeta
  involvedObject: ObjectReference
  reason: string
  message: string
  type: EventType
  action: string
  source: { component: string; host?: string }
  firstTimestamp: string
  lastTimestamp: string
  count: number
  reportingComponent: string
  reportingInstance: string
}

/** JSON merge patch folding repeats into an events.k8s.io/v1 Event (only `series` may change there). */
export interface EventsV1SeriesPatch {
  series: { count: number; lastObservedTime: string }
}

/** JSON merge patch folding repeats into a core v1 Event. */
export interface CoreV1CountPatch {
  count: number
  lastTimestamp: string
}

export interface EventTransport {
  createEventsV1(namespace: string, body: EventsV1Body): Promise<{ name: string }>
  patchEventsV1(namespace: string, name: string, patch: EventsV1SeriesPatch): Promise<void>
  createCoreV1(namespace: string, body: CoreV1Body): Promise<{ name: string }>
  patchCoreV1(namespace: string, name: string, patch: CoreV1CountPatch): Promise<void>
}

export interface EventTransportErrorDetails {
  /** HTTP status; undefined when no response came (network error, timeout). */
  statusCode?: number
  /** Kubernetes Status `reason`, e.g. `NotFound`, `AlreadyExists`, `Forbidden`. */
  statusReason?: string
  /** Kubernetes Status `details.kind`, e.g. `namespaces` when the namespace does not exist. */
  detailsKind?: string
  cause?: unknown
}

export class EventTransportError extends Error {
  override name = 'EventTransportError'
  readonly statusCode: number | undefined
  readonly statusReason: string | undefined
  readonly detailsKind: string | undefined

  constructor(message: string, details: EventTransportErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.statusCode = details.statusCode
    this.statusReason = details.statusReason
    this.detailsKind = details.detailsKind
  }
}

/** The status code of any error: EventTransportError, client-node's ApiException (`code`), or undefined. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof EventTransportError) return err.statusCode
  if (err instanceof ApiException) return err.code
  if (typeof err === 'object' && err !== null) {
    const record = err as { statusCode?: unknown; code?: unknown }
    if (typeof record.statusCode === 'number') return record.statusCode
    if (typeof record.code === 'number') return record.code
  }
  return undefined
}

/**
 * True when a 404 from creating an events.k8s.io/v1 Event means the API group is not served, not
 * that the namespace is missing (that one names `namespaces` in the Status details).
 */
export function isApiNotServed(err: unknown): boolean {
  if (statusCodeOf(err) !== 404) return false
  const kind = err instanceof EventTransportError ? err.detailsKind : undefined
  return kind !== 'namespaces'
}

interface StatusBody {
  reason?: string
  message?: string
  details?: { kind?: string }
}

function parseStatus(body: unknown): StatusBody | undefined {
  let value: unknown = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return undefined
    }
  }
  if (typeof value !== 'object' || value === null) return undefined
  const status = value as { kind?: unknown; reason?: unknown; message?: unknown; details?: unknown }
  const details = typeof status.details === 'object' && status.details !== null ? (status.details as { kind?: unknown }) : undefined
  return {
    ...(typeof status.reason === 'string' ? { reason: status.reason } : {}),
    ...(typeof status.message === 'string' ? { message: status.message } : {}),
    ...(details && typeof details.kind === 'string' ? { details: { kind: details.kind } } : {}),
  }
}

/** Wraps whatever client-node threw into one EventTransportError with a one-line message. */
export function toTransportError(err: unknown, what: string): EventTransportError {
  if (err instanceof EventTransportError) return err
  if (err instanceof ApiException) {
    const status = parseStatus(err.body)
    const text = status?.message ?? (typeof err.body === 'string' ? err.body.trim().slice(0, 200) : '')
    return new EventTransportError(`${what}: HTTP ${err.code}${status?.reason ? ` ${status.reason}` : ''}${text ? `: ${text}` : ''}`, {
      statusCode: err.code,
      ...(status?.reason ? { statusReason: status.reason } : {}),
      ...(status?.details?.kind ? { detailsKind: status.details.kind } : {}),
      cause: err,
    })
  }
  const message = err instanceof Error ? err.message : String(err)
  const statusCode = statusCodeOf(err)
  return new EventTransportError(`${what}: ${message}`, { ...(statusCode === undefined ? {} : { statusCode }), cause: err })
}

const mergePatch = (): ReturnType<typeof setHeaderOptions> => setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

/** The real transport: EventsV1Api and CoreV1Api from the given credentials. */
export function kubeEventTransport(kubeConfig: KubeConfig): EventTransport {
  const eventsApi = kubeConfig.makeApiClient(EventsV1Api)
  const coreApi = kubeConfig.makeApiClient(CoreV1Api)
  return {
    async createEventsV1(namespace, body) {
      try {
        const created = await eventsApi.createNamespacedEvent({ namespace, body: toEventsV1Model(body) })
        return { name: created.metadata?.name ?? body.metadata.name }
      } catch (err) {
        throw toTransportError(err, `create events.k8s.io/v1 Event ${namespace}/${body.metadata.name}`)
      }
    },
    async patchEventsV1(namespace, name, patch) {
      try {
        await eventsApi.patchNamespacedEvent({ name, namespace, body: patch }, mergePatch())
      } catch (err) {
        throw toTransportError(err, `patch events.k8s.io/v1 Event ${namespace}/${name}`)
      }
    },
    async createCoreV1(namespace, body) {
      try {
        const created = await coreApi.createNamespacedEvent({ namespace, body: toCoreV1Model(body) })
        return { name: created.metadata?.name ?? body.metadata.name }
      } catch (err) {
        throw toTransportError(err, `create v1 Event ${namespace}/${body.metadata.name}`)
      }
    },
    async patchCoreV1(namespace, name, patch) {
      try {
        await coreApi.patchNamespacedEvent({ name, namespace, body: patch }, mergePatch())
      } catch (err) {
        throw toTransportError(err, `patch v1 Event ${namespace}/${name}`)
      }
    },
  }
}

/**
 * client-node types MicroTime as V1MicroTime (a Date whose JSON has six fraction digits) and Time
 * as Date; our bodies carry strings, converted here. Only millisecond precision exists either way.
 */
function toEventsV1Model(body: EventsV1Body): EventsV1Event {
  const { series, eventTime, ...rest } = body
  return {
    ...rest,
    eventTime: new V1MicroTime(eventTime),
    ...(series ? { series: { count: series.count, lastObservedTime: new V1MicroTime(series.lastObservedTime) } } : {}),
  }
}

function toCoreV1Model(body: CoreV1Body): CoreV1Event {
  const { firstTimestamp, lastTimestamp, ...rest } = body
  return { ...rest, firstTimestamp: new Date(firstTimestamp), lastTimestamp: new Date(lastTimestamp) }
}
