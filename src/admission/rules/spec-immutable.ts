/**
 * Validating — spec immutability after acceptance: SPEC §2 rule 5a (UPDATE of the main resource
 * of an AgentRun).
 *
 * Upstream (proompteng/lab `agents-controller/immutable-spec.ts` and the top of
 * `reconcileAgentRun` in `agent-run-reconciler.ts`) records `status.specHash` — a SHA-256 of a
 * snapshot of the spec — when it submits a run (`Accepted=True`, phase `Running`). On every
 * later reconcile of a run that is
 *   - not a template (annotation `agents.proompteng.ai/template: "true"`),
 *   - accepted: condition `Accepted` with status `True`, or `status.phase` (trimmed; absent =
 *     `Pending`) other than `Pending`,
 *   - not terminal: phase not `Succeeded`, `Failed` or `Cancelled`,
 * it recomputes the hash; when `status.specHash` is set and differs, it cancels the run's
 * runtime and fails it (condition `Failed`, reason `SpecImmutableViolation`), or with
 * `AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED=false` only sets a `Warning` condition.
 *
 * The snapshot, compared as upstream does: `agentRef, implementationSpecRef, implementation,
 * goal, runtime, workflow, systemPromptRef, vcsRef, memoryRef` as objects (anything else counts
 * as absent), `systemPrompt` as a string (untrimmed), `secrets` as its string items trimmed,
 * empty ones dropped, sorted — so order does not matter (a repeated name still counts); deep
 * equality over JSON with object keys in any order. `spec.cancel`, `spec.desiredState` and every
 * other field stay editable.
 *
 * runguard refuses the edit instead (reason `SpecImmutableViolation`, one field error per changed
 * field), so the run keeps running as accepted; `config.immutabilityEnforced === false` turns the
 * errors into warnings (still InvalidSpec Events). It judges only edits upstream would punish:
 * the stored object must carry `status.specHash`, the new spec must hash differently from it (an
 * edit back to the accepted spec is allowed), and the field must differ from the stored object's.
 */
import { createHash } from 'node:crypto'

import { fieldError } from '../field-errors.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import { isJsonObject, type KubeObject } from '../../kube/objects.ts'
import { isAgentRunTemplate, runKindOf, upstreamRecord, upstreamString, upstreamStringList } from './upstream-read.ts'
import { warningFor } from './spec-policy.ts'

export const SPEC_IMMUTABLE_REASON = 'SpecImmutableViolation'

/** The spec fields upstream's snapshot covers, in upstream's order. */
export const IMMUTABLE_SPEC_FIELDS = [
  'agentRef',
  'implementationSpecRef',
  'implementation',
  'goal',
  'runtime',
  'workflow',
  'secrets',
  'systemPrompt',
  'systemPromptRef',
  'vcsRef',
  'memoryRef',
] as const
export type ImmutableSpecField = (typeof IMMUTABLE_SPEC_FIELDS)[number]

const UPSTREAM_TERMINAL_PHASES = ['Succeeded', 'Failed', 'Cancelled']

/** Upstream's buildAgentRunImmutableSpecSnapshot, field by field. */
export function immutableSpecSnapshot(obj: KubeObject | undefined): Record<ImmutableSpecField, unknown> {
  const spec = upstreamRecord(obj?.spec) ?? {}
  const snapshot = {} as Record<ImmutableSpecField, unknown>
  for (const field of IMMUTABLE_SPEC_FIELDS) {
    if (field === 'secrets') snapshot.secrets = upstreamStringList(spec.secrets).sort()
    else if (field === 'systemPrompt') snapshot.systemPrompt = typeof spec.systemPrompt === 'string' ? spec.systemPrompt : null
    else snapshot[field] = upstreamRecord(spec[field]) ?? null
  }
  return snapshot
}

