/**
 * The four calls the reconciler makes on any resource — get, merge-patch, replace status, delete —
 * behind an interface, so the reconcilers are unit-tested against a fake and the real adapters
 * stay thin. Two adapters, the same paths and bodies (any non-core group, batch/v1 Jobs
 * included, as plain JSON):
 * - restResourceClient(): over the lean keep-alive REST client (rest.ts), normally wrapped in
 *   the adaptive limiter (limited-rest.ts) — what the reconciler uses;
 * - kubeResourceClient() (src/kube/client.ts): over client-node's CustomObjectsApi, for
 *   kubeconfigs the REST client does not support (exec plugins, auth providers).
 *
 * Every failure is a KubeApiError (errors.ts) with the HTTP status (undefined when no answer came:
 * network error, timeout) and the Kubernetes Status reason, its message prefixed by the call.
 */
import { KubeApiError } from './errors.ts'
import { isJsonObject, type JsonObject, type KubeObject } from './objects.ts'
import type { ResourceRef } from './resources.ts'
import type { RestClient, RestResponse } from './rest.ts'

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

export interface ResourceClient {
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

export function describe(resource: ResourceRef, namespace: string, name: string): string {
  return `${resource.kind} ${namespace}/${name}`
}

/** `/apis/group/version/namespaces/ns/plural[/name]`. */
export function resourcePath(resource: ResourceRef, namespace: string, name?: string): string {
  const collection = `/apis/${resource.group}/${resource.version}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`
}

/** The real ResourceClient over the lean REST client (its own per-call timeout applies). */
export function restResourceClient(rest: RestClient): ResourceClient {
  /** The answer, or a KubeApiError prefixed by `what` when no answer came. */
  const call = async (what: string, method: string, path: string, body?: unknown, contentType?: string): Promise<RestResponse> => {
    try {
      return await rest.request(method, path, body, contentType)
    } catch (err) {
      throw KubeApiError.from(err, what)
    }
  }
  const ok = (status: number): boolean => status >= 200 && status < 300
  return {
    async get(resource, namespace, name) {
      const what = `get ${describe(resource, namespace, name)}`
      const answer = await call(what, 'GET', resourcePath(resource, namespace, name))
      if (answer.status === 404) return undefined
      if (!ok(answer.status)) throw KubeApiError.fromResponse(what, answer.status, answer.body)
      return isJsonObject(answer.body) ? (answer.body as KubeObject) : undefined
    },
    async mergePatch(resource, namespace, name, patch) {
      const what = `patch ${describe(resource, namespace, name)}`
      const answer = await call(what, 'PATCH', resourcePath(resource, namespace, name), patch, 'application/merge-patch+json')
      if (answer.status === 404) return undefined
      if (!ok(answer.status)) throw KubeApiError.fromResponse(what, answer.status, answer.body)
      return isJsonObject(answer.body) ? (answer.body as KubeObject) : undefined
    },
    async replaceStatus(resource, obj) {
      const namespace = obj.metadata?.namespace ?? ''
      const name = obj.metadata?.name ?? ''
      const what = `update status of ${describe(resource, namespace, name)}`
      const answer = await call(what, 'PUT', `${resourcePath(resource, namespace, name)}/status`, obj)
      if (!ok(answer.status)) throw KubeApiError.fromResponse(what, answer.status, answer.body)
      return isJsonObject(answer.body) ? (answer.body as KubeObject) : obj
    },
    async delete(resource, namespace, name, opts = {}) {
      const what = `delete ${describe(resource, namespace, name)}`
      // DeleteOptions in the body, as kubeResourceClient sends them (see there for why).
      const body = {
        ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
        ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
      }
      const answer = await call(what, 'DELETE', resourcePath(resource, namespace, name), body)
      if (answer.status === 404) return 'absent'
      // A failed uid precondition: the object of that name is a newer one, not ours to delete.
      if (answer.status === 409 && opts.uid) return 'absent'
      if (!ok(answer.status)) throw KubeApiError.fromResponse(what, answer.status, answer.body)
      return deleteResultOf(answer.body)
    },
  }
}
