/**
 * Ratcheting for the spec rules (SPEC §2 rules 5, 5b): on UPDATE a violation the stored object
 * already had (same field, reason and full value) is neither denied nor warned. A policy
 * tightened after a run was created must not make that run impossible to cancel, or block a
 * controller adding a finalizer to it.
 */
import type { FieldError } from '../types.ts'

/** Same violation = same field, reason and full value (not the shortened one messages show). */
export function violationIdentity(err: FieldError): string {
  let value = ''
  if (err.hasValue) {
    try {
      value = JSON.stringify(err.value) ?? ''
    } catch {
      value = String(err.value)
    }
  }
  return `${err.field}\u0000${err.reason}\u0000${value}`
}

/** Splits `current` into violations the stored object did not have and those it already had. */
export function ratchet(current: readonly FieldError[], stored: readonly FieldError[]): { fresh: FieldError[]; ratcheted: FieldError[] } {
  const existing = new Set(stored.map(violationIdentity))
  const fresh: FieldError[] = []
  const ratcheted: FieldError[] = []
  for (const err of current) (existing.has(violationIdentity(err)) ? ratcheted : fresh).push(err)
  return { fresh, ratcheted }
}
