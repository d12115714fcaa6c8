/** The resources runguard admits, shared by the webhook definitions beside this file. */
import type { Route } from '../src/admission/definition.ts'
import { RUN_KINDS } from '../src/kube/run-kinds.ts'
import { runObjectSchema } from './schemas.ts'

export const RUN_GROUPS: readonly string[] = [...new Set(RUN_KINDS.map((k) => k.group))]
export const RUN_VERSIONS: readonly string[] = ['v1alpha1']
export const RUN_RESOURCES: readonly string[] = RUN_KINDS.map((k) => k.plural)

/** Webhooks that must never fail closed on the control plane itself (SPEC §6). */
export const EXCLUDED_NAMESPACES: readonly string[] = ['kube-system']

type RouteRules = Pick<Route, 'validators' | 'mutators' | 'mutates' | 'peopleOnly'>

/**
 * `run-spec`: CREATE and UPDATE of a run itself. Spec rules are never skipped by break-glass, and
 * what they find is reported as InvalidSpec Events.
 */
export function runSpecRoute(rules: RouteRules): Route {
  return runRoute({ name: 'run-spec', subResource: '', operations: ['CREATE', 'UPDATE'], breakGlass: false, reportsInvalidSpec: true, ...rules })
}

/**
 * `run-status`: UPDATE of the `status` subresource. Break-glass identities skip the status rules
 * (logged and counted): a hand repair may need to remove a wrong timestamp, which rule 12 restores.
 */
export function runStatusRoute(rules: RouteRules): Route {
  return runRoute({ name: 'run-status', subResource: 'status', operations: ['UPDATE'], breakGlass: true, reportsInvalidSpec: false, ...rules })
}

/** A route over the three run kinds; the caller says which subresource, operations and rules. */
function runRoute(route: Pick<Route, 'name' | 'subResource' | 'operations' | 'breakGlass' | 'reportsInvalidSpec'> & RouteRules): Route {
  return { groups: RUN_GROUPS, versions: RUN_VERSIONS, resources: RUN_RESOURCES, objectSchema: runObjectSchema, ...route }
}
