/**
 * API discovery: is a resource served? (The reconciler asks about Argo Workflows at start.) The
 * question is asked through ApiResources — a GET of `/apis/<group>/<version>` through the lean REST
 * client (restApiResources), or client-node's on the fallback (src/kube/client.ts).
 */
import { KubeApiError } from './errors.ts'
import { isJsonObject } from './objects.ts'
import type { RestClient } from './rest.ts'

/**
 * The plural names `group/version` serves, or undefined when that group/version is not served
 * (404). Other failures (RBAC, network, 5xx) throw, so callers do not mistake them for "absent".
 */
export type ApiResources = (group: string, version: string) => Promise<readonly string[] | undefined>

/** Whether `group/version` serves `plural`; false when the group/version is unknown (404). */
export async function apiResourceExists(resources: ApiResources, group: string, version: string, plural: string): Promise<boolean> {
  return (await resources(group, version))?.includes(plural) ?? false
}

/** The names in an APIResourceList. */
export function servedNames(list: unknown): string[] {
  const resources = isJsonObject(list) && Array.isArray(list.resources) ? list.resources : []
  return resources.flatMap((served) => (isJsonObject(served) && typeof served.name === 'string' ? [served.name] : []))
}

/** Discovery through the lean REST client. */
export function restApiResources(client: RestClient): ApiResources {
  return async (group, version) => {
    const what = `discovery of ${group === '' ? '' : `${group}/`}${version}`
    let response
    try {
      response = await client.request('GET', group === '' ? `/api/${version}` : `/apis/${group}/${version}`)
    } catch (err) {
      throw KubeApiError.from(err, what)
    }
    if (response.status === 404) return undefined
    if (response.status !== 200) throw KubeApiError.fromResponse(what, response.status, response.body)
    return servedNames(response.body)
  }
}
