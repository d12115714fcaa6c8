/**
 * Mutating — status (UPDATE of the `status` subresource), SPEC §2 rules 10, 11 and 12:
 *   rule 10  stamp updatedAt on every write that changes something; an identical write stays a no-op
 *   rule 11  startedAt on the first transition into Running, finishedAt into a terminal phase
 *   rule 12  restore a dropped startedAt / finishedAt, with a warning
 * The logic lives in src/status/contract.ts, shared with the reconciler; this file only adapts
 * it to an admission request.
 */
import type { Mutator, RuleContext } from '../types.ts'
import { isJsonObject, type KubeObject, type RunStatus } from '../../kube/objects.ts'
import { stampStatus } from '../../status/contract.ts'

export const mutateStatus: Mutator = (ctx: RuleContext, draft: KubeObject): string[] => {
  if (ctx.request.operation !== 'UPDATE' || ctx.request.subResource !== 'status') return []

  const written: unknown = draft.status
  // A status that is not an object is the validator's to deny; guessing a repair here could
  // turn a broken write into a plausible-looking one.
  if (written !== undefined && written !== null && !isJsonObject(written)) return []
  const stored: unknown = ctx.oldObject?.status
  const oldStatus: RunStatus | undefined = isJsonObject(stored) ? stored : undefined

  const result = stampStatus(oldStatus, isJsonObject(written) ? written : {}, ctx.now)
  // Never add an empty `status: {}` to a write that had none: that would be a patch for nothing.
  if (isJsonObject(written) || result.changed || result.restored.length > 0) draft.status = result.status
  return result.restored.map((field) => `status.${field} restored: it is immutable once set`)
}
