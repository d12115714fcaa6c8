/**
 * matchConditions that keep status writes runguard could neither change nor refuse away from the
 * webhook (issue 13, goal 6): the API server evaluates them in-process (CEL) and calls runguard only
 * when a rule could act. Every admission call costs the writer an HTTPS round trip on the API
 * server's side, and most status writes — upstream's controllers updating conditions with their own
 * fresh `updatedAt` — touch no protected field at all.
 *
 * A write is *settled* (skippable) when every one of SPEC §2 rules 6–12 provably leaves it alone:
 *
 *   rules 6, 11, 12  startedAt and finishedAt exactly as stored (both absent, or the same string):
 *                    nothing changed (6), nothing dropped to restore (12), and with the phase
 *                    unchanged there is no transition to stamp (11);
 *   rules 7, 9, 11   the phase exactly as stored: no resurrection, no new phase to judge, no stamp;
 *   rule 8           observedGeneration absent, or a non-negative integer that does not decrease
 *                    and does not exceed metadata.generation (or equals the stored value);
 *   rule 9           a changed updatedAt is an RFC 3339 date-time (a strict subset, below);
 *   rule 10          (mutating only) updatedAt already advanced by the writer past the stored one,
 *                    so runguard would keep the writer's value and stamp nothing.
 *
 * Everything else goes to runguard exactly as before: spec writes, first status writes, phase
 * transitions, any touch of a protected field, writes without a fresh updatedAt. Break-glass
 * writes need no exemption: a settled write has no rule to bypass, and any write that would be
 * refused or changed is not settled, so it reaches runguard, which admits, logs and counts it.
 *
 * One call instead of two: the validating webhook judges the object after mutation. A write the
 * mutating webhook settled (say, it stamped updatedAt) is settled for the validating webhook too,
 * so it skips the second call. It stays the guard of people's writes wherever the mutating webhook
 * was skipped or another mutating webhook changed the object afterwards: it tests the final object
 * against rules 6–9 itself, without relying on what the mutating one did. (Controllers' status
 * writes are not sent to it at all: webhooks/validate-runs.ts.)
 *
 * Every test is conservative — string equality where runguard compares instants, integers only,
 * canonical UTC timestamps only — so an unusual but valid write costs a webhook call, never a
 * skipped rule. No sub-expression can fail to evaluate on any input (each field's presence and
 * type is checked before it is read): an evaluation error would make the API server refuse the
 * write (failurePolicy Fail) or skip runguard (Ignore), and neither is acceptable here.
 */
import type { MatchCondition } from '../src/admission/definition.ts'

/**
 * A date-time runguard's parser (src/status/rfc3339.ts) accepts, in the one spelling whose
 * string order is time order: UTC (`Z`), fixed-width fields, a real calendar date (29 February is
 * left to the webhook rather than test leap years in CEL), 1–9 fraction digits. RE2 syntax without
 * backslashes, so it reads the same inside a CEL string literal and as a JavaScript RegExp.
 */
export const CANONICAL_TIMESTAMP_PATTERN =
  '^[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?Z$'

/** Longest canonical timestamp: 19 characters to the second, 10 of fraction, `Z`. */
const CANONICAL_TIMESTAMP_MAX_LENGTH = 30

const NEW = 'object.status'
const OLD = 'oldObject.status'

/** `value` is a canonical timestamp; its size is checked first so `matches` never scans a long string. */
function canonicalTimestamp(value: string): string {
  return `type(${value}) == string && size(${value}) <= ${CANONICAL_TIMESTAMP_MAX_LENGTH} && ${value}.matches('${CANONICAL_TIMESTAMP_PATTERN}')`
}

/**
 * `field` is as stored: absent from both, or present in both with equal values. Optional field
 * selection (`.?`, CEL optional types, in the API server since 1.28) compares presence and value in
 * one equality, so each side is resolved once: the API server walks `object.status` from the root
 * for every field reference, and those walks were most of what these conditions cost it.
 */
function asStored(field: string): string {
  return `${NEW}.?${field} == ${OLD}.?${field}`
}

/** Rule 8 holds for the written observedGeneration, as src/admission/rules/status.ts judges it. */
function observedGenerationInBounds(): string {
  const written = `${NEW}.observedGeneration`
  const stored = `${OLD}.observedGeneration`
  const generation = 'object.metadata.generation'
  const notAhead = `has(${generation}) && type(${generation}) == int && ${written} <= ${generation}`
  // A well-formed value (rule 8 judges its form even when unchanged), then the common case first:
  // carried along unchanged, which rule 8 never judges as ahead; else not ahead and not decreasing.
  return (
    `(!has(${written}) || (type(${written}) == int && ${written} >= 0 && ${written} <= ${Number.MAX_SAFE_INTEGER}` +
    ` && (${asStored('observedGeneration')} || (${notAhead} && (!has(${stored}) || (type(${stored}) == int && ${written} >= ${stored}))))))`
  )
}

/** Rule 9 for updatedAt: unchanged, absent, or a canonical timestamp. */
function updatedAtWellFormed(): string {
  return `(!has(${NEW}.updatedAt) || ${asStored('updatedAt')} || (${canonicalTimestamp(`${NEW}.updatedAt`)}))`
}

/**
 * Rule 10: the writer set updatedAt later than the stored one (both canonical), so runguard keeps
 * it. Later to the second by the first 19 characters; within the same second only when both have
 * the same number of fraction digits, where string order is time order.
 */
function updatedAtAdvancedByWriter(): string {
  const written = `${NEW}.updatedAt`
  const stored = `${OLD}.updatedAt`
  return (
    `(has(${written}) && has(${stored}) && ${canonicalTimestamp(written)} && ${canonicalTimestamp(stored)}` +
    ` && (${written}.substring(0, 19) > ${stored}.substring(0, 19) || (size(${written}) == size(${stored}) && ${written} > ${stored})))`
  )
}

/** The admission stage whose work a condition may skip. */
export type SettledStage = 'mutating' | 'validating'

/** CEL, true when runguard's `stage` webhook would admit this status write untouched and silently. */
export function settledStatusWrite(stage: SettledStage): string {
  const clauses = [
    "request.operation == 'UPDATE'",
    // The shape guards runguard applies before any rule (webhooks/schemas.ts runObjectSchema).
    `has(${NEW}) && type(${NEW}) == map && has(${OLD}) && type(${OLD}) == map`,
    '(!has(object.spec) || type(object.spec) == map)',
    asStored('startedAt'),
    asStored('finishedAt'),
    asStored('phase'),
    observedGenerationInBounds(),
    stage === 'mutating' ? updatedAtAdvancedByWriter() : updatedAtWellFormed(),
  ]
  return clauses.join(' && ')
}

/**
 * The matchCondition of a run webhook: every request but a settled status write reaches runguard.
 * The name is what the API server logs when the condition fails to evaluate.
 */
export function statusWriteCondition(stage: SettledStage): MatchCondition {
  return {
    name: stage === 'mutating' ? 'status-write-runguard-could-change' : 'status-write-runguard-could-refuse',
    // request.subResource is absent (not empty) on writes to the run itself.
    expression: `!has(request.subResource) || request.subResource != 'status' || !(${settledStatusWrite(stage)})`,
  }
}
