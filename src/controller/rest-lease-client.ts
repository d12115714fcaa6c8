/**
 * A LeaseClient (lease-types.ts) on the webhook's small REST client (src/kube/rest.ts): the
 * webhook competes for its TLS Lease without loading @kubernetes/client-node. Labels and
 * annotations someone put on the Lease survive our PUTs, as in lease-client.ts.
 */
import { KubeApiError } from '../kube/errors.ts'
import type { RestClient } from '../kube/rest.ts'
import { leaseObject, type LeaseClient, type LeaseRecord } from './lease-types.ts'

interface LeaseObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number }
}

export function restLeaseClient(client: RestClient, namespace: string, name: string): LeaseClient {
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`
  const item = `${collection}/${encodeURIComponent(name)}`
  let lastMetadata: LeaseObject['metadata']

  const fromLease = (lease: LeaseObject): LeaseRecord => {
    lastMetadata = lease.metadata
    const spec = lease.spec ?? {}
    return {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      leaseTransitions: spec.leaseTransitions ?? 0,
      ...(spec.acquireTime ? { acquireTime: spec.acquireTime } : {}),
      ...(spec.renewTime ? { renewTime: spec.renewTime } : {}),
      ...(lease.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
    }
  }

  const toLease = (record: LeaseRecord) => leaseObject(name, namespace, lastMetadata, record, (value) => value)

  const call = async (method: string, path: string, what: string, body?: unknown): Promise<LeaseObject> => {
    const response = await client.request(method, path, body)
    if (response.status < 200 || response.status >= 300) throw KubeApiError.fromResponse(what, response.status, response.body)
    return response.body as LeaseObject
  }

  return {
    async get() {
      const response = await client.request('GET', item)
      if (response.status === 404) return undefined
      if (response.status !== 200) throw KubeApiError.fromResponse(`get lease ${namespace}/${name}`, response.status, response.body)
      return fromLease(response.body as LeaseObject)
    },
    async create(record) {
      lastMetadata = undefined
      return fromLease(await call('POST', collection, `create lease ${namespace}/${name}`, toLease(record)))
    },
    async update(record) {
      return fromLease(await call('PUT', item, `update lease ${namespace}/${name}`, toLease(record)))
    },
  }
}
