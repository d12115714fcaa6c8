/** API discovery: is a resource served? (The reconciler asks about Argo Workflows at start.) */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'
import { requestTimeout } from './client.ts'
import { statusOf } from './errors.ts'

/**
 * Whether `group/version` serves `plural`. False when the group/version is unknown (404); other
 * errors (RBAC, network) are thrown so callers do not mistake them for "absent".
 */
export async function apiResourceExists(kubeConfig: KubeConfig, group: string, version: string, plural: string): Promise<boolean> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi)
  try {
    const list = await api.getAPIResources({ group, version }, requestTimeout(30_000))
    return list.resources.some((served) => served.name === plural)
  } catch (err) {
    if (statusOf(err) === 404) return false
    throw err
  }
}
