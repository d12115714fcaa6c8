/**
 * What the informer caches keep of each object (controller-runtime's cache.TransformFunc): only
 * what the reconciler reads, so 10,000 runs and 10,000 Jobs fit in the reconciler's memory budget
 * (issue 13). Applied to every listed object and watch event before the cache — and so every
 * handler and planner — sees it.
 *
 * Never kept: metadata.managedFields (often the largest part of an object), the
 * kubectl.kubernetes.io/last-applied-configuration annotation (a second copy of the object), and
 * the fields below that no reader of the cache uses. What is read, and by whom:
 *
 *   every object  metadata: name, namespace, uid, resourceVersion, generation (observedGeneration
 *                 of a status write), creationTimestamp (retention), deletionTimestamp,
 *                 labels (selectors, triggers.ts), annotations (retain, template, held Job TTL),
 *                 ownerReferences (triggers.ts), finalizers; apiVersion and kind (Events)
 *   runs          spec.cancel, spec.desiredState (refs.ts, cancel.ts), spec.ttlSecondsAfterFinished
 *                 (retention.ts), spec.runtime.type (outcome metric), spec.runtime.config
 *                 .ttlSecondsAfterFinished (job-ttl.ts); ALL of status — the status write is a PUT
 *                 of the whole status built from the cached one (executor.ts), so dropping any
 *                 of it would erase it
 *   Jobs          spec.ttlSecondsAfterFinished (job-ttl.ts, the TTL-hold heal), spec.suspend;
 *                 status (conditions: Complete/Failed; small)
 *   Workflows     spec.shutdown (refs.ts); status.phase, startedAt, finishedAt (not status.nodes,
 *                 which grows with every step)
 *
 * A status PUT carries the cached object: the API server takes only its status (and checks
 * resourceVersion); spec and metadata come from what is stored, and managedFields left out of a
 * request are kept as stored. A reader that starts using another field must add it here; the
 * unit test lists every kept field.
 */
import { isJsonObject, type JsonObject, type KubeObject, type ObjectMeta } from '../kube/objects.ts'

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration'

/** The metadata every reader needs, in a fresh object; managedFields and last-applied dropped. */
function keptMetadata(metadata: ObjectMeta | undefined): ObjectMeta {
  const out: ObjectMeta = {}
  if (!metadata) return out
  if (metadata.name !== undefined) out.name = metadata.name
  if (metadata.namespace !== undefined) out.namespace = metadata.namespace
  if (metadata.uid !== undefined) out.uid = metadata.uid
  if (metadata.resourceVersion !== undefined) out.resourceVersion = metadata.resourceVersion
  if (metadata.generation !== undefined) out.generation = metadata.generation
  if (metadata.creationTimestamp !== undefined) out.creationTimestamp = metadata.creationTimestamp
  if (metadata.deletionTimestamp !== undefined) out.deletionTimestamp = metadata.deletionTimestamp
  if (metadata.labels !== undefined) out.labels = metadata.labels
  if (metadata.annotations !== undefined) {
    const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...annotations } = metadata.annotations
    if (Object.keys(annotations).length > 0) out.annotations = annotations
  }
  if (metadata.ownerReferences !== undefined) out.ownerReferences = metadata.ownerReferences
  if (metadata.finalizers !== undefined) out.finalizers = metadata.finalizers
  return out
}

/** apiVersion, kind and the kept metadata. */
function skeleton(obj: KubeObject): KubeObject {
  const out: KubeObject = {}
  if (obj.apiVersion !== undefined) out.apiVersion = obj.apiVersion
  if (obj.kind !== undefined) out.kind = obj.kind
  out.metadata = keptMetadata(obj.metadata)
  return out
}

/** The listed keys of `from` that are set, in a fresh object; undefined when none is. */
function pick(from: unknown, keys: readonly string[]): JsonObject | undefined {
  if (!isJsonObject(from)) return undefined
  const out: JsonObject = {}
  let any = false
  for (const key of keys) {
    if (from[key] !== undefined) {
      out[key] = from[key]
      any = true
    }
  }
  return any ? out : undefined
}

/** AgentRun, OrchestrationRun, ToolRun: the cancel and TTL fields of the spec, all of the status. */
export function transformRun(obj: KubeObject): KubeObject {
  const out = skeleton(obj)
  if (isJsonObject(obj.spec)) {
    const spec: JsonObject = pick(obj.spec, ['cancel', 'desiredState', 'ttlSecondsAfterFinished']) ?? {}
    const runtime = obj.spec.runtime
    if (isJsonObject(runtime)) {
      const kept: JsonObject = pick(runtime, ['type']) ?? {}
      const config = pick(runtime.config, ['ttlSecondsAfterFinished'])
      if (config) kept.config = config
      spec.runtime = kept
    }
    out.spec = spec
  }
  if (obj.status !== undefined) out.status = obj.status
  return out
}

/** batch/v1 Job: its TTL and suspension, and its (small) status; not the pod template. */
export function transformJob(obj: KubeObject): KubeObject {
  const out = skeleton(obj)
  if (isJsonObject(obj.spec)) out.spec = pick(obj.spec, ['ttlSecondsAfterFinished', 'suspend']) ?? {}
  if (obj.status !== undefined) out.status = obj.status
  return out
}

/** Argo Workflow: whether it is being terminated, and its phase; not its templates or node statuses. */
export function transformWorkflow(obj: KubeObject): KubeObject {
  const out = skeleton(obj)
  if (isJsonObject(obj.spec)) out.spec = pick(obj.spec, ['shutdown']) ?? {}
  const status = pick(obj.status, ['phase', 'startedAt', 'finishedAt'])
  if (status) out.status = status
  return out
}
