/**
 * Where the reconciler's Kubernetes credentials come from: an explicit file or KUBECONFIG first,
 * then the in-cluster service account (the same order as src/kube/rest.ts, the webhook's loader). Returns undefined when neither exists so the webhook can keep
 * serving admission requests without API access (Events are then off).
 */
import { existsSync } from 'node:fs'
import { KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node'

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

export interface KubeConfigSource {
  kubeConfig: KubeConfig
  /** `in-cluster` or the kubeconfig path, for the start-up log line. */
  source: string
}

export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env, explicitFile?: string): KubeConfigSource | undefined {
  const kubeConfig = new KubeConfig()
  const file = explicitFile ?? env.KUBECONFIG
  if (file) {
    // KUBECONFIG may list several files; like kubectl, the first file's current context wins.
    const files = file.split(':').filter((f) => f !== '')
    if (!files.every((f) => existsSync(f))) throw new Error(`kubeconfig ${file} does not exist`)
    for (const [index, path] of files.entries()) {
      if (index === 0) {
        kubeConfig.loadFromFile(path)
        continue
      }
      const next = new KubeConfig()
      next.loadFromFile(path)
      kubeConfig.mergeConfig(next, true)
    }
    return { kubeConfig, source: file }
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kubeConfig.loadFromCluster()
    return { kubeConfig, source: 'in-cluster' }
  }
  return undefined
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
