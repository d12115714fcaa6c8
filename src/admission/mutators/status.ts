/**
 * Mutating — status (UPDATE of the `status` subresource), SPEC §2 rules 10, 11 and 12:
 *   rule 10  stamp updatedAt on every write that changes something; an identical write stays a no-op
 *   rule 11  startedAt on the first transition into Running, finishedAt into a terminal phase
 *   rule 12  restore a dropped startedAt / finishedAt, with a warning
 * and, for controller identities (SPEC §2 "Writers"), the repair of rules 6–9: protected fields go
 * back to their stored values and the rest of the write is admitted, with a warning per repair.
 * The logic lives in src/status/contract.ts, shared with the reconciler; this file only adapts
 * it to an admission request.
 */
import type { MutationResult, Mutator, RuleContext } from '../types.ts'
import { controllerIdentity } from '../writers.ts'
import { runKindOf } from '../rules/upstream-read.ts'
import { showValue } from '../field-errors.ts'
import { NO_CHANGE_REPORT } from './report.ts'
import { isJsonObject, type KubeObject, type RunStatus } from '../../kube/objects.ts'
import { phasesOf } from '../../kube/run-kinds.ts'
import { raiseFinishedAt, repairControllerStatus, stampStatus, type StatusRepair } from '../../status/contract.ts'

export const mutateStatus: Mutator = (ctx: RuleContext, draft: KubeObject): MutationResult => {
  if (ctx.request.operation !== 'UPDATE' || ctx.request.subResource !== 'status') return NO_CHANGE_REPORT

  const written: unknown = draft.status
  // A status that is not an object is the validator's to deny; guessing a repair here could
  // turn a broken write into a plausible-looking one.
  if (written !== undefined && written !== null && !isJsonObject(written)) return NO_CHANGE_REPORT
  const stored: unknown = ctx.oldObject?.status
  const oldStatus: RunStatus = isJsonObject(stored) ? stored : {}
  // The draft is already a copy of the request's object (the route clones what it mutates), so
  // the controller repair may edit its status in place; stampStatus copies what it returns.
  const newStatus: RunStatus = isJsonObject(written) ? written : {}

  const controller = controllerIdentity(ctx.request, ctx.config)
  const repairs: StatusRepair[] = controller ? repairControllerStatus(oldStatus, newStatus, ctx.newObject?.metadata?.generation) : []

  const result = stampStatus(oldStatus, newStatus, ctx.now)
  if (controller) {
    repairs.push(...raiseFinishedAt(oldStatus, result.status))
    const phase = result.status.phase
    // The kind by resource, as rule 9 reads it: request.kind.kind is free text to a direct caller.
    if (phase !== undefined && phase !== oldStatus.phase && !phasesOf(runKindOf(ctx) ?? '').includes(phase as string)) {
      repairs.push({ field: 'phase', action: 'admitted', stored: oldStatus.phase, written: phase })
    }
  }
  // Never add an empty `status: {}` to a write that had none: that would be a patch for nothing.
  if (isJsonObject(written) || result.changed || result.restored.length > 0) draft.status = result.status

  const warnings = [
    ...result.restored.map((field) => `status.${field} restored: it is immutable once set`),
    ...repairs.map(repairWarning),
  ]
  return repairs.length > 0 ? { warnings, repairs } : { warnings }
}

/** One line per repair, short enough for the 120-character warning limit. */
export function repairWarning(repair: StatusRepair): string {
  const field = `status.${repair.field}`
  switch (repair.action) {
    case 'restored':
      return `${field} kept at ${showValue(repair.stored)} (write of ${showValue(repair.written)} repaired)`
    case 'raised':
      return `${field} raised to status.startedAt (was ${showValue(repair.written)})`
    case 'admitted':
      return `${field} ${showValue(repair.written)} is not a phase runguard knows; admitted for a controller`
  }
}
