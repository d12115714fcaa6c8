/**
 * The Lease the leader elector competes for (coordination.k8s.io/v1), as the three calls it makes:
 * get, create and update. kubeLeaseClient() is the real one (client-node's CoordinationV1Api);
 * unit tests use a fake. Times are MicroTime strings (`2026-11-23T11:00:00.000000Z`).
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1ObjectMeta } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import { statusOf } from '../kube/errors.ts'
import { formatMicroTime } from '../status/rfc3339.ts'
import { leaseObject, type LeaseClient, type LeaseRecord } from './lease-types.ts'

export type { LeaseClient, LeaseRecord } from './lease-types.ts'

function microTimeString(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value instanceof Date && !Number.isNaN(value.getTime())) return formatMicroTime(value)
  return undefined
}

/** A LeaseClient on the coordination.k8s.io/v1 API. */
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
