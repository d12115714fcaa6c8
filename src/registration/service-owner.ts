/**
 * The webhook Service as the owner of the self-managed TLS Secret: the Secret is made for the
 * Service's DNS names, and naming the Service (by uid) in its ownerReferences lets the garbage
 * collector delete the Secret — CA key included — when the Service goes (`helm uninstall`,
 * `kubectl delete -f`). undefined when the Service does not exist: then no Secret is written at
 * all, so a Lease holder still running during an uninstall cannot leave an orphan behind.
 */
import { KubeApiError } from '../kube/errors.ts'
import { isJsonObject } from '../kube/objects.ts'
import type { RestClient } from '../kube/rest.ts'
import type { OwnerReference } from '../tls/secret-client.ts'

export async function serviceOwnerReference(client: RestClient, namespace: string, name: string): Promise<OwnerReference | undefined> {
  const response = await client.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`)
  if (response.status === 404) return undefined
  if (response.status !== 200) throw KubeApiError.fromResponse(`get service ${namespace}/${name}`, response.status, response.body)
  const metadata = isJsonObject(response.body) && isJsonObject(response.body.metadata) ? response.body.metadata : {}
  if (typeof metadata.uid !== 'string' || metadata.uid === '') throw new Error(`get service ${namespace}/${name}: no metadata.uid in the answer`)
  // Not the controller, and no blockOwnerDeletion: the Service's deletion never waits for the Secret.
  return { apiVersion: 'v1', kind: 'Service', name, uid: metadata.uid }
}
