/** Builders for run, Job and Workflow objects as the caches hold them, and a fake ResourceClient. */
import type { JsonObject, KubeObject, RunStatus } from '../../../src/kube/objects.ts'
import { LABEL_AGENT_RUN, LABEL_ORCHESTRATION_RUN, LABEL_TOOL_RUN, type RunKindName } from '../../../src/kube/run-kinds.ts'
import type { RecordOptions } from '../../../src/events/recorder.ts'
import type { ObjectReference } from '../../../src/events/transport.ts'
import { KubeApiError } from '../../../src/kube/errors.ts'
import type { DeleteOptions, DeleteResult, ResourceClient } from '../../../src/kube/resource-client.ts'
import type { ResourceRef } from '../../../src/kube/resources.ts'
import type { EventSink } from '../../../src/reconcile/executor.ts'

export const NS = 'agents'
export const T0_MS = Date.parse('2026-11-23T11:00:00Z')
/** A millisecond instant as runguard writes it: toISOString(), like upstream's controllers. */
export const iso = (ms: number): string => new Date(ms).toISOString()

const API_VERSIONS: Record<RunKindName, string> = {
  AgentRun: 'agents.proompteng.ai/v1alpha1',
  OrchestrationRun: 'orchestration.proompteng.ai/v1alpha1',
  ToolRun: 'tools.proompteng.ai/v1alpha1',
}

export interface RunOptions {
  namespace?: string
  uid?: string
  generation?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  spec?: JsonObject
  status?: RunStatus
  cancel?: boolean
  deleting?: boolean
  resourceVersion?: string
}

export function run(kind: RunKindName, name: string, options: RunOptions = {}): KubeObject {
  const spec: JsonObject = { ...(options.spec ?? {}) }
  if (options.cancel) spec.cancel = true
  return {
    apiVersion: API_VERSIONS[kind],
    kind,
    metadata: {
      name,
      namespace: options.namespace ?? NS,
      uid: options.uid ?? `uid-${name}`,
      generation: options.generation ?? 2,
      resourceVersion: options.resourceVersion ?? '100',
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.deleting ? { deletionTimestamp: iso(T0_MS) } : {}),
    },
    spec,
    ...(options.status ? { status: options.status } : {}),
  }
}

export const agentRun = (name: string, options: RunOptions = {}): KubeObject => run('AgentRun', name, { spec: { agentRef: { name: 'a' }, runtime: { type: 'job' }, ...(options.spec ?? {}) }, ...withoutSpec(options) })
export const toolRun = (name: string, options: RunOptions = {}): KubeObject => run('ToolRun', name, { spec: { toolRef: { name: 't' }, ...(options.spec ?? {}) }, ...withoutSpec(options) })
export const orchestrationRun = (name: string, options: RunOptions = {}): KubeObject =>
  run('OrchestrationRun', name, { spec: { orchestrationRef: { name: 'o' }, ...(options.spec ?? {}) }, ...withoutSpec(options) })

function withoutSpec(options: RunOptions): RunOptions {
  const { spec: _spec, ...rest } = options
  return rest
}

export function childOf(parent: string, options: RunOptions = {}): RunOptions {
  return { ...options, labels: { ...(options.labels ?? {}), [LABEL_ORCHESTRATION_RUN]: parent } }
}

export interface JobOptions {
  namespace?: string
  uid?: string
  finished?: 'Complete' | 'Failed'
  ttl?: number
  heldTtl?: string
  deleting?: boolean
  label?: 'agent' | 'tool' | 'none'
  finalizers?: string[]
}

export function job(name: string, runName: string, options: JobOptions = {}): KubeObject {
  const label = options.label ?? 'agent'
  const labels = label === 'none' ? {} : { [label === 'agent' ? LABEL_AGENT_RUN : LABEL_TOOL_RUN]: runName }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: options.namespace ?? NS,
      uid: options.uid ?? `uid-${name}`,
      labels,
      ...(options.heldTtl !== undefined ? { annotations: { 'runguard.proompteng.ai/ttl-seconds-after-finished': options.heldTtl } } : {}),
      ...(options.deleting ? { deletionTimestamp: iso(T0_MS) } : {}),
      ...(options.finalizers ? { finalizers: options.finalizers } : {}),
    },
    spec: { ...(options.ttl !== undefined ? { ttlSecondsAfterFinished: options.ttl } : {}) },
    status: options.finished ? { conditions: [{ type: options.finished, status: 'True', reason: 'x', message: '', lastTransitionTime: iso(T0_MS) }] } : {},
  }
}

export function workflow(name: string, runName: string, options: { phase?: string; shutdown?: string } = {}): KubeObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name, namespace: NS, uid: `uid-${name}`, labels: { [LABEL_AGENT_RUN]: runName } },
    spec: { ...(options.shutdown ? { shutdown: options.shutdown } : {}) },
    status: options.phase ? { phase: options.phase } : {},
  }
}

