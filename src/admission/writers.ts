/**
 * Who is writing (SPEC §2 "Writers"). Admission treats three kinds of writer differently:
 *
 *   controller   an identity in config.controllerUsers / controllerGroups — upstream's Agents
 *                controllers and runguard itself. Their status writes are never refused for the
 *                status invariants (rules 6–9): the mutating webhook repairs them instead.
 *   break-glass  an identity in config.breakGlassUsers / breakGlassGroups: may skip the status
 *                rules altogether, for hand repairs (logged and counted).
 *   person       everyone else: the rules deny.
 *
 * The same identity lists are rendered into the webhook configurations' matchConditions and the
 * ValidatingAdmissionPolicy backstop (src/admission/manifests.ts), so the API server and the
 * webhook always agree on who is a controller.
 */
import type { Config } from '../config.ts'
import type { AdmissionRequest } from './types.ts'

export interface IdentityLists {
  users: readonly string[]
  groups: readonly string[]
}

/** The matching user, or `user (group g)` for a group match; undefined when nothing matches. */
function match(request: Pick<AdmissionRequest, 'userInfo'>, lists: IdentityLists): string | undefined {
  const user = request.userInfo?.username
  if (user && lists.users.includes(user)) return user
  const group = request.userInfo?.groups?.find((g) => lists.groups.includes(g))
  return group ? `${user ?? '<unknown>'} (group ${group})` : undefined
}

/** The controller identity writing this request, or undefined for everyone else. */
export function controllerIdentity(request: Pick<AdmissionRequest, 'userInfo'>, config: Pick<Config, 'controllerUsers' | 'controllerGroups'>): string | undefined {
  return match(request, { users: config.controllerUsers, groups: config.controllerGroups })
}

/** The break-glass identity that may skip the status rules, or undefined. */
export function breakGlassIdentity(request: Pick<AdmissionRequest, 'userInfo'>, config: Pick<Config, 'breakGlassUsers' | 'breakGlassGroups'>): string | undefined {
  return match(request, { users: config.breakGlassUsers, groups: config.breakGlassGroups })
}

/**
 * CEL (admission `matchConditions` / ValidatingAdmissionPolicy) that is true when the request comes
 * from one of `lists`. `false` for empty lists, so a negation always type-checks.
 */
export function identityCel(lists: IdentityLists): string {
  const quote = (items: readonly string[]) => `[${items.map(celString).join(', ')}]`
  const parts: string[] = []
  if (lists.users.length > 0) parts.push(`request.userInfo.username in ${quote(lists.users)}`)
  if (lists.groups.length > 0) parts.push(`request.userInfo.groups.exists(g, g in ${quote(lists.groups)})`)
  return parts.length > 0 ? parts.join(' || ') : 'false'
}

/** `text` as a CEL string literal. */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
