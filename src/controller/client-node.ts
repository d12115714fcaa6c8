/**
 * The controller machinery's side of the reconciler's client-node fallback (src/kube/client.ts
 * says when and why): list+watch sources over CustomObjectsApi and client-node's Watch, sharing the
 * paging loop, parameters and watch ends of list-watch.ts with the REST source, and the Lease
 * client over CoordinationV1Api (rest-lease-client.ts is the REST one). Reached only through a
 * dynamic import on the fallback path: nothing imports this file statically.
 */
import { CoordinationV1Api, CustomObjectsApi, V1MicroTime, Watch, type KubeConfig, type V1Lease, type V1ObjectMeta } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import { statusOf } from '../kube/errors.ts'
import type { ResourceRef } from '../kube/resources.ts'
import { formatMicroTime } from '../status/rfc3339.ts'
import { leaseObject, type LeaseClient, type LeaseRecord } from './lease-types.ts'
import { collectionPath, LIST_TIMEOUT_MS, listAllPages, listPageParams, watchEnd, watchParams, type ListWatchOptions, type ListWatchSource, type ListWatchSources } from './list-watch.ts'

/**
 * List via the generated CustomObjectsApi (any non-core group), watch via client-node's Watch
 * (whose own 30 s inactivity timeout ends a silent watch: a normal end, as the REST source's).
 */
export function kubeListWatchSource(kubeConfig: KubeConfig, resource: ResourceRef, options: ListWatchOptions = {}): ListWatchSource {
  if (resource.group === '') throw new Error(`kubeListWatchSource: core-group resource ${resource.plural} is not supported`)
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  const watcher = new Watch(kubeConfig)
  const { group, version, plural } = resource

  return {
    list(scope, transform) {
      const { namespace } = scope
      return listAllPages(
        `list ${plural}`,
        (continueToken) => {
          const { continue: _continue, ...params } = listPageParams(scope, continueToken)
          const common = { group, version, plural, ...params, ...(_continue ? { _continue } : {}) }
          return namespace === undefined
            ? api.listClusterCustomObject(common, requestTimeout(LIST_TIMEOUT_MS))
            : api.listNamespacedCustomObject({ ...common, namespace }, requestTimeout(LIST_TIMEOUT_MS))
        },
        transform,
      )
    },

    watch(scope, onEvent) {
      let controller: AbortController | undefined
      let aborted = false
      const done = new Promise<void>((resolve, reject) => {
        watcher
          .watch(collectionPath(resource, scope.namespace), watchParams(scope, options), (type: string, object: unknown) => onEvent({ type, object }), (err: unknown) =>
            err ? reject(err) : resolve(),
          )
          .then((c) => {
            controller = c
            if (aborted) c.abort()
          }, reject)
      })
      return {
        done: watchEnd(done, () => aborted, (err) => err instanceof Error && err.name === 'TimeoutError'),
        abort() {
          aborted = true
          controller?.abort()
        },
      }
    },
  }
}

export function kubeListWatchSources(kubeConfig: KubeConfig): ListWatchSources {
  return (resource, options) => kubeListWatchSource(kubeConfig, resource, options)
}

function microTimeString(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value instanceof Date && !Number.isNaN(value.getTime())) return formatMicroTime(value)
  return undefined
}

/** A LeaseClient (lease-types.ts) on client-node's CoordinationV1Api. */
export function kubeLeaseClient(kubeConfig: KubeConfig, namespace: string, name: string, requestTimeoutMs = 10_000): LeaseClient {
  const api = kubeConfig.makeApiClient(CoordinationV1Api)
  // Labels and annotations someone put on the Lease survive our PUTs.
  let lastMetadata: V1ObjectMeta | undefined

  const fromLease = (lease: V1Lease): LeaseRecord => {
    lastMetadata = lease.metadata
    const spec = lease.spec ?? {}
    const record: LeaseRecord = {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      leaseTransitions: spec.leaseTransitions ?? 0,
    }
    // The generated deserializer leaves MicroTime fields as strings despite their declared type.
    const acquireTime = microTimeString(spec.acquireTime as unknown)
    const renewTime = microTimeString(spec.renewTime as unknown)
    if (acquireTime) record.acquireTime = acquireTime
    if (renewTime) record.renewTime = renewTime
    if (lease.metadata?.resourceVersion) record.resourceVersion = lease.metadata.resourceVersion
    return record
  }

  // V1MicroTime serialises with six fractional digits.
  const toLease = (record: LeaseRecord): V1Lease => leaseObject(name, namespace, lastMetadata, record, (value) => new V1MicroTime(value))

  return {
    async get() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }, requestTimeout(requestTimeoutMs)))
      } catch (err) {
        if (statusOf(err) === 404) return undefined
        throw err
      }
    },
    async create(record) {
      lastMetadata = undefined
      return fromLease(await api.createNamespacedLease({ namespace, body: toLease(record) }, requestTimeout(requestTimeoutMs)))
    },
    async update(record) {
      return fromLease(await api.replaceNamespacedLease({ name, namespace, body: toLease(record) }, requestTimeout(requestTimeoutMs)))
    },
  }
}