/** A piece of JSON text already written out, as opposed to a value still to be written. */
class Text {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/**
 * `JSON.stringify(canonicalizeForJsonHash(value))` as upstream computes it — object keys sorted,
 * undefined entries dropped, null kept — written without recursion: `runtime` and `implementation`
 * are free-form, the API server decodes 10 000 levels, and a recursive walk overflows the stack
 * at about 5 000 (an internal error that refused every update, a cancel included). Key order
 * and the loss of an own `__proto__` key follow upstream's `output[key] = …` exactly, so the hash
 * still equals the `status.specHash` upstream wrote.
 */
function canonicalJson(value: unknown): string {
  const out: string[] = []
  const todo: unknown[] = [value]
  while (todo.length > 0) {
    const item = todo.pop()
    if (item instanceof Text) {
      out.push(item.text)
    } else if (item === null || item === undefined) {
      out.push('null')
    } else if (Array.isArray(item)) {
      out.push('[')
      todo.push(new Text(']'))
      for (let i = item.length - 1; i >= 0; i--) {
        todo.push(item[i])
        if (i > 0) todo.push(new Text(','))
      }
    } else if (isJsonObject(item)) {
      // Upstream fills a fresh object in sorted order and stringifies it, so integer-like keys
      // come first (JavaScript's own-key order); filling one here gives the same order.
      const shape: Record<string, true> = {}
      for (const key of Object.keys(item).sort()) if (key !== '__proto__' && item[key] !== undefined) shape[key] = true
      const keys = Object.keys(shape)
      out.push('{')
      todo.push(new Text('}'))
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string
        todo.push(item[key], new Text(`${JSON.stringify(key)}:`))
        if (i > 0) todo.push(new Text(','))
      }
    } else {
      out.push(JSON.stringify(item) ?? 'null')
    }
  }
  return out.join('')
}

/** Upstream's hashAgentRunImmutableSpec: sha256 hex of the canonical JSON of the snapshot. */
export function immutableSpecHash(obj: KubeObject | undefined): string {
  return createHash('sha256').update(canonicalJson(immutableSpecSnapshot(obj))).digest('hex')
}

/** The snapshot fields that differ between two objects, in upstream's order. */
export function changedImmutableFields(before: KubeObject | undefined, after: KubeObject | undefined): ImmutableSpecField[] {
  const a = immutableSpecSnapshot(before)
  const b = immutableSpecSnapshot(after)
  return IMMUTABLE_SPEC_FIELDS.filter((field) => canonicalJson(a[field]) !== canonicalJson(b[field]))
}

/** Upstream's `acceptedLocked`: condition Accepted=True, or a phase other than Pending. */
export function isAccepted(obj: KubeObject | undefined): boolean {
  const status = upstreamRecord(obj?.status) ?? {}
  const phase = upstreamString(status.phase) ?? 'Pending'
  const conditions = Array.isArray(status.conditions) ? status.conditions : []
  const accepted = conditions.find((c) => isJsonObject(c) && c.type === 'Accepted')
  return (isJsonObject(accepted) && accepted.status === 'True') || phase !== 'Pending'
}

export function isUpstreamTerminal(obj: KubeObject | undefined): boolean {
  const phase = upstreamString(upstreamRecord(obj?.status)?.phase) ?? 'Pending'
  return UPSTREAM_TERMINAL_PHASES.includes(phase)
}

function violation(field: ImmutableSpecField): FieldError {
  const detail =
    field === 'secrets'
      ? 'may not change once the run is accepted (reordering is allowed); cancel it, create a new run'
      : 'may not change once the run is accepted; cancel it and create a new run'
  return fieldError.forbidden(`spec.${field}`, SPEC_IMMUTABLE_REASON, detail)
}

/**
 * Rule 5a's findings for one request: the changed immutable fields an upstream controller would
 * fail the run for (empty when the request is not such an edit).
 */
export function immutableSpecViolations(ctx: RuleContext): FieldError[] {
  const { operation, subResource } = ctx.request
  if (operation !== 'UPDATE' || subResource || runKindOf(ctx) !== 'AgentRun') return []
  const stored = ctx.oldObject
  const next = ctx.newObject
  if (!stored || !next || isAgentRunTemplate(next)) return []
  // Status is the stored object's: a main-resource write cannot change it.
  if (!isAccepted(stored) || isUpstreamTerminal(stored)) return []
  const specHash = upstreamString(upstreamRecord(stored.status)?.specHash)
  if (specHash === undefined || immutableSpecHash(next) === specHash) return []
  return changedImmutableFields(stored, next).map(violation)
}

export const validateSpecImmutability: ValidationRule = (ctx: RuleContext): RuleResult => {
  const violations = immutableSpecViolations(ctx)
  if (violations.length === 0) return { errors: [], warnings: [] }
  if (ctx.config.immutabilityEnforced) return { errors: violations, warnings: [] }
  return { errors: [], warnings: violations.map(warningFor), warned: violations }
}
