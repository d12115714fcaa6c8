/**
 * The four API calls the reconciler makes on any resource — get, merge-patch, replace status,
 * delete — behind an interface, so the executor and the reconciler are unit-tested against a
 * fake and the real adapter stays thin. Everything goes through CustomObjectsApi, which serves
 * any non-core group (batch/v1 Jobs included) as plain JSON.
 *
 * Every failure is an ApiError with the HTTP status (undefined when no response came: network
 * error, timeout) and the Kubernetes Status reason and message.
 */
import { ApiException, CustomObjectsApi, PatchStrategy, type KubeConfig } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import { isJsonObject, type JsonObject, type KubeObject } from '../kube/objects.ts'
import type { ResourceRef } from '../reconciler/informer.ts'

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'
  /** Precondition: delete only this incarnation of the object. */
  uid?: string
}

export type DeleteResult = 'deleted' | 'pending' | 'absent'

/**
 * What a DELETE answered: a Status (kind Status, "Success") or the object without
 * deletionTimestamp when it was removed at once; the object with deletionTimestamp when
 * finalizers (or graceful deletion) keep it for now.
 */
export function deleteResultOf(body: unknown): DeleteResult {
  if (isJsonObject(body) && body.kind !== 'Status' && isJsonObject(body.metadata) && typeof body.metadata.deletionTimestamp === 'string') return 'pending'
  return 'deleted'
}

export interface RunguardApi {
  /** The object, or undefined when it does not exist (404). */
  get(resource: ResourceRef, namespace: string, name: string): Promise<KubeObject | undefined>
  /** JSON merge patch of the main resource; undefined when the object does not exist. */
  mergePatch(resource: ResourceRef, namespace: string, name: string, patch: JsonObject): Promise<KubeObject | undefined>
  /** PUT of the status subresource; `obj.metadata.resourceVersion` makes it conditional (409 when stale). */
  replaceStatus(resource: ResourceRef, obj: KubeObject): Promise<KubeObject>
  /**
   * `deleted`: the object is gone; `pending`: deletion started but finalizers hold it;
   * `absent`: it was already gone, or replaced by a newer one (uid precondition failed).
   */
  delete(resource: ResourceRef, namespace: string, name: string, options?: DeleteOptions): Promise<DeleteResult>
}

export class ApiError extends Error {
  override name = 'ApiError'
  readonly statusCode: number | undefined
  readonly statusReason: string | undefined

  constructor(message: string, statusCode: number | undefined, statusReason: string | undefined, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.statusCode = statusCode
    this.statusReason = statusReason
  }
}

/** HTTP status of any error the reconciler sees (ApiError, ApiException, Watch errors), if any. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.statusCode
  if (err instanceof ApiException) return err.code
  if (typeof err === 'object' && err !== null) {
    const record = err as { statusCode?: unknown; code?: unknown }
    if (typeof record.statusCode === 'number') return record.statusCode
    if (typeof record.code === 'number') return record.code
  }
  return undefined
}

function parseStatusBody(body: unknown): { reason?: string; message?: string } {
  let value: unknown = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return { message: body.trim().slice(0, 300) }
    }
  }
  if (!isJsonObject(value)) return {}
  return {
    ...(typeof value.reason === 'string' ? { reason: value.reason } : {}),
    ...(typeof value.message === 'string' ? { message: value.message } : {}),
  }
}

/** One-line ApiError from whatever client-node threw, prefixed with what was being done. */
export function toApiError(err: unknown, what: string): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof ApiException) {
    const status = parseStatusBody(err.body)
    return new ApiError(`${what}: HTTP ${err.code}${status.reason ? ` ${status.reason}` : ''}${status.message ? `: ${status.message}` : ''}`, err.code, status.reason, err)
  }
  const message = err instanceof Error ? err.message : String(err)
  return new ApiError(`${what}: ${message}`, statusCodeOf(err), undefined, err)
}

function describe(resource: ResourceRef, namespace: string, name: string): string {
  return `${resource.kind} ${namespace}/${name}`
}

/** The real RunguardApi; each call gives up after `timeoutMs` (default 15 s). */
export function kubeRunguardApi(kubeConfig: KubeConfig, timeoutMs = 15_000): RunguardApi {
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  return {
    async get(resource, namespace, name) {
      try {
        const obj: unknown = await api.getNamespacedCustomObject({ group: resource.group, version: resource.version, plural: resource.plural, namespace, name }, requestTimeout(timeoutMs))
        return isJsonObject(obj) ? (obj as KubeObject) : undefined
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined
        throw toApiError(err, `get ${describe(resource, namespace, name)}`)
      }
    },
    async mergePatch(resource, namespace, name, patch) {
      try {
        const obj: unknown = await api.patchNamespacedCustomObject(
          { group: resource.group, version: resource.version, plural: resource.plural, namespace, name, body: patch },
          requestTimeout(timeoutMs, PatchStrategy.MergePatch),
        )
        return isJsonObject(obj) ? (obj as KubeObject) : undefined
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined
        throw toApiError(err, `patch ${describe(resource, namespace, name)}`)
      }
    },
    async replaceStatus(resource, obj) {
      const namespace = obj.metadata?.namespace ?? ''
      const name = obj.metadata?.name ?? ''
      try {
        const updated: unknown = await api.replaceNamespacedCustomObjectStatus(
          { group: resource.group, version: resource.version, plural: resource.plural, namespace, name, body: obj },
          requestTimeout(timeoutMs),
        )
        return isJsonObject(updated) ? (updated as KubeObject) : obj
      } catch (err) {
        throw toApiError(err, `update status of ${describe(resource, namespace, name)}`)
      }
    },
    async delete(resource, namespace, name, opts = {}) {
      try {
        const answer: unknown = await api.deleteNamespacedCustomObject(
          {
            group: resource.group,
            version: resource.version,
            plural: resource.plural,
            namespace,
            name,
            // The API server reads DeleteOptions from the body when there is one and then ignores
            // the query parameters, so everything goes in the body (a Job deleted without
            // propagationPolicy orphans its pods: batch/v1's legacy default).
            body: {
              ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
              ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
            },
          },
          requestTimeout(timeoutMs),
        )
        return deleteResultOf(answer)
      } catch (err) {
        const code = statusCodeOf(err)
        if (code === 404) return 'absent'
        // A failed uid precondition: the object of that name is a newer one, not ours to delete.
        if (code === 409 && opts.uid) return 'absent'
        throw toApiError(err, `delete ${describe(resource, namespace, name)}`)
      }
    },
  }
}
