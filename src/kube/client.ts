/**
 * @kubernetes/client-node for the reconciler's other calls (its writes and reads go through the
 * lean REST client: reconciler-api.ts): its KubeConfig built from the shared resolver
 * (kubeconfig.ts, the same one the REST client uses), and a per-call timeout. The webhook must
 * never import this file (client-node costs ~85 MiB RSS).
 */
import { KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node'
import { resolveKubeconfig, SERVICE_ACCOUNT_DIR, type Kubeconfig, type KubeconfigEnv, type NamedEntry } from './kubeconfig.ts'
import { isJsonObject } from './objects.ts'

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
