/**
 * Constructors and formatting for field errors, modelled on apimachinery's field package so
 * messages read the way Kubernetes users already know:
 *   spec.desiredState: Unsupported value: "Stopped": supported values: "Running", "Cancelled"
 */
import type { FieldError, FieldErrorType, RuleResult } from './types.ts'

const MAX_SHOWN_VALUE = 64

function make(type: FieldErrorType, field: string, reason: string, detail: string, value?: unknown, hasValue = false): FieldError {
  return { type, field, reason, detail, value, hasValue }
}

export const fieldError = {
  required: (field: string, reason: string, detail: string): FieldError => make('Required', field, reason, detail),
  invalid: (field: string, value: unknown, reason: string, detail: string): FieldError => make('Invalid', field, reason, detail, value, true),
  forbidden: (field: string, reason: string, detail: string): FieldError => make('Forbidden', field, reason, detail),
  notSupported: (field: string, value: unknown, supported: readonly string[], reason: string): FieldError =>
    make('NotSupported', field, reason, `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`, value, true),
  duplicate: (field: string, value: unknown, reason: string, detail = ''): FieldError => make('Duplicate', field, reason, detail, value, true),
  tooLong: (field: string, reason: string, detail: string): FieldError => make('TooLong', field, reason, detail),
  tooMany: (field: string, reason: string, detail: string): FieldError => make('TooMany', field, reason, detail),
}

const TYPE_TEXT: Record<FieldErrorType, string> = {
  Required: 'Required value',
  Invalid: 'Invalid value',
  Forbidden: 'Forbidden',
  NotSupported: 'Unsupported value',
  Duplicate: 'Duplicate value',
  TooLong: 'Too long',
  TooMany: 'Too many',
}

/** A value as it appears in a message: JSON, cut short so a huge value cannot flood a message. */
export function showValue(value: unknown): string {
  let text: string
  try {
    text = value === undefined ? '<unset>' : JSON.stringify(value)
  } catch {
    text = String(value)
  }
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE - 3)}...` : text
}

export function formatFieldError(err: FieldError): string {
  const parts = [`${err.field}: ${TYPE_TEXT[err.type]}`]
  if (err.hasValue) parts.push(showValue(err.value))
  if (err.detail) parts.push(err.detail)
  return parts.join(': ')
}

/** All errors on one line, as the API server shows them for its own validation. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  if (errors.length === 1 && errors[0]) return formatFieldError(errors[0])
  return `[${errors.map(formatFieldError).join(', ')}]`
}

export function ok(warnings: string[] = []): RuleResult {
  return { errors: [], warnings }
}

export function merge(results: readonly RuleResult[]): RuleResult {
  return {
    errors: results.flatMap((r) => r.errors),
    warnings: results.flatMap((r) => r.warnings),
    warned: results.flatMap((r) => r.warned ?? []),
  }
}
