/**
 * The reconciler contract (controller-runtime's pkg/reconcile): level-based and tiny.
 *
 * A request names one object — kind, namespace, name — never the event that brought it. The
 * reconciler reads that object's current state, acts, and says what should happen next; only the
 * controller turns that into queue actions (controller.ts):
 *
 *   done()                       nothing more to do
 *   requeueAfter(ms)             come back after `ms` (a deadline: a timeout, a grace period)
 *   conflict()                   a write lost an optimistic-concurrency race (409): reconcile again
 *                                at once, reading the object afresh
 *   failed(error, deadlineMs?)   retry with backoff, but no later than the deadline, if any
 *
 * A thrown error is a failure too; a thrown TerminalError is logged and never retried.
 */

export interface ReconcileRequest {
  kind: string
  /** '' for cluster-scoped objects. */
  namespace: string
  name: string
}

export type ReconcileResult =
  | { readonly type: 'done' }
  | { readonly type: 'requeueAfter'; readonly afterMs: number }
  | { readonly type: 'conflict' }
  | { readonly type: 'failed'; readonly error: unknown; readonly deadlineMs?: number }

export type Reconciler = (request: ReconcileRequest) => Promise<ReconcileResult>

/** Thrown by a reconciler for an error retrying cannot fix: logged and counted, never retried. */
export class TerminalError extends Error {
  override name = 'TerminalError'
}

export function done(): ReconcileResult {
  return { type: 'done' }
}

/** Come back after `ms`; done() when there is no delay (undefined, or not above 0). */
export function requeueAfter(ms: number | undefined): ReconcileResult {
  return ms !== undefined && ms > 0 ? { type: 'requeueAfter', afterMs: ms } : done()
}

export function conflict(): ReconcileResult {
  return { type: 'conflict' }
}

/** Retry with backoff; `deadlineMs`: come back after that long at the latest, however long the backoff has grown. */
export function failed(error: unknown, deadlineMs?: number): ReconcileResult {
  return deadlineMs === undefined ? { type: 'failed', error } : { type: 'failed', error, deadlineMs }
}

/** "kind/namespace/name" — none of the three may contain a slash in Kubernetes. */
export function requestKey(request: ReconcileRequest): string {
  return `${request.kind}/${request.namespace}/${request.name}`
}

export function parseRequestKey(key: string): ReconcileRequest | undefined {
  const parts = key.split('/')
  if (parts.length !== 3) return undefined
  const [kind, namespace, name] = parts as [string, string, string]
  if (kind === '' || name === '') return undefined
  return { kind, namespace, name }
}
