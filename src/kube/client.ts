/**
 * The reconciler's fallback onto @kubernetes/client-node, for a kubeconfig the lean REST client
 * (rest.ts) does not support — exec plugins, auth providers, impersonation. Importing client-node
 * costs ~89 MiB RSS by itself, so nothing imports this file statically: the reconciler reaches it
 * (and the fallback's two other files, src/controller/client-node.ts and
 * src/events/kube-transport.ts) through a dynamic import on that path only (src/cmd/reconcile.ts);
 * the webhook never loads it.
 *
 * Here: the KubeConfig, loaded through the shared resolver (kubeconfig.ts, as the REST client's),
 * a per-call timeout, and the kube-level clients as the REST path's interfaces — reads and writes
 * (ResourceClient, over CustomObjectsApi) and discovery (ApiResources).
 */
import {
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node'
import type { ApiResources } from './discovery.ts'
import { KubeApiError, statusOf } from './errors.ts'
import { resolveKubeconfig, SERVICE_ACCOUNT_DIR, type Kubeconfig, type KubeconfigEnv, type NamedEntry } from './kubeconfig.ts'
import { isJsonObject, type KubeObject } from './objects.ts'
import { deleteResultOf, describe, type ResourceClient } from './resource-client.ts'
import type { ResourceRef } from './resources.ts'

export interface KubeConfigSource {
  kubeConfig: KubeConfig
  /** `in-cluster` or the kubeconfig path(s), for the start-up log line. */
  source: string
}

/** client-node's KubeConfig from resolveKubeconfig(), or undefined when there are no credentials. */
export function loadKubeConfig(env: KubeconfigEnv, explicitFile?: string, serviceAccountDir = SERVICE_ACCOUNT_DIR): KubeConfigSource | undefined {
  const resolved = resolveKubeconfig(env, explicitFile, serviceAccountDir)
  return resolved && { kubeConfig: toKubeConfig(resolved.config), source: resolved.source }
}

function toKubeConfig(config: Kubeconfig): KubeConfig {
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromString(
    JSON.stringify({ clusters: config.clusters, users: config.users.map(tokenFileUser), contexts: config.contexts, 'current-context': config.currentContext }),
  )
  return kubeConfig
}

/**
 * client-node ignores kubectl's `tokenFile`; its `tokenFile` auth provider reads the file and
 * re-reads it every minute, as a rotating service-account token needs (loadFromCluster() uses it).
 */
function tokenFileUser(entry: NamedEntry): NamedEntry {
  const user = entry.user
  if (!isJsonObject(user) || typeof user.tokenFile !== 'string' || user.token !== undefined || user['auth-provider'] !== undefined) return entry
  return { ...entry, user: { ...user, 'auth-provider': { name: 'tokenFile', config: { tokenFile: user.tokenFile } } } }
}

/**
 * Per-call options that abort a client-node request after `ms`: the generated clients have no
 * timeout of their own, and a hung call must never stall a reconcile or the leader's renewals.
 */
export function requestTimeout(ms: number, contentType?: string): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(AbortSignal.timeout(ms))
          // Patches need their own type (merge-patch); the generated clients default to JSON Patch.
          if (contentType) context.setHeaderParam('Content-Type', contentType)
          return new Observable(Promise.resolve(context))
        },
        post: (context) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  }
}

// --- reads and writes ---------------------------------------------------------------------------

/** A ResourceClient (resource-client.ts) on CustomObjectsApi; each call gives up after `timeoutMs` (default 15 s). */
export function kubeResourceClient(kubeConfig: KubeConfig, timeoutMs = 15_000): ResourceClient {
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  const address = (resource: ResourceRef) => ({ group: resource.group, version: resource.version, plural: resource.plural })
  return {
    async get(resource, namespace, name) {
      try {
        const obj: unknown = await api.getNamespacedCustomObject({ ...address(resource), namespace, name }, requestTimeout(timeoutMs))
        return isJsonObject(obj) ? (obj as KubeObject) : undefined
      } catch (err) {
        if (statusOf(err) === 404) return undefined
        throw KubeApiError.from(err, `get ${describe(resource, namespace, name)}`)
      }
    },
    async mergePatch(resource, namespace, name, patch) {
      try {
        const obj: unknown = await api.patchNamespacedCustomObject({ ...address(resource), namespace, name, body: patch }, requestTimeout(timeoutMs, PatchStrategy.MergePatch))
        return isJsonObject(obj) ? (obj as KubeObject) : undefined
      } catch (err) {
        if (statusOf(err) === 404) return undefined
        throw KubeApiError.from(err, `patch ${describe(resource, namespace, name)}`)
      }
    },
    async replaceStatus(resource, obj) {
      const namespace = obj.metadata?.namespace ?? ''
      const name = obj.metadata?.name ?? ''
      try {
        const updated: unknown = await api.replaceNamespacedCustomObjectStatus({ ...address(resource), namespace, name, body: obj }, requestTimeout(timeoutMs))
        return isJsonObject(updated) ? (updated as KubeObject) : obj
      } catch (err) {
        throw KubeApiError.from(err, `update status of ${describe(resource, namespace, name)}`)
      }
    },
    async delete(resource, namespace, name, opts = {}) {
      try {
        const answer: unknown = await api.deleteNamespacedCustomObject(
          {
            ...address(resource),
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
        const code = statusOf(err)
        if (code === 404) return 'absent'
        // A failed uid precondition: the object of that name is a newer one, not ours to delete.
        if (code === 409 && opts.uid) return 'absent'
        throw KubeApiError.from(err, `delete ${describe(resource, namespace, name)}`)
      }
    },
  }
}

// --- discovery ----------------------------------------------------------------------------------

/** Discovery (discovery.ts) through CustomObjectsApi.getAPIResources (non-core groups). */
export function kubeApiResources(kubeConfig: KubeConfig, timeoutMs = 30_000): ApiResources {
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  return async (group, version) => {
    try {
      const list = await api.getAPIResources({ group, version }, requestTimeout(timeoutMs))
      return list.resources.map((served) => served.name)
    } catch (err) {
      if (statusOf(err) === 404) return undefined
      throw err
    }
  }
}
