/**
 * Validating — status (UPDATE of the `status` subresource of all three run kinds).
 * Implements SPEC §2:
 *   rule 6  startedAt / finishedAt immutable once set          ImmutableTimestamp
 *   rule 7  no resurrection: a terminal phase never changes    PhaseResurrection
 *   rule 8  observedGeneration ≤ metadata.generation, never    ObservedGenerationAhead,
 *           decreasing                                         ObservedGenerationDecreased
 *   rule 9  RFC 3339 timestamps, finishedAt ≥ startedAt,       InvalidTimestamp,
 *           phase one of the five or the kind's own            FinishedBeforeStarted, InvalidPhase
 *           (Template on AgentRun, Ready on ToolRun)
 *
 * Writers (SPEC §2): these rules deny people and unknown writers. A controller identity's write is
 * repaired by the mutating webhook before it gets here; should that webhook have been skipped (it
 * fails open for controllers), the findings of rules 6–9 become warnings — never a refusal of a
 * controller's write. Malformed values (not an object, not RFC 3339) are refused from everyone.
 *
 * The mutator (rules 10–12) runs first and restores dropped timestamps, so rule 6 normally
 * sees only real changes; anything that still arrives removed is denied as well.
 *
 * Ratcheting (as the API server does for CRD schemas): rule 8's "ahead" and rule 9's format
 * checks only judge values this write changes. A value stored before runguard was installed is
 * not held against a controller that merely carries it along, or that controller could never
 * write status again.
 */
import { isDeepStrictEqual } from 'node:util'

import { fieldError, ok, showValue } from '../field-errors.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import { isJsonObject, type RunStatus } from '../../kube/objects.ts'
import { isTerminalPhase, phasesOf } from '../../kube/run-kinds.ts'
import { IMMUTABLE_TIMESTAMPS, sameInstant } from '../../status/contract.ts'
import { controllerIdentity } from '../writers.ts'
import { runKindOf } from './upstream-read.ts'
import { formatFieldError } from '../field-errors.ts'
import { compareInstants, parseRfc3339 } from '../../status/rfc3339.ts'

const TIMESTAMPS = ['startedAt', 'finishedAt', 'updatedAt'] as const

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null
}

/** rule 6: startedAt and finishedAt are immutable once set. */
function immutableTimestamps(old: RunStatus, next: RunStatus): FieldError[] {
  const errors: FieldError[] = []
  for (const field of IMMUTABLE_TIMESTAMPS) {
    if (!isSet(old[field]) || sameInstant(old[field], next[field])) continue
    const now = isSet(next[field]) ? showValue(next[field]) : 'removed'
    errors.push(fieldError.forbidden(`status.${field}`, 'ImmutableTimestamp', `${field} is immutable once set (was ${showValue(old[field])}, now ${now})`))
  }
  return errors
}

/** rule 7: no resurrection — a terminal phase may not change to any other phase. */
function noResurrection(old: RunStatus, next: RunStatus): FieldError[] {
  if (!isTerminalPhase(old.phase) || next.phase === old.phase) return []
  const now = isSet(next.phase) ? showValue(next.phase) : 'removed'
  return [
    fieldError.forbidden('status.phase', 'PhaseResurrection', `a terminal phase may not change (was ${showValue(old.phase)}, now ${now}); create a new run instead`),
  ]
}

/**
 * rule 8: observedGeneration may not exceed metadata.generation nor decrease. Dropping it is
 * allowed: upstream controllers do not set it in every flow, and a missing value claims nothing.
 */
