/**
 * The self-managed TLS Secret through the webhook's REST client: read and written (create, or
 * update carrying the resourceVersion read) by the Lease holder only; every replica watches it
 * (secret-watch.ts).
 */
import { KubeApiError } from '../kube/errors.ts'
import type { RestClient } from '../kube/rest.ts'
import type { TlsMaterial } from './material.ts'
import { materialFromSecretData, secretDataOf } from './material.ts'

export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface StoredSecret {
  material: TlsMaterial
  /** undefined: the Secret does not exist. */
  resourceVersion: string | undefined
  type?: string | undefined
  labels?: Record<string, string> | undefined
  annotations?: Record<string, string> | undefined
  ownerReferences?: OwnerReference[] | undefined
}

/** A Secret as the API returns it (the fields runguard reads). */
export interface SecretObject {
  metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: OwnerReference[] }
  type?: string
  data?: Record<string, string>
}

export interface TlsSecretClient {
  readonly namespace: string
  readonly name: string
  get(): Promise<StoredSecret>
  /**
   * Creates (no resourceVersion) or replaces (with it); rejects with a KubeApiError (409 on a lost
   * race). Labels, annotations and owner references of `previous` are kept; `owner` is added.
   */
  write(previous: StoredSecret, material: Required<TlsMaterial>, owner?: OwnerReference): Promise<StoredSecret>
}

export const MANAGED_BY_ANNOTATION = 'runguard.proompteng.ai/managed-by'

/** What runguard keeps of a Secret read, listed or watched. */
export function storedSecret(secret: SecretObject): StoredSecret {
  return {
    material: materialFromSecretData(secret.data),
    resourceVersion: secret.metadata?.resourceVersion,
    type: secret.type,
    labels: secret.metadata?.labels,
    annotations: secret.metadata?.annotations,
    ownerReferences: secret.metadata?.ownerReferences,
  }
}

/** The Secret names `owner` (by uid) among its owners. */
export function ownedBy(secret: StoredSecret, owner: OwnerReference): boolean {
  return (secret.ownerReferences ?? []).some((ref) => ref.uid === owner.uid)
}

export function tlsSecretClient(client: RestClient, namespace: string, name: string): TlsSecretClient {
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`
  const item = `${collection}/${encodeURIComponent(name)}`
  return {
    namespace,
    name,
    async get() {
      const response = await client.request('GET', item)
      if (response.status === 404) return { material: {}, resourceVersion: undefined }
      if (response.status !== 200) throw KubeApiError.fromResponse(`get secret ${namespace}/${name}`, response.status, response.body)
      return storedSecret(response.body as SecretObject)
    },
    async write(previous, material, owner) {
      const owners = [...(previous.ownerReferences ?? []).filter((ref) => ref.uid !== owner?.uid), ...(owner ? [owner] : [])]
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: {
          name,
          namespace,
          ...(previous.labels ? { labels: previous.labels } : {}),
          annotations: { ...previous.annotations, [MANAGED_BY_ANNOTATION]: 'runguard webhook (self-managed TLS)' },
          ...(owners.length > 0 ? { ownerReferences: owners } : {}),
          ...(previous.resourceVersion ? { resourceVersion: previous.resourceVersion } : {}),
        },
        data: secretDataOf(material),
      }
      const creating = previous.resourceVersion === undefined
      const response = await client.request(creating ? 'POST' : 'PUT', creating ? collection : item, body)
      if (response.status < 200 || response.status >= 300) throw KubeApiError.fromResponse(`${creating ? 'create' : 'update'} secret ${namespace}/${name}`, response.status, response.body)
      return storedSecret(response.body as SecretObject)
    },
  }
}
