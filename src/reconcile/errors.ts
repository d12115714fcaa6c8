/**
 * Stable Event reasons for failed reconciles (SPEC §3 "Failed reconciles", §4): what the API
 * answered decides the reason and whether the error is transient (rate-limited Events) or not
 * (every distinct occurrence reported). The controller retries every failure with backoff either
 * way; this only decides how it is reported.
 *
 *   403            Forbidden       not transient   (RBAC denies the call)
 *   401            Unauthorized    not transient
 *   400, 422       InvalidSpec     not transient   (the API rejected what we sent: the object's spec is the problem)
 *   409, 429, 5xx,
 *   no response    ReconcileError  transient       (conflicts, overload, restarts, timeouts)
 *   other 4xx      ReconcileError  not transient
 */
import { statusOf } from '../kube/errors.ts'

export interface ErrorClass {
  reason: 'Forbidden' | 'Unauthorized' | 'InvalidSpec' | 'ReconcileError'
  transient: boolean
  statusCode: number | undefined
}

export function classifyError(err: unknown): ErrorClass {
  const statusCode = statusOf(err)
  if (statusCode === 403) return { reason: 'Forbidden', transient: false, statusCode }
  if (statusCode === 401) return { reason: 'Unauthorized', transient: false, statusCode }
  if (statusCode === 400 || statusCode === 422) return { reason: 'InvalidSpec', transient: false, statusCode }
  if (statusCode === undefined || statusCode === 409 || statusCode === 429 || statusCode >= 500) return { reason: 'ReconcileError', transient: true, statusCode }
  return { reason: 'ReconcileError', transient: false, statusCode }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