function observedGeneration(old: RunStatus, next: RunStatus, generation: unknown): FieldError[] {
  const value = next.observedGeneration
  if (!isSet(value)) return []
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    return [fieldError.invalid('status.observedGeneration', value, 'InvalidObservedGeneration', 'must be a non-negative integer')]
  }
  const errors: FieldError[] = []
  const unchanged = value === old.observedGeneration
  if (typeof generation === 'number' && value > generation && !unchanged) {
    errors.push(fieldError.invalid('status.observedGeneration', value, 'ObservedGenerationAhead', `may not exceed metadata.generation (${generation})`))
  }
  const before = old.observedGeneration
  if (typeof before === 'number' && value < before) {
    errors.push(fieldError.invalid('status.observedGeneration', value, 'ObservedGenerationDecreased', `may not decrease (was ${before}, now ${value})`))
  }
  return errors
}

/** rule 9: RFC 3339 timestamps, finishedAt not before startedAt, a known phase for the kind. */
function wellFormed(old: RunStatus, next: RunStatus, kind: string): FieldError[] {
  const errors: FieldError[] = []
  for (const field of TIMESTAMPS) {
    const value = next[field]
    if (!isSet(value) || isDeepStrictEqual(value, old[field])) continue
    if (!parseRfc3339(value)) {
      errors.push(fieldError.invalid(`status.${field}`, value, 'InvalidTimestamp', 'must be an RFC 3339 date-time, e.g. "2026-02-07T10:00:00Z"'))
    }
  }

  const started = parseRfc3339(next.startedAt)
  const finished = parseRfc3339(next.finishedAt)
  const pairUnchanged = isDeepStrictEqual(next.startedAt, old.startedAt) && isDeepStrictEqual(next.finishedAt, old.finishedAt)
  if (started && finished && compareInstants(finished, started) < 0 && !pairUnchanged) {
    errors.push(fieldError.invalid('status.finishedAt', next.finishedAt, 'FinishedBeforeStarted', `may not precede status.startedAt (${showValue(next.startedAt)})`))
  }

  const phases = phasesOf(kind)
  if (isSet(next.phase) && next.phase !== old.phase && !(phases as readonly unknown[]).includes(next.phase)) {
    errors.push(fieldError.notSupported('status.phase', next.phase, phases, 'InvalidPhase'))
  }
  return errors
}

export const validateStatus: ValidationRule = (ctx: RuleContext): RuleResult => {
  // Self-guarding, so the dispatcher may call it for any request.
  if (ctx.request.operation !== 'UPDATE' || ctx.request.subResource !== 'status' || !ctx.newObject) return ok()

  const rawNew: unknown = ctx.newObject.status
  const rawOld: unknown = ctx.oldObject?.status
  if (isSet(rawNew) && !isJsonObject(rawNew)) {
    return { errors: [fieldError.invalid('status', rawNew, 'InvalidStatus', 'must be an object')], warnings: [] }
  }
  const next: RunStatus = isJsonObject(rawNew) ? rawNew : {}
  const old: RunStatus = isJsonObject(rawOld) ? rawOld : {}

  const errors = [
    ...immutableTimestamps(old, next),
    ...noResurrection(old, next),
    ...observedGeneration(old, next, ctx.newObject.metadata?.generation),
    // The kind by the resource the API server names: request.kind.kind is free text to a direct
    // caller, and a name like `constructor` must not reach a lookup table.
    ...wellFormed(old, next, runKindOf(ctx) ?? ''),
  ]
  if (errors.length === 0 || !controllerIdentity(ctx.request, ctx.config)) return { errors, warnings: [] }
  // A controller's write that reached us unrepaired: admit it, say what a person would be refused.
  // An unknown phase was already reported by the mutating webhook.
  const refused = errors.filter((e) => MALFORMED.has(e.reason))
  const noted = errors.filter((e) => !MALFORMED.has(e.reason) && e.reason !== 'InvalidPhase')
  return { errors: refused, warnings: noted.map((e) => `admitted for a controller: ${formatFieldError(e)}`) }
}

/** Findings that are wrong from any writer: the value cannot be read at all. */
const MALFORMED: ReadonlySet<string> = new Set(['InvalidTimestamp', 'InvalidObservedGeneration', 'InvalidStatus'])
