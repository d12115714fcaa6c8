/**
 * The reconciler's API client for its reads and writes (status PUTs, Job deletes, child-run and
 * Workflow patches, retention deletes, the few GETs a cache cannot answer): one lean keep-alive
 * REST client (rest.ts) whose concurrency adapts to the API server's answers (limited-rest.ts).
 *
 * A kubeconfig the REST client does not support (exec plugins, auth providers, impersonation)
 * falls back to client-node's adapter at a fixed concurrency, with a warning: the reconciler
 * keeps working wherever it worked before.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../log.ts'
import { AdaptiveLimiter } from './adaptive-limiter.ts'
import type { KubeconfigEnv } from './kubeconfig.ts'
import { limitedRestClient } from './limited-rest.ts'
import { kubeResourceClient, restResourceClient, type ResourceClient } from './resource-client.ts'
import { createRestClient, loadRestConfig } from './rest.ts'

/** Where the limit starts: the fixed worker pool's old concurrency. */
export const INITIAL_API_CONCURRENCY = 4
export const MAX_API_CONCURRENCY = 64
/** Per call, from sending to the end of the answer. */
const CALL_TIMEOUT_MS = 15_000

export interface ReconcilerApiOptions {
  env: KubeconfigEnv
  kubeconfig?: string
  /** client-node's config, for the fallback. */
  kubeConfig: KubeConfig
  logger: Logger
  /** The limit changed (a gauge). */
  onLimit?: (limit: number) => void
  /** An answer was 429 or 5xx (a counter). */
  onThrottled?: (status: number) => void
  initialConcurrency?: number
  maxConcurrency?: number
}

export interface ReconcilerApi {
  api: ResourceClient
  /** Undefined on the client-node fallback. */
  limiter: AdaptiveLimiter | undefined
  close(): void
}

export function createReconcilerApi(options: ReconcilerApiOptions): ReconcilerApi {
  let restConfig: ReturnType<typeof loadRestConfig>
  try {
    restConfig = loadRestConfig(options.env, options.kubeconfig)
  } catch (err) {
    options.logger.warn({ err }, 'the lean REST client does not support this kubeconfig; the reconciler writes through client-node at a fixed concurrency')
    return { api: kubeResourceClient(options.kubeConfig), limiter: undefined, close: () => undefined }
  }
  if (!restConfig) throw new Error('the reconciler needs Kubernetes API access: no in-cluster service account and no KUBECONFIG')
  const maxConcurrency = options.maxConcurrency ?? MAX_API_CONCURRENCY
  const limiter = new AdaptiveLimiter({
    initialLimit: options.initialConcurrency ?? INITIAL_API_CONCURRENCY,
    maxLimit: maxConcurrency,
    ...(options.onLimit ? { onLimit: options.onLimit } : {}),
  })
  // One socket per call the limiter may allow: a call never waits for a connection on top.
  const rest = createRestClient(restConfig, { timeoutMs: CALL_TIMEOUT_MS, maxSockets: maxConcurrency })
  const limited = limitedRestClient(rest, limiter, options.onThrottled ? { onThrottled: options.onThrottled } : {})
  return { api: restResourceClient(limited), limiter, close: () => limited.close() }
}
