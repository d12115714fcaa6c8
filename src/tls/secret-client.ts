/**
 * The self-managed TLS Secret through the webhook's REST client: read by every replica, written
 * (create, or update carrying the resourceVersion read) by the Lease holder only.
 */
import { KubeApiError } from '../kube/errors.ts'
import type { RestClient } from '../kube/rest.ts'
import type { TlsMaterial } from './material.ts'
import { materialFromSecretData, secretDataOf } from './material.ts'

export interface StoredSecret {
  material: TlsMaterial
  /** undefined: the Secret does not exist. */
  resourceVersion: string | undefined
  type?: string | undefined
  labels?: Record<string, string> | undefined
  annotations?: Record<string, string> | undefined
}

interface SecretObject {
  metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  type?: string
  data?: Record<string, string>
}

export interface TlsSecretClient {
  readonly namespace: string
  readonly name: string
  get(): Promise<StoredSecret>
  /** Creates (no resourceVersion) or replaces (with it); rejects with a KubeApiError (409 on a lost race). */
  write(previous: StoredSecret, material: Required<TlsMaterial>): Promise<StoredSecret>
}

export const MANAGED_BY_ANNOTATION = 'runguard.proompteng.ai/managed-by'

export function tlsSecretClient(client: RestClient, namespace: string, name: string): TlsSecretClient {
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`
  const item = `${collection}/${encodeURIComponent(name)}`
  const stored = (secret: SecretObject): StoredSecret => ({
    material: materialFromSecretData(secret.data),
    resourceVersion: secret.metadata?.resourceVersion,
    type: secret.type,
    labels: secret.metadata?.labels,
    annotations: secret.metadata?.annotations,
  })
  return {
    namespace,
    name,
    async get() {
      const response = await client.request('GET', item)
      if (response.status === 404) return { material: {}, resourceVersion: undefined }
      if (response.status !== 200) throw KubeApiError.fromResponse(`get secret ${namespace}/${name}`, response.status, response.body)
      return stored(response.body as SecretObject)
    },
    async write(previous, material) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: {
          name,
          namespace,
          ...(previous.labels ? { labels: previous.labels } : {}),
          annotations: { ...previous.annotations, [MANAGED_BY_ANNOTATION]: 'runguard webhook (self-managed TLS)' },
          ...(previous.resourceVersion ? { resourceVersion: previous.resourceVersion } : {}),
        },
        data: secretDataOf(material),
      }
      const creating = previous.resourceVersion === undefined
      const response = await client.request(creating ? 'POST' : 'PUT', creating ? collection : item, body)
      if (response.status < 200 || response.status >= 300) throw KubeApiError.fromResponse(`${creating ? 'create' : 'update'} secret ${namespace}/${name}`, response.status, response.body)
      return stored(response.body as SecretObject)
    },
  }
}
