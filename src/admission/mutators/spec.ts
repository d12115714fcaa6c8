/**
 * Mutating — spec (CREATE, UPDATE of the main resource), SPEC §2 "normalise desiredState:
 * Cancelled ⇄ cancel: true": whichever spelling a user wrote, both read the same afterwards,
 * so the reconciler, the printer columns and rule 2 (cancel is one-way) need look at only one.
 *
 * Only an absent counterpart is filled in. Values that contradict each other are left alone
 * for the validator (rule 3) to deny with a message, rather than silently picking a winner.
 */
import type { MutationResult, Mutator, RuleContext } from '../types.ts'
import { NO_CHANGE_REPORT } from './report.ts'
import { isJsonObject, type KubeObject } from '../../kube/objects.ts'

function absent(value: unknown): boolean {
  return value === undefined || value === null
}

export const normaliseCancel: Mutator = (ctx: RuleContext, draft: KubeObject): MutationResult => {
  if ((ctx.request.operation !== 'CREATE' && ctx.request.operation !== 'UPDATE') || ctx.request.subResource) return NO_CHANGE_REPORT
  const spec: unknown = draft.spec
  if (!isJsonObject(spec)) return NO_CHANGE_REPORT
  if (spec.desiredState === 'Cancelled' && absent(spec.cancel)) spec.cancel = true
  else if (spec.cancel === true && absent(spec.desiredState)) spec.desiredState = 'Cancelled'
  return NO_CHANGE_REPORT
}
