/**
 * The reconciler's API client for its reads and writes (status PUTs, Job deletes, child-run and
 * Workflow patches, retention deletes, the few GETs a cache cannot answer): one lean keep-alive
 * REST client (rest.ts) whose concurrency adapts to the API server's answers (limited-rest.ts).
 * The reconciler's other calls share its RestConfig (src/cmd/reconcile.ts).
 *
 * A kubeconfig the REST client does not support (exec plugins, auth providers, impersonation)
 * falls back to client-node (kubeResourceClient() in client.ts, loaded only then) at a fixed
 * concurrency: the reconciler keeps working wherever it worked before.
 */
import { AdaptiveLimiter } from './adaptive-limiter.ts'
import { limitedRestClient } from './limited-rest.ts'
import { restResourceClient, type ResourceClient } from './resource-client.ts'
import { createRestClient, type RestConfig } from './rest.ts'

/** Where the limit starts: the fixed worker pool's old concurrency. */
export const INITIAL_API_CONCURRENCY = 4
export const MAX_API_CONCURRENCY = 64
/** Per call, from sending to the end of the answer. */
const CALL_TIMEOUT_MS = 15_000

export interface ReconcilerApiOptions {
  /** The limit changed (a gauge). */
  onLimit?: (limit: number) => void
  /** An answer was 429 or 5xx (a counter). */
  onThrottled?: (status: number) => void
  initialConcurrency?: number
  maxConcurrency?: number
}

export interface ReconcilerApi {
  api: ResourceClient
  limiter: AdaptiveLimiter
  close(): void
}

export function createReconcilerApi(config: RestConfig, options: ReconcilerApiOptions = {}): ReconcilerApi {
  const maxConcurrency = options.maxConcurrency ?? MAX_API_CONCURRENCY
  const limiter = new AdaptiveLimiter({
    initialLimit: options.initialConcurrency ?? INITIAL_API_CONCURRENCY,
    maxLimit: maxConcurrency,
    ...(options.onLimit ? { onLimit: options.onLimit } : {}),
  })
  // One socket per call the limiter may allow: a call never waits for a connection on top.
  const rest = createRestClient(config, { timeoutMs: CALL_TIMEOUT_MS, maxSockets: maxConcurrency })
  const limited = limitedRestClient(rest, limiter, options.onThrottled ? { onThrottled: options.onThrottled } : {})
  return { api: restResourceClient(limited), limiter, close: () => limited.close() }
}
