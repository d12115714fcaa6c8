/**
 * `runguard check`: the webhook's rules, offline, for CI pipelines (like `kyverno apply` or
 * `gator test`). Each object goes through the mutating webhooks, then the validating ones — the
 * order the API server uses — and the output is what `kubectl apply` would print.
 */
import jsonpatch from 'fast-json-patch'
import { parseAllDocuments } from 'yaml'
import type { WebhookDefinition } from './admission/definition.ts'
import { reviewAdmission } from './admission/review.ts'
import type { AdmissionRequest, JsonPatchOperation, Operation } from './admission/types.ts'
import type { Config } from './config.ts'
import { isJsonObject, objectKey, type KubeObject } from './kube/objects.ts'
import { runKindByName } from './kube/run-kinds.ts'

export class InputError extends Error {
  override name = 'InputError'
}

export interface CheckInput {
  newObjects: KubeObject[]
  oldObjects: KubeObject[]
  subResource?: 'status'
  operation?: Operation
  username: string
  groups: string[]
}

export interface CheckResult {
  key: string
  allowed: boolean
  /** Lines as kubectl would print them (`Warning: …`, `Error from server …`, `… configured`). */
  lines: string[]
  /** The object after the mutating webhooks, for callers that want to inspect it. */
  mutated: KubeObject
}

/** Parses YAML or JSON text holding one or more objects; throws InputError on anything else. */
export function parseObjects(text: string, source: string): KubeObject[] {
  const docs = parseAllDocuments(text)
  const objects: KubeObject[] = []
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new InputError(`${source}: ${doc.errors[0]?.message ?? 'invalid YAML'}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    if (!isJsonObject(value)) throw new InputError(`${source}: every document must be a Kubernetes object`)
    const items = value.kind === 'List' && Array.isArray(value.items) ? value.items : [value]
    for (const item of items) {
      if (!isJsonObject(item) || typeof item.kind !== 'string' || typeof item.apiVersion !== 'string') {
        throw new InputError(`${source}: every object needs apiVersion and kind`)
      }
      objects.push(item as KubeObject)
    }
  }
  if (objects.length === 0) throw new InputError(`${source}: no objects found`)
  return objects
}

function resourceOf(obj: KubeObject): { group: string; version: string; resource: string } {
  const [group, version] = obj.apiVersion?.includes('/') ? (obj.apiVersion.split('/') as [string, string]) : ['', obj.apiVersion ?? '']
  const runKind = obj.kind ? runKindByName(obj.kind) : undefined
  if (runKind) return { group, version, resource: runKind.plural }
  if (obj.kind === 'Job' && group === 'batch') return { group, version, resource: 'jobs' }
  throw new InputError(`${objectKey(obj)}: runguard has no rules for ${obj.apiVersion} ${obj.kind}`)
}

function sameObject(a: KubeObject, b: KubeObject): boolean {
  return a.kind === b.kind && a.metadata?.name === b.metadata?.name && (a.metadata?.namespace ?? '') === (b.metadata?.namespace ?? '')
}

export function checkObjects(input: CheckInput, webhooks: readonly WebhookDefinition[], config: Config, now = new Date()): CheckResult[] {
  return input.newObjects.map((newObject, index) => {
    const oldObject = input.oldObjects.find((o) => sameObject(o, newObject)) ?? (input.oldObjects.length === input.newObjects.length ? input.oldObjects[index] : undefined)
    const operation: Operation = input.operation ?? (oldObject ? 'UPDATE' : 'CREATE')
    if (operation === 'UPDATE' && !oldObject) throw new InputError(`${objectKey(newObject)}: UPDATE needs the old object (--old)`)
    const resource = resourceOf(newObject)
    const request: AdmissionRequest = {
      uid: `check-${index}`,
      kind: { group: resource.group, version: resource.version, kind: newObject.kind ?? '' },
      resource,
      subResource: input.subResource,
      name: newObject.metadata?.name,
      namespace: newObject.metadata?.namespace ?? 'default',
      operation,
      userInfo: { username: input.username, groups: input.groups },
      object: newObject,
      oldObject: operation === 'UPDATE' ? oldObject : undefined,
      dryRun: true,
    }
    return judge(request, webhooks, config, now)
  })
}

function judge(request: AdmissionRequest, webhooks: readonly WebhookDefinition[], config: Config, now: Date): CheckResult {
  const key = `${request.kind.kind}/${request.name ?? '<unnamed>'}`
  const lines: string[] = []
  let object = request.object as KubeObject
  for (const mode of ['mutating', 'validating'] as const) {
    for (const webhook of webhooks.filter((w) => w.mode === mode)) {
      const outcome = reviewAdmission(webhook.routes, mode, { ...request, object }, config, now)
      const response = outcome.review.response
      for (const warning of response?.warnings ?? []) lines.push(`Warning: ${warning}`)
      if (!response?.allowed) {
        lines.push(`Error from server: admission webhook "${webhook.name}" denied the request: ${response?.status?.message ?? 'denied'}`)
        return { key, allowed: false, lines, mutated: object }
      }
      if (outcome.decision.patch?.length) {
        object = jsonpatch.applyPatch(structuredClone(object), outcome.decision.patch as JsonPatchOperation[] as jsonpatch.Operation[]).newDocument
      }
    }
  }
  lines.push(`${key} allowed${request.operation === 'UPDATE' ? ' (update)' : ''}`)
  return { key, allowed: true, lines, mutated: object }
}
