/** The resources runguard admits, shared by the webhook definitions beside this file. */
import type { Route } from '../src/admission/definition.ts'
import { RUN_KINDS } from '../src/kube/run-kinds.ts'
import { runObjectSchema } from './schemas.ts'

export const RUN_GROUPS: readonly string[] = [...new Set(RUN_KINDS.map((k) => k.group))]
export const RUN_VERSIONS: readonly string[] = ['v1alpha1']
export const RUN_RESOURCES: readonly string[] = RUN_KINDS.map((k) => k.plural)

/** Webhooks that must never fail closed on the control plane itself (SPEC §6). */
export const EXCLUDED_NAMESPACES: readonly string[] = ['kube-system']

/** A route over the three run kinds; the caller says which subresource, operations and rules. */
export function runRoute(route: Pick<Route, 'name' | 'subResource' | 'operations' | 'validators' | 'mutators' | 'mutates' | 'breakGlass' | 'reportsInvalidSpec'>): Route {
  return { groups: RUN_GROUPS, versions: RUN_VERSIONS, resources: RUN_RESOURCES, objectSchema: runObjectSchema, ...route }
}
