/**
 * THE status helper (design note 000, SPEC §2 rules 10–12, SPEC §3 "status helper"). The mutating
 * webhook and the reconciler both stamp status through here, so the two can never disagree
 * about what observedGeneration, updatedAt, startedAt and finishedAt mean:
 *
 *   observedGeneration  metadata.generation of the spec the status was computed from
 *   updatedAt           the last status write that changed anything (rule 10)
 *   startedAt           the first transition into Running (rule 11); immutable once set
 *   finishedAt          the first transition into a terminal phase (rule 11); immutable once set
 *
 * Pure: no clock but the `now` passed in, no I/O, inputs never mutated.
 */
import { isDeepStrictEqual } from 'node:util'

import { isJsonObject, type Condition, type KubeObject, type RunStatus } from '../kube/objects.ts'
import { isTerminalPhase, type Phase } from '../kube/run-kinds.ts'
import { compareInstants, formatRfc3339, parseRfc3339 } from './rfc3339.ts'

/** The timestamps that, once set, never change (note 000; rules 6 and 12). */
export const IMMUTABLE_TIMESTAMPS = ['startedAt', 'finishedAt'] as const
export type ImmutableTimestamp = (typeof IMMUTABLE_TIMESTAMPS)[number]

export interface StampResult {
  status: RunStatus
  /** Immutable timestamps the writer dropped and the helper put back (rule 12). */
  restored: ImmutableTimestamp[]
  /**
   * Whether the write alters the stored status. False means a no-op write: nothing was
   * stamped, so re-writing an unchanged status never causes a patch or a watch event.
   */
  changed: boolean
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null
}

/** Equal as JSON: key order is irrelevant, array order is not. */
export function sameStatus(a: RunStatus | undefined, b: RunStatus | undefined): boolean {
  return isDeepStrictEqual(a ?? {}, b ?? {})
}

/**
 * Applies rules 10–12 to a status write. `oldStatus` is what is stored, `newStatus` what the
 * writer sent.
 *
 * - Rule 12: a dropped startedAt/finishedAt is restored. A *changed* value is left as written:
 *   silently reverting it would hide a controller bug, so the validator (rule 6) denies it.
 * - Rule 10: if the write (after restoring) equals the stored status, nothing else happens.
 *   Otherwise updatedAt becomes `now`, unless the writer set an updatedAt later than the stored
 *   one: a writer's own, newer clock reading is kept.
 * - Rule 11: startedAt is set on the first transition into Running, finishedAt on the first
 *   transition into a terminal phase, when the writer did not set them. A run that jumps from
 *   Pending straight to a terminal phase gets finishedAt only: upstream sets startedAt solely on
 *   entering Running, and inventing a start time would claim the run ran when it may never have.
 *   A run already in a phase (no transition) is not back-filled either.
 */
export function stampStatus(oldStatus: RunStatus | undefined, newStatus: RunStatus, now: Date): StampResult {
  const old: RunStatus = isJsonObject(oldStatus) ? oldStatus : {}
  // Only top-level keys are set below, so one level of copy leaves the writer's object alone; the
  // nested values stay shared, which also lets sameStatus skip them by identity.
  const status: RunStatus = { ...newStatus }
  const restored: ImmutableTimestamp[] = []

  for (const field of IMMUTABLE_TIMESTAMPS) {
    if (isSet(old[field]) && !isSet(status[field])) {
      status[field] = old[field]
      restored.push(field)
    }
  }

  if (sameStatus(old, status)) return { status, restored, changed: false }

  const stamp = formatRfc3339(now)
  const phase = status.phase
  if (phase === 'Running' && old.phase !== 'Running' && !isSet(status.startedAt)) status.startedAt = stamp
  if (isTerminalPhase(phase) && !isTerminalPhase(old.phase) && !isSet(status.finishedAt)) status.finishedAt = notBefore(stamp, status.startedAt)

  if (!writerUpdatedAtIsNewer(old.updatedAt, status.updatedAt)) status.updatedAt = stamp
  return { status, restored, changed: true }
}

/** `stamp`, or `floor` when that is a later instant: a stamped finishedAt never precedes startedAt. */
function notBefore(stamp: string, floor: unknown): string {
  const floorAt = parseRfc3339(floor)
  const stampAt = parseRfc3339(stamp)
  return floorAt && stampAt && compareInstants(stampAt, floorAt) < 0 ? (floor as string) : stamp
}

function writerUpdatedAtIsNewer(stored: unknown, written: unknown): boolean {
  const writtenAt = parseRfc3339(written)
  if (!writtenAt) return false
  const storedAt = parseRfc3339(stored)
  return !storedAt || compareInstants(writtenAt, storedAt) > 0
}

// --- controller writes (SPEC §2 "Writers") ------------------------------------------------------

/** The status fields whose invariants rules 6–9 protect. */
export type ProtectedField = 'startedAt' | 'finishedAt' | 'phase' | 'observedGeneration'

/**
 * One repair of a controller identity's status write:
 *   restored  the stored value was put back over what the controller wrote
 *   raised    finishedAt was raised to startedAt so it does not precede it
 *   admitted  the value was kept although a person would be refused (a phase runguard does not know)
 */
export interface StatusRepair {
  field: ProtectedField
  action: 'restored' | 'raised' | 'admitted'
  stored: unknown
  written: unknown
}

/** The same instant if both parse (as CEL compares date-time fields), else the same JSON. */
export function sameInstant(a: unknown, b: unknown): boolean {
  const left = parseRfc3339(a)
  const right = parseRfc3339(b)
  return left && right ? compareInstants(left, right) === 0 : isDeepStrictEqual(a, b)
}

