/**
 * How Events reach the API server: four calls, nothing else, so the recorder can be tested against
 * a fake (test/unit/events/fake-transport.ts). Two real ones: restEventTransport() here, over the
 * small REST client in src/kube/rest.ts (the webhook, which must not load @kubernetes/client-node:
 * ~85 MiB), and kubeEventTransport() in kube-transport.ts over client-node (the reconciler).
 * Nothing in this file may import client-node at run time.
 *
 * Bodies are plain JSON with RFC 3339 strings for times. Every failure is an EventTransportError
 * carrying the HTTP status (when there was a response) and, for a Kubernetes `Status` body, its
 * reason and `details.kind` — the recorder needs them to tell "events.k8s.io/v1 is not served"
 * (404, fall back to core v1) from "the namespace is gone" (404 with details.kind `namespaces`).
 */
import type { RestClient } from '../kube/rest.ts'

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

/**
 * The error for an HTTP answer that is not 2xx: `what: HTTP 404 NotFound: <Status message>`, or
 * the start of a non-Status body. `body` is the text as received or already-parsed JSON.
 */
export function httpTransportError(what: string, statusCode: number, body: unknown, cause?: unknown): EventTransportError {
  const status = parseStatus(body)
  const raw = typeof body === 'string' ? body : isPlainJson(body) ? JSON.stringify(body) : ''
  const text = status?.message ?? raw.trim().slice(0, 200)
  return new EventTransportError(`${what}: HTTP ${statusCode}${status?.reason ? ` ${status.reason}` : ''}${text ? `: ${text}` : ''}`, {
    statusCode,
    ...(status?.reason ? { statusReason: status.reason } : {}),
    ...(status?.details?.kind ? { detailsKind: status.details.kind } : {}),
    ...(cause === undefined ? {} : { cause }),
  })
}

const isPlainJson = (value: unknown): boolean =>
  Array.isArray(value) || (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype)

/**
 * client-node's ApiException, recognised by shape (a numeric `code` and a `body`) so this file
 * need not import client-node; Node's system errors have string codes.
 */
function isApiExceptionLike(err: unknown): err is Error & { code: number; body: unknown } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err
}

/** Wraps whatever a transport threw into one EventTransportError with a one-line message. */
export function toTransportError(err: unknown, what: string): EventTransportError {
  if (err instanceof EventTransportError) return err
  if (isApiExceptionLike(err)) return httpTransportError(what, err.code, err.body, err)
  const message = err instanceof Error ? err.message : String(err)
  const statusCode = statusCodeOf(err)
  return new EventTransportError(`${what}: ${message}`, { ...(statusCode === undefined ? {} : { statusCode }), cause: err })
}

const MERGE_PATCH = 'application/merge-patch+json'

/** The webhook's transport: plain REST calls through src/kube/rest.ts. */
export function restEventTransport(client: RestClient): EventTransport {
  const call = async (what: string, method: string, path: string, body: unknown, contentType?: string): Promise<unknown> => {
    let response
    try {
      response = await client.request(method, path, body, contentType)
    } catch (err) {
      throw toTransportError(err, what)
    }
    if (response.status < 200 || response.status > 299) throw httpTransportError(what, response.status, response.body)
    return response.body
  }
  const createdName = (created: unknown, fallback: string): string => {
    const metadata = typeof created === 'object' && created !== null ? (created as { metadata?: unknown }).metadata : undefined
    const name = typeof metadata === 'object' && metadata !== null ? (metadata as { name?: unknown }).name : undefined
    return typeof name === 'string' && name !== '' ? name : fallback
  }
  const events = (namespace: string) => `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`
  const core = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`
  return {
    async createEventsV1(namespace, body) {
      const created = await call(`create events.k8s.io/v1 Event ${namespace}/${body.metadata.name}`, 'POST', events(namespace), body)
      return { name: createdName(created, body.metadata.name) }
    },
    async patchEventsV1(namespace, name, patch) {
      await call(`patch events.k8s.io/v1 Event ${namespace}/${name}`, 'PATCH', `${events(namespace)}/${encodeURIComponent(name)}`, patch, MERGE_PATCH)
    },
    async createCoreV1(namespace, body) {
      const created = await call(`create v1 Event ${namespace}/${body.metadata.name}`, 'POST', core(namespace), body)
      return { name: createdName(created, body.metadata.name) }
    },
    async patchCoreV1(namespace, name, patch) {
      await call(`patch v1 Event ${namespace}/${name}`, 'PATCH', `${core(namespace)}/${encodeURIComponent(name)}`, patch, MERGE_PATCH)
    },
  }
}
