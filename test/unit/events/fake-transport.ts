/**
 * An in-memory EventTransport that behaves like the API server where the recorder cares: it stores
 * Events by namespace/name, applies merge patches, answers 404 for unknown Events (and for the whole
 * events.k8s.io/v1 API when `eventsV1Served` is false), 409 for a taken name, and enforces the
 * create-time validation the real server applies to events.k8s.io/v1 Events.
 *
 * `hold()` makes every call wait until `release()`; `failWith` injects errors.
 */
import {
  EventTransportError,
  type CoreV1Body,
  type CoreV1CountPatch,
  type EventTransport,
  type EventsV1Body,
  type EventsV1SeriesPatch,
} from '../../../src/events/transport.ts'

export type FakeOp = 'createEventsV1' | 'patchEventsV1' | 'createCoreV1' | 'patchCoreV1'

export interface FakeCall {
  op: FakeOp
  namespace: string
  name: string
  body: EventsV1Body | CoreV1Body | EventsV1SeriesPatch | CoreV1CountPatch
}

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

export class FakeTransport implements EventTransport {
  calls: FakeCall[] = []
  eventsV1 = new Map<string, EventsV1Body>()
  coreV1 = new Map<string, CoreV1Body>()
  /** false: every events.k8s.io/v1 call answers 404 like an API server without that group. */
  eventsV1Served = true
  /** Return an error to make that call fail with it (after it is recorded in `calls`). */
  failWith: ((call: FakeCall) => unknown) | undefined = undefined
  #held = false
  #waiting: Array<() => void> = []

  hold(): void {
    this.#held = true
  }

  /** Lets every held call (and later ones) proceed. */
  release(): void {
    this.#held = false
    const waiting = this.#waiting
    this.#waiting = []
    for (const go of waiting) go()
  }

  get heldCalls(): number {
    return this.#waiting.length
  }

  ops(): FakeOp[] {
    return this.calls.map((c) => c.op)
  }

  async createEventsV1(namespace: string, body: EventsV1Body): Promise<{ name: string }> {
    await this.#enter({ op: 'createEventsV1', namespace, name: body.metadata.name, body })
    if (!this.eventsV1Served) throw notServed()
    validateEventsV1(namespace, body)
    const key = `${namespace}/${body.metadata.name}`
    if (this.eventsV1.has(key)) throw new EventTransportError(`events "${body.metadata.name}" already exists`, { statusCode: 409, statusReason: 'AlreadyExists' })
    this.eventsV1.set(key, structuredClone(body))
    return { name: body.metadata.name }
  }

  async patchEventsV1(namespace: string, name: string, patch: EventsV1SeriesPatch): Promise<void> {
    await this.#enter({ op: 'patchEventsV1', namespace, name, body: patch })
    if (!this.eventsV1Served) throw notServed()
    const stored = this.eventsV1.get(`${namespace}/${name}`)
    if (!stored) throw notFound(name)
    if (patch.series.count < 2) throw invalid('series.count must be at least 2')
    if (!MICRO_TIME.test(patch.series.lastObservedTime)) throw invalid('series.lastObservedTime must be a MicroTime')
    stored.series = { ...patch.series }
  }

  async createCoreV1(namespace: string, body: CoreV1Body): Promise<{ name: string }> {
    await this.#enter({ op: 'createCoreV1', namespace, name: body.metadata.name, body })
    if (body.involvedObject.namespace && body.involvedObject.namespace !== namespace) throw invalid('involvedObject.namespace does not match the namespace')
    if (!TIME.test(body.firstTimestamp) || !TIME.test(body.lastTimestamp)) throw invalid('timestamps must be RFC 3339')
    const key = `${namespace}/${body.metadata.name}`
    if (this.coreV1.has(key)) throw new EventTransportError(`events "${body.metadata.name}" already exists`, { statusCode: 409, statusReason: 'AlreadyExists' })
    this.coreV1.set(key, structuredClone(body))
    return { name: body.metadata.name }
  }

  async patchCoreV1(namespace: string, name: string, patch: CoreV1CountPatch): Promise<void> {
    await this.#enter({ op: 'patchCoreV1', namespace, name, body: patch })
    const stored = this.coreV1.get(`${namespace}/${name}`)
    if (!stored) throw notFound(name)
    stored.count = patch.count
    stored.lastTimestamp = patch.lastTimestamp
  }

  async #enter(call: FakeCall): Promise<void> {
    this.calls.push(structuredClone(call))
    if (this.#held) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    const failure = this.failWith?.(call)
    if (failure !== undefined) throw failure
  }
}

/** The checks kube-apiserver's ValidateEventCreate applies to events.k8s.io/v1 Events. */
function validateEventsV1(namespace: string, body: EventsV1Body): void {
  const problems: string[] = []
  if (!MICRO_TIME.test(body.eventTime)) problems.push('eventTime must be a MicroTime')
  if (!body.reportingController || body.reportingController.length > 128) problems.push('reportingController')
  if (!body.reportingInstance || body.reportingInstance.length > 128) problems.push('reportingInstance')
  if (!body.action || body.action.length > 128) problems.push('action')
  if (!body.reason || body.reason.length > 128) problems.push('reason')
  if (Buffer.byteLength(body.note, 'utf8') > 1024) problems.push('note must be at most 1 KiB')
  if (body.type !== 'Normal' && body.type !== 'Warning') problems.push('type')
  if (body.series && (body.series.count < 2 || !MICRO_TIME.test(body.series.lastObservedTime))) problems.push('series')
  const expected = body.regarding.namespace || 'default'
  if (namespace !== expected || body.metadata.namespace !== namespace) problems.push('namespace does not match regarding.namespace')
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(body.metadata.name) || body.metadata.name.length > 253) problems.push('metadata.name')
  if (problems.length > 0) throw invalid(problems.join('; '))
}

function notServed(): EventTransportError {
  return new EventTransportError('HTTP 404: the server could not find the requested resource', { statusCode: 404, statusReason: 'NotFound' })
}

function notFound(name: string): EventTransportError {
  return new EventTransportError(`HTTP 404 NotFound: events "${name}" not found`, { statusCode: 404, statusReason: 'NotFound', detailsKind: 'events' })
}

function invalid(message: string): EventTransportError {
  return new EventTransportError(`HTTP 422 Invalid: ${message}`, { statusCode: 422, statusReason: 'Invalid' })
}

/** An error like a missing namespace answers with (404 naming `namespaces`). */
export function namespaceNotFound(namespace: string): EventTransportError {
  return new EventTransportError(`HTTP 404 NotFound: namespaces "${namespace}" not found`, { statusCode: 404, statusReason: 'NotFound', detailsKind: 'namespaces' })
}
