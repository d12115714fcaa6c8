/**
 * Where runguard's Kubernetes credentials come from: in-cluster service account first, then
 * KUBECONFIG (or an explicit file). Returns undefined when neither exists so the webhook can keep
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
    // KUBECONFIG may list several files; client-node merges them like kubectl does.
    const files = file.split(':').filter((f) => f !== '')
    if (!files.every((f) => existsSync(f))) throw new Error(`kubeconfig ${file} does not exist`)
    kubeConfig.loadFromDefault({}, false)
    if (files.length === 1 && files[0]) kubeConfig.loadFromFile(files[0])
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
export function requestTimeout(ms: number): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(AbortSignal.timeout(ms))
          return new Observable(Promise.resolve(context))
        },
        post: (context) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append',
  }
}
