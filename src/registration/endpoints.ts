/**
 * Does the webhook Service have a ready endpoint? Arming waits for one: the API server sends
 * webhook calls to the Service's ready endpoints, and a pod's /readyz turning 200 reaches its
 * EndpointSlice only after the kubelet's next probe — arming before that would fail calls closed
 * for those seconds. Read from the Service's EndpointSlices (label kubernetes.io/service-name);
 * an endpoint whose `ready` condition is unset counts as ready (the API's own convention).
 */
import { KubeApiError } from '../kube/errors.ts'
import type { RestClient } from '../kube/rest.ts'

interface EndpointSliceList {
  items?: { endpoints?: { conditions?: { ready?: boolean | null } }[] | null }[]
}

/** Pure: any endpoint of the slices ready. */
export function anyReadyEndpoint(list: EndpointSliceList): boolean {
  return (list.items ?? []).some((slice) => (slice.endpoints ?? []).some((e) => e.conditions?.ready !== false))
}

export async function serviceHasReadyEndpoint(client: RestClient, namespace: string, service: string): Promise<boolean> {
  const selector = encodeURIComponent(`kubernetes.io/service-name=${service}`)
  const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?labelSelector=${selector}`
  const response = await client.request('GET', path)
  if (response.status !== 200) throw KubeApiError.fromResponse(`list endpointslices of ${namespace}/${service}`, response.status, response.body)
  return anyReadyEndpoint(response.body as EndpointSliceList)
}