/** A status that records Job `jobName` in runtimeRef, observed at `observedMs`. */
export function jobRecorded(jobName: string, observedMs: number | undefined, extra: RunStatus = {}): RunStatus {
  return {
    phase: 'Running',
    ...extra,
    runtimeRef: { type: 'job', name: jobName, namespace: NS, ...(observedMs === undefined ? {} : { jobObservedAt: iso(observedMs) }) },
  }
}

// --- fake API -----------------------------------------------------------------------------------

export interface ApiCall {
  op: 'get' | 'mergePatch' | 'replaceStatus' | 'delete'
  resource: string
  namespace: string
  name: string
  body?: unknown
  options?: DeleteOptions
}

/** Objects by `plural/namespace/name`; every call is recorded; `failWith` injects errors. */
export class FakeApi implements ResourceClient {
  calls: ApiCall[] = []
  objects = new Map<string, KubeObject>()
  failWith: ((call: ApiCall) => unknown) | undefined
  #rv = 1000

  key(resource: ResourceRef | string, namespace: string, name: string): string {
    return `${typeof resource === 'string' ? resource : resource.plural}/${namespace}/${name}`
  }

  put(plural: string, obj: KubeObject): void {
    this.objects.set(this.key(plural, obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''), structuredClone(obj))
  }

  #record(call: ApiCall): void {
    this.calls.push(call)
    const err = this.failWith?.(call)
    if (err !== undefined) throw err
  }

  async get(resource: ResourceRef, namespace: string, name: string): Promise<KubeObject | undefined> {
    this.#record({ op: 'get', resource: resource.plural, namespace, name })
    const obj = this.objects.get(this.key(resource, namespace, name))
    return obj ? structuredClone(obj) : undefined
  }

  async mergePatch(resource: ResourceRef, namespace: string, name: string, patch: JsonObject): Promise<KubeObject | undefined> {
    this.#record({ op: 'mergePatch', resource: resource.plural, namespace, name, body: patch })
    return this.objects.get(this.key(resource, namespace, name))
  }

  async replaceStatus(resource: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const namespace = obj.metadata?.namespace ?? ''
    const name = obj.metadata?.name ?? ''
    this.#record({ op: 'replaceStatus', resource: resource.plural, namespace, name, body: obj.status })
    const stored = this.objects.get(this.key(resource, namespace, name))
    if (stored && stored.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      throw new KubeApiError('conflict', { statusCode: 409, statusReason: 'Conflict' })
    }
    const next = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) } })
    this.objects.set(this.key(resource, namespace, name), next)
    return next
  }

  /** Like the API server: an object with finalizers only gets a deletionTimestamp. */
  async delete(resource: ResourceRef, namespace: string, name: string, options?: DeleteOptions): Promise<DeleteResult> {
    this.#record({ op: 'delete', resource: resource.plural, namespace, name, ...(options ? { options } : {}) })
    const key = this.key(resource, namespace, name)
    const obj = this.objects.get(key)
    if (!obj || (options?.uid && obj.metadata?.uid !== options.uid)) return 'absent'
    if ((obj.metadata?.finalizers as string[] | undefined)?.length) {
      obj.metadata!.deletionTimestamp = iso(T0_MS)
      return 'pending'
    }
    this.objects.delete(key)
    return 'deleted'
  }

  ops(): string[] {
    return this.calls.map((c) => `${c.op} ${c.resource} ${c.namespace}/${c.name}`)
  }
}

/** A Lister over a fixed list (label selectors of the form `key=value`). */
export function cacheOf(objects: KubeObject[]): { get(namespace: string, name: string): KubeObject | undefined; list(namespace?: string, selector?: string): KubeObject[]; objects: KubeObject[] } {
  return {
    objects,
    get: (namespace, name) => objects.find((o) => o.metadata?.namespace === namespace && o.metadata?.name === name),
    list: (namespace, selector) =>
      objects.filter((o) => {
        if (namespace !== undefined && o.metadata?.namespace !== namespace) return false
        if (!selector) return true
        return selector.split(',').every((term) => {
          const [key, value] = term.split('=')
          return value === undefined ? o.metadata?.labels?.[key!] !== undefined : o.metadata?.labels?.[key!] === value
        })
      }),
  }
}

// --- fake Event recorder ------------------------------------------------------------------------

export interface RecordedEvent {
  type: 'Warning' | 'Normal'
  reason: string
  message: string
  regarding: ObjectReference
  opts: RecordOptions
}

export class FakeRecorder implements EventSink {
  events: RecordedEvent[] = []
  warning(regarding: ObjectReference, reason: string, message: string, opts: RecordOptions = {}): void {
    this.events.push({ type: 'Warning', reason, message, regarding, opts })
  }
  normal(regarding: ObjectReference, reason: string, message: string, opts: RecordOptions = {}): void {
    this.events.push({ type: 'Normal', reason, message, regarding, opts })
  }
}

