/** The resources runguard admits, shared by the webhook definitions beside this file. */
import { RUN_KINDS } from '../src/kube/run-kinds.ts'

export const RUN_GROUPS: readonly string[] = [...new Set(RUN_KINDS.map((k) => k.group))]
export const RUN_VERSIONS: readonly string[] = ['v1alpha1']
export const RUN_RESOURCES: readonly string[] = RUN_KINDS.map((k) => k.plural)

/** Webhooks that must never fail closed on the control plane itself (SPEC §6). */
export const EXCLUDED_NAMESPACES: readonly string[] = ['kube-system']
