/**
 * The only way to build an admission answer. Policy code returns a Decision made by these
 * helpers; toAdmissionResponse() is the one place that fills uid, status code, patchType and the
 * base64 patch — validating responses never carry a patch.
 */
import { formatFieldErrors } from './field-errors.ts'
import type { AdmissionResponse, Decision, FieldError, JsonPatchOperation } from './types.ts'

/** kubectl prints each warning on its own line; the API server truncates long ones anyway. */
export const MAX_WARNING_LENGTH = 120
/** The API server accepts at most this many warnings per response; be well below. */
const MAX_WARNINGS = 20

export function allowed(reason = 'Allowed'): Decision {
  return { allowed: true, code: 200, reason, warnings: [], invalidSpec: [] }
}

/** A denial from field errors: HTTP-style 422 like the API server's own validation. */
export function denied(errors: readonly FieldError[], code = 422): Decision {
  const first = errors[0]
  return {
    allowed: false,
    code,
    message: formatFieldErrors(errors),
    reason: first?.reason ?? 'Denied',
    warnings: [],
    invalidSpec: [],
  }
}

/** A request we cannot judge (malformed object, internal fault): denied with a clear message. */
export function errored(code: number, message: string, reason = 'Errored'): Decision {
  return { allowed: false, code, message, reason, warnings: [], invalidSpec: [] }
}

export function patched(patch: JsonPatchOperation[]): Decision {
  return patch.length === 0 ? allowed() : { ...allowed('Patched'), patch }
}

export function withWarnings(decision: Decision, warnings: readonly string[]): Decision {
  return { ...decision, warnings: [...decision.warnings, ...warnings] }
}

/** Keeps warnings short enough for kubectl and free of duplicates. */
export function clampWarnings(warnings: readonly string[]): string[] {
  const out: string[] = []
  for (const warning of warnings) {
    const oneLine = warning.replace(/\s+/g, ' ').trim()
    const text = oneLine.length > MAX_WARNING_LENGTH ? `${oneLine.slice(0, MAX_WARNING_LENGTH - 1)}…` : oneLine
    if (text && !out.includes(text)) out.push(text)
    if (out.length === MAX_WARNINGS) break
  }
  return out
}

/** metav1.StatusReason for the codes we answer with, so clients that switch on it behave. */
function statusReason(code: number): string {
  if (code === 400) return 'BadRequest'
  if (code === 403) return 'Forbidden'
  if (code === 413) return 'RequestEntityTooLarge'
  if (code === 422) return 'Invalid'
  return code >= 500 ? 'InternalError' : 'BadRequest'
}

export function toAdmissionResponse(uid: string, decision: Decision, mode: 'validating' | 'mutating'): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: decision.allowed }
  if (!decision.allowed) {
    response.status = { code: decision.code, message: decision.message ?? 'denied', reason: statusReason(decision.code), status: 'Failure' }
  }
  const warnings = clampWarnings(decision.warnings)
  if (warnings.length > 0) response.warnings = warnings
  if (mode === 'mutating' && decision.allowed && decision.patch && decision.patch.length > 0) {
    response.patchType = 'JSONPatch'
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64')
  }
  return response
}
