/**
 * Minimal, honest shapes of the objects runguard reads. Admission input is untrusted JSON, so
 * every field is optional and typed as what it may be; code narrows with the guards below.
 */

export type JsonObject = { [key: string]: unknown }

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  creationTimestamp?: string
  deletionTimestamp?: string
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>
  [key: string]: unknown
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason: string
  message: string
  lastTransitionTime: string
  observedGeneration?: number
}

export interface RunStatus {
  phase?: string
  observedGeneration?: number
  startedAt?: string
  finishedAt?: string
  updatedAt?: string
  conditions?: Condition[]
  [key: string]: unknown
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  spec?: JsonObject
  status?: RunStatus
  [key: string]: unknown
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Namespace/name of an object, as used in logs, queue keys and messages. */
export function objectKey(obj: { metadata?: ObjectMeta } | undefined): string {
  const ns = obj?.metadata?.namespace
  const name = obj?.metadata?.name ?? obj?.metadata?.generateName ?? '<unnamed>'
  return ns ? `${ns}/${name}` : name
}