/**
 * Repairs what a controller identity wrote so the status invariants hold, instead of refusing the
 * write (upstream's controllers overwrite startedAt with a Job's startTime, replay stale watch
 * events, and carry stale observedGenerations; refusing them leaves runs Running forever):
 *   - startedAt / finishedAt, once stored, keep their stored instant (rule 6);
 *   - a terminal phase stays (rule 7);
 *   - observedGeneration never decreases nor exceeds `generation` (rule 8).
 * Edits `status` in place and returns what it changed. Dropped timestamps are rule 12's, for every
 * writer, and are left to stampStatus.
 */
export function repairControllerStatus(old: RunStatus, status: RunStatus, generation: unknown): StatusRepair[] {
  const repairs: StatusRepair[] = []
  const restore = (field: ProtectedField) => {
    repairs.push({ field, action: 'restored', stored: old[field], written: status[field] })
    // Index through the open record type: the field's declared type is the stored one's.
    const target: Record<string, unknown> = status
    if (isSet(old[field])) target[field] = old[field]
    else delete target[field]
  }
  for (const field of IMMUTABLE_TIMESTAMPS) {
    if (isSet(old[field]) && isSet(status[field]) && !sameInstant(old[field], status[field])) restore(field)
  }
  if (isTerminalPhase(old.phase) && status.phase !== old.phase) restore('phase')

  const written = status.observedGeneration
  const stored = old.observedGeneration
  if (typeof written === 'number') {
    const decreased = typeof stored === 'number' && written < stored
    const ahead = typeof generation === 'number' && written > generation && written !== stored
    if (decreased || ahead) restore('observedGeneration')
  }
  return repairs
}

/**
 * After stamping: a finishedAt this write sets that precedes startedAt is raised to startedAt.
 * Upstream writes finishedAt from a Job's completionTime in whole seconds, which can fall before a
 * millisecond startedAt of the same second.
 */
export function raiseFinishedAt(old: RunStatus, status: RunStatus): StatusRepair[] {
  const started = parseRfc3339(status.startedAt)
  const finished = parseRfc3339(status.finishedAt)
  if (!started || !finished || compareInstants(finished, started) >= 0 || isDeepStrictEqual(status.finishedAt, old.finishedAt)) return []
  const repair: StatusRepair = { field: 'finishedAt', action: 'raised', stored: old.finishedAt, written: status.finishedAt }
  status.finishedAt = status.startedAt
  return [repair]
}

// --- conditions -------------------------------------------------------------------------------

export interface ConditionInput {
  type: string
  status: Condition['status']
  reason: string
  message: string
}

const REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/
const MAX_REASON_LENGTH = 1024
const MAX_MESSAGE_LENGTH = 32768

/**
 * A reason the CRD schema accepts (`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, ≤ 1024). A status
 * write carrying a bad reason is rejected whole by the API server, which would lose the phase
 * and timestamps with it, so a bad reason is repaired rather than passed through.
 */
export function conditionReason(reason: string): string {
  if (REASON_PATTERN.test(reason) && reason.length <= MAX_REASON_LENGTH) return reason
  let text = reason.replace(/[^A-Za-z0-9_,:]/g, '_').replace(/^[^A-Za-z]+/, '')
  text = text.slice(0, MAX_REASON_LENGTH).replace(/[,:]+$/, '')
  return text === '' ? 'Unspecified' : text
}

function conditionMessage(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`
}

/**
 * apimachinery's meta.SetStatusCondition, returning a new list: an existing condition of the
 * same type is updated in place (lastTransitionTime moves only when `status` changes), a new
 * one is appended. `generation` becomes the condition's observedGeneration.
 * Entries that are not objects (untrusted input) are kept as they are.
 */
export function setCondition(conditions: unknown, input: ConditionInput, now: Date, generation?: number): Condition[] {
  const list = (Array.isArray(conditions) ? conditions : []) as Condition[]
  const stamp = formatRfc3339(now)
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: conditionReason(input.reason),
    message: conditionMessage(input.message),
    lastTransitionTime: stamp,
  }
  if (typeof generation === 'number') next.observedGeneration = generation

  const index = list.findIndex((c) => isJsonObject(c) && c.type === input.type)
  if (index === -1) return [...list, next]
  const existing = list[index]!
  if (existing.status === input.status && typeof existing.lastTransitionTime === 'string') {
    next.lastTransitionTime = existing.lastTransitionTime
  }
  return list.map((c, i) => (i === index ? next : c))
}

// --- the reconciler's entry point ---------------------------------------------------------------

export interface StatusChange {
  phase?: Phase
  conditions?: ConditionInput[]
  /** Other status fields to set; `undefined` removes a field. Applied before phase and conditions. */
  fields?: Record<string, unknown>
}

/**
 * The status the reconciler should write for `obj` after `change`: merged onto the current
 * status, observedGeneration = metadata.generation, conditions set as SetStatusCondition does,
 * then stamped by stampStatus. If the result equals `obj.status` (see sameStatus) there is
 * nothing to write.
 */
export function buildStatusUpdate(obj: KubeObject, change: StatusChange, now: Date): RunStatus {
  const current: RunStatus = isJsonObject(obj.status) ? obj.status : {}
  const next: RunStatus = structuredClone(current)
  for (const [key, value] of Object.entries(change.fields ?? {})) {
    if (value === undefined) delete next[key]
    else next[key] = structuredClone(value)
  }
  if (change.phase !== undefined) next.phase = change.phase
  const generation = obj.metadata?.generation
  if (typeof generation === 'number') next.observedGeneration = generation
  for (const input of change.conditions ?? []) {
    next.conditions = setCondition(next.conditions, input, now, typeof generation === 'number' ? generation : undefined)
  }
  return stampStatus(current, next, now).status
}
