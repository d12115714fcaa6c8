/**
 * How Events reach the API server: four calls, nothing else, so the recorder can be tested against
 * a fake (test/unit/events/fake-transport.ts). Two real ones: restEventTransport() here, over the
 * small REST client in src/kube/rest.ts (the webhook and the reconciler, which must not load
 * @kubernetes/client-node: ~85 MiB), and kubeEventTransport() in kube-transport.ts over
 * client-node (the reconciler's fallback for a kubeconfig the REST client does not support).
 * Nothing in this file may import client-node at run time.
 *
 * Bodies are plain JSON with RFC 3339 strings for times. Every failure is an EventTransportError, the
 * shared KubeApiError (src/kube/errors.ts) carrying the HTTP status (when there was a response) and,
 * for a Kubernetes `Status` body, its reason and `details.kind` — the recorder needs them to tell
 * "events.k8s.io/v1 is not served" (404, fall back to core v1) from "the namespace is gone" (404
 * with details.kind `namespaces`).
 */
import { KubeApiError, statusOf } from '../kube/errors.ts'
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

/** A failed Event call: a KubeApiError that says it came from the Event transport. */
export class EventTransportError extends KubeApiError {
  override name = 'EventTransportError'
}

/** The status code of any error (src/kube/errors.ts statusOf, under the name the recorder imports). */
export const statusCodeOf = statusOf

/**
 * True when a 404 from creating an events.k8s.io/v1 Event means the API group is not served, not
 * that the namespace is missing (that one names `namespaces` in the Status details).
 */
export function isApiNotServed(err: unknown): boolean {
  if (statusOf(err) !== 404) return false
  const kind = err instanceof KubeApiError ? err.detailsKind : undefined
  return kind !== 'namespaces'
}

/** Wraps whatever a transport threw into one EventTransportError with a one-line message. */
export function toTransportError(err: unknown, what: string): EventTransportError {
  return EventTransportError.from(err, what)
}

const MERGE_PATCH = 'application/merge-patch+json'

/** The webhook's and the reconciler's transport: plain REST calls through src/kube/rest.ts. */
export function restEventTransport(client: RestClient): EventTransport {
  const call = async (what: string, method: string, path: string, body: unknown, contentType?: string): Promise<unknown> => {
    let response
    try {
      response = await client.request(method, path, body, contentType)
    } catch (err) {
      throw EventTransportError.from(err, what)
    }
    if (response.status < 200 || response.status > 299) throw EventTransportError.fromResponse(what, response.status, response.body)
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
