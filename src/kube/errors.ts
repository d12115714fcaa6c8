/**
 * The one error type for a failed Kubernetes API call, whichever client made it (client-node in
 * the reconciler, the small REST client in the webhook): the HTTP status when an answer came, and
 * the Kubernetes `Status` body's reason and `details.kind`. statusOf() reads the HTTP status of
 * any error those clients throw. No client-node import here: the webhook loads this file.
 */

export interface KubeApiErrorDetails {
  /** HTTP status; undefined when no answer came (network error, timeout). */
  statusCode?: number | undefined
  /** Kubernetes Status `reason`, e.g. `NotFound`, `Conflict`, `Forbidden`. */
  statusReason?: string | undefined
  /** Kubernetes Status `details.kind`, e.g. `namespaces` when the namespace does not exist. */
  detailsKind?: string | undefined
  cause?: unknown
}

type KubeApiErrorClass<E extends KubeApiError> = new (message: string, details?: KubeApiErrorDetails) => E

export class KubeApiError extends Error {
  override name = 'KubeApiError'
  readonly statusCode: number | undefined
  readonly statusReason: string | undefined
  readonly detailsKind: string | undefined

  constructor(message: string, details: KubeApiErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.statusCode = details.statusCode
    this.statusReason = details.statusReason
    this.detailsKind = details.detailsKind
  }

  /**
   * The error for an HTTP answer that is not 2xx: `what: HTTP 404 NotFound: <Status message>`, or
   * the start of a body that is not a Status. `body` is the text as received or parsed JSON.
   */
  static fromResponse<E extends KubeApiError>(this: KubeApiErrorClass<E>, what: string, statusCode: number, body: unknown, cause?: unknown): E {
    return responseError(this, what, statusCode, body, cause)
  }

  /** Whatever a client threw, as one error of this class with a one-line message prefixed by `what`. */
  static from<E extends KubeApiError>(this: KubeApiErrorClass<E>, err: unknown, what: string): E {
    if (err instanceof this) return err
    if (isApiExceptionLike(err)) return responseError(this, what, err.code, err.body, err)
    const message = err instanceof Error ? err.message : String(err)
    return new this(`${what}: ${message}`, {
      statusCode: statusOf(err),
      ...(err instanceof KubeApiError ? { statusReason: err.statusReason, detailsKind: err.detailsKind } : {}),
      cause: err,
    })
  }
}

function responseError<E extends KubeApiError>(ErrorClass: KubeApiErrorClass<E>, what: string, statusCode: number, body: unknown, cause: unknown): E {
  const status = parseStatus(body)
  const raw = typeof body === 'string' ? body : isPlainJson(body) ? JSON.stringify(body) : ''
  const text = status.message ?? raw.trim().slice(0, 200)
  return new ErrorClass(`${what}: HTTP ${statusCode}${status.reason ? ` ${status.reason}` : ''}${text ? `: ${text}` : ''}`, {
    statusCode,
    statusReason: status.reason,
    detailsKind: status.detailsKind,
    cause,
  })
}

/**
 * The HTTP status of any error the Kubernetes clients throw: KubeApiError, client-node's
 * ApiException (`code`) and its Watch errors (`statusCode`); undefined when no answer came.
 * Node's system errors have string codes and are not mistaken for one.
 */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.statusCode
  if (typeof err !== 'object' || err === null) return undefined
  const { statusCode, code } = err as { statusCode?: unknown; code?: unknown }
  if (typeof statusCode === 'number') return statusCode
  if (typeof code === 'number') return code
  return undefined
}

/** client-node's ApiException, recognised by shape (a numeric `code` and a `body`) so this file need not import client-node. */
function isApiExceptionLike(err: unknown): err is Error & { code: number; body: unknown } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err
}

function parseStatus(body: unknown): { reason?: string; message?: string; detailsKind?: string } {
  let value: unknown = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return {}
    }
  }
  if (typeof value !== 'object' || value === null) return {}
  const status = value as { reason?: unknown; message?: unknown; details?: unknown }
  const details = typeof status.details === 'object' && status.details !== null ? (status.details as { kind?: unknown }) : undefined
  return {
    ...(typeof status.reason === 'string' ? { reason: status.reason } : {}),
    ...(typeof status.message === 'string' ? { message: status.message } : {}),
    ...(typeof details?.kind === 'string' ? { detailsKind: details.kind } : {}),
  }
}

const isPlainJson = (value: unknown): boolean =>
  Array.isArray(value) || (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype)
