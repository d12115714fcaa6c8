/**
 * Validating — spec cancel fields (CREATE, UPDATE of the main resource of all three run kinds).
 * Implements SPEC §2:
 *   rule 1  spec.cancel is a boolean, spec.desiredState Running|Cancelled   InvalidCancel, InvalidDesiredState
 *   rule 2  cancel is one-way: once cancelled, never un-cancelled or removed CancelIrreversible
 *   rule 3  cancel and desiredState may not disagree                        CancelConflict
 *   rule 4  cancel on a terminal run is admitted with a warning (note 004: a no-op)
 *
 * The spec mutator has already filled in the missing half of a cancel request, so a request
 * that reaches here normally carries both fields or neither. A `null` counts as absent: the API
 * server drops nulls of non-nullable fields, so that is how it will be stored.
 */
import { fieldError, ok, showValue } from '../field-errors.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import { isJsonObject, type JsonObject } from '../../kube/objects.ts'
import { cancelRequested, isTerminalPhase } from '../../kube/run-kinds.ts'

export const DESIRED_STATES = ['Running', 'Cancelled'] as const

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null
}

/** rule 1: the types and values of the two fields. */
function wellTyped(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  if (isSet(spec.cancel) && typeof spec.cancel !== 'boolean') {
    errors.push(fieldError.invalid('spec.cancel', spec.cancel, 'InvalidCancel', 'must be a boolean (true or false)'))
  }
  if (isSet(spec.desiredState) && !(DESIRED_STATES as readonly unknown[]).includes(spec.desiredState)) {
    errors.push(fieldError.notSupported('spec.desiredState', spec.desiredState, DESIRED_STATES, 'InvalidDesiredState'))
  }
  return errors
}

/**
 * rule 2: once old asked for cancellation, neither field may be turned back or removed. Each
 * field is held to the value that expressed the cancel; a field the old object did not set may
 * still be added, just not with the un-cancel value.
 */
function oneWay(old: JsonObject, spec: JsonObject, malformed: ReadonlySet<string>): FieldError[] {
  if (!cancelRequested(old)) return []
  const errors: FieldError[] = []
  const fields: Array<{ name: 'cancel' | 'desiredState'; cancelled: unknown; running: unknown }> = [
    { name: 'cancel', cancelled: true, running: false },
    { name: 'desiredState', cancelled: 'Cancelled', running: 'Running' },
  ]
  for (const { name, cancelled, running } of fields) {
    if (malformed.has(name)) continue
    const was = old[name]
    const now = spec[name]
    let detail: string | undefined
    if (was === cancelled && !isSet(now)) detail = `cannot remove it (was ${showValue(was)}) once a run is cancelled`
    else if (was === cancelled && now !== cancelled) detail = `cannot change ${showValue(was)} to ${showValue(now)} once a run is cancelled`
    else if (was !== cancelled && now === running) detail = `cannot set it to ${showValue(now)} once a run is cancelled`
    if (detail) errors.push(fieldError.forbidden(`spec.${name}`, 'CancelIrreversible', `cancel is one-way: ${detail}`))
  }
  return errors
}

/** rule 3: the two spellings must agree. */
function consistent(spec: JsonObject): FieldError[] {
  if (spec.cancel === true && spec.desiredState === 'Running') {
    return [fieldError.invalid('spec.desiredState', spec.desiredState, 'CancelConflict', 'conflicts with spec.cancel: true; set it to "Cancelled" or remove it')]
  }
  if (spec.cancel === false && spec.desiredState === 'Cancelled') {
    return [fieldError.invalid('spec.cancel', spec.cancel, 'CancelConflict', 'conflicts with spec.desiredState: "Cancelled"; set it to true or remove it')]
  }
  return []
}

/**
 * rule 4: a new cancel request on a run that has already finished changes nothing (design note
 * 004), so it is admitted — refusing it would make `kubectl patch … cancel` fail in a race the
 * user cannot see — but the user is told. On UPDATE the stored status decides: the API server
 * ignores status in a main-resource write, so the request's copy may be stale or invented.
 */
function cancelOnTerminal(ctx: RuleContext, spec: JsonObject, old: JsonObject | undefined): string[] {
  if (!cancelRequested(spec) || (old && cancelRequested(old))) return []
  const source = ctx.request.operation === 'UPDATE' ? ctx.oldObject : ctx.newObject
  const phase = isJsonObject(source?.status) ? source.status.phase : undefined
  if (!isTerminalPhase(phase)) return []
  const field = spec.cancel === true ? 'spec.cancel' : 'spec.desiredState'
  // Phases come from a fixed set of short names, so this stays well under 120 characters.
  return [`${field} has no effect: run is already ${String(phase)}`]
}

export const validateCancel: ValidationRule = (ctx: RuleContext): RuleResult => {
  // Self-guarding, so the dispatcher may call it for any request.
  const { operation, subResource } = ctx.request
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || subResource || !ctx.newObject) return ok()

  const spec: unknown = ctx.newObject.spec
  if (!isSet(spec)) return ok()
  if (!isJsonObject(spec)) {
    return { errors: [fieldError.invalid('spec', spec, 'InvalidSpecShape', 'must be an object')], warnings: [] }
  }
  const rawOld: unknown = operation === 'UPDATE' ? ctx.oldObject?.spec : undefined
  const old = isJsonObject(rawOld) ? rawOld : undefined

  const typeErrors = wellTyped(spec)
  const malformed = new Set(typeErrors.map((e) => e.field.replace(/^spec\./, '')))
  const irreversible = old ? oneWay(old, spec, malformed) : []
  // A one-way violation already explains the disagreement; saying it twice is noise.
  const conflicts = irreversible.length > 0 ? [] : consistent(spec)
  const errors = [...typeErrors, ...irreversible, ...conflicts]
  return { errors, warnings: errors.length > 0 ? [] : cancelOnTerminal(ctx, spec, old) }
}
