/**
 * Validating — blocked secrets: SPEC §2 rule 5b (CREATE, UPDATE of the main resource of an
 * AgentRun).
 *
 * Upstream (proompteng/lab `agents-controller/vcs-context.ts` collectBlockedSecrets, called from
 * `agent-run-reconciler.ts` and `workflow-reconciler.ts` before submitting a run) fails an
 * AgentRun whose secrets include a name listed in `AGENTS_CONTROLLER_BLOCKED_SECRETS`: condition
 * InvalidSpec, reason `SecretBlocked`, message `secrets blocked by controller policy: a, b`.
 * `spec.secrets` is a list of Secret names (strings); upstream reads its string items trimmed,
 * empty ones dropped, and matches names exactly. It also blocks the memory's and the auth
 * secret, which need API lookups and stay upstream's.
 *
 * runguard refuses such a run at admission: one field error per blocked name (its first index),
 * naming only the blocked entries — never the run's other secrets. Always `deny`: there is no
 * rule set for it in `RUNGUARD_ENFORCEMENT`. AgentRun templates (never submitted upstream) get a
 * warning instead. ToolRun and OrchestrationRun have no `spec.secrets`. Ratcheting as rule 5 (by name):
 * a blocked name the stored object already had does not block an update (a cancel, a finalizer).
 */
import { fieldError } from '../field-errors.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import type { KubeObject } from '../../kube/objects.ts'
import { warningFor } from './spec-policy.ts'
import { isAgentRunTemplate, runKindOf, upstreamRecord } from './upstream-read.ts'

export const SECRET_BLOCKED_REASON = 'SecretBlocked'

/** The blocked names in `obj`'s spec.secrets, once each, with the index of their first entry. */
export function blockedSecretEntries(obj: KubeObject | undefined, blocked: readonly string[]): Array<{ name: string; index: number }> {
  const secrets = upstreamRecord(obj?.spec)?.secrets
  if (blocked.length === 0 || !Array.isArray(secrets)) return []
  const blockedSet = new Set(blocked)
  const found = new Map<string, number>()
  secrets.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string') return
    const name = entry.trim()
    if (blockedSet.has(name) && !found.has(name)) found.set(name, index)
  })
  return [...found].map(([name, index]) => ({ name, index }))
}

function violation({ name, index }: { name: string; index: number }): FieldError {
  return fieldError.forbidden(`spec.secrets[${index}]`, SECRET_BLOCKED_REASON, `secret ${JSON.stringify(name)} is blocked by controller policy`)
}

export const validateBlockedSecrets: ValidationRule = (ctx: RuleContext): RuleResult => {
  const { operation, subResource } = ctx.request
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || subResource || runKindOf(ctx) !== 'AgentRun') return { errors: [], warnings: [] }
  // Ratcheting by name, not index: removing another entry shifts indexes but blocks nothing new.
  const stored = new Set(operation === 'UPDATE' ? blockedSecretEntries(ctx.oldObject, ctx.config.blockedSecrets).map((e) => e.name) : [])
  const fresh = blockedSecretEntries(ctx.newObject, ctx.config.blockedSecrets)
    .filter((entry) => !stored.has(entry.name))
    .map(violation)
  if (fresh.length === 0) return { errors: [], warnings: [] }
  if (isAgentRunTemplate(ctx.newObject)) return { errors: [], warnings: fresh.map(warningFor), warned: fresh }
  return { errors: fresh, warnings: [] }
}
