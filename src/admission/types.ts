/**
 * admission.k8s.io/v1 types and the contract between the HTTP adapter and the policy code.
 * Nothing here knows about Fastify or the network.
 */
import type { Config } from '../config.ts'
import type { KubeObject } from '../kube/objects.ts'
import type { StatusRepair } from '../status/contract.ts'

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'

export interface GroupVersionKind {
  group: string
  version: string
  kind: string
}

export interface GroupVersionResource {
  group: string
  version: string
  resource: string
}

export interface UserInfo {
  username?: string
  uid?: string
  groups?: string[]
  extra?: Record<string, string[]>
}

export interface AdmissionRequest {
  uid: string
  kind: GroupVersionKind
  resource: GroupVersionResource
  subResource?: string
  requestKind?: GroupVersionKind
  requestResource?: GroupVersionResource
  requestSubResource?: string
  name?: string
  namespace?: string
  operation: Operation
  userInfo: UserInfo
  object?: KubeObject | null
  oldObject?: KubeObject | null
  dryRun?: boolean
  options?: unknown
}

export interface AdmissionResponse {
  uid: string
  allowed: boolean
  status?: { code: number; message: string; reason?: string; status?: 'Failure' | 'Success' }
  patch?: string
  patchType?: 'JSONPatch'
  warnings?: string[]
  auditAnnotations?: Record<string, string>
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1'
  kind: 'AdmissionReview'
  request?: AdmissionRequest
  response?: AdmissionResponse
}

/**
 * A field error in the style of apimachinery's field.Error: where, what kind of problem, the
 * offending value, and a detail a user can act on. `reason` is the stable machine-readable cause
 * (e.g. `ParametersTooLarge`) used in Events, metrics and conditions.
 */
export type FieldErrorType = 'Required' | 'Invalid' | 'Forbidden' | 'NotSupported' | 'Duplicate' | 'TooLong' | 'TooMany'

export interface FieldError {
  type: FieldErrorType
  field: string
  reason: string
  detail: string
  value?: unknown
  hasValue: boolean
}

/** What one validation rule says about one request. */
export interface RuleResult {
  errors: FieldError[]
  warnings: string[]
  /** Violations admitted because their rule set is in `warn` enforcement; still reported as Events. */
  warned?: FieldError[]
}

/** Everything a rule may look at. Pure data: no clients, no clocks other than `now`. */
export interface RuleContext {
  request: AdmissionRequest
  oldObject: KubeObject | undefined
  newObject: KubeObject | undefined
  config: Config
  /** The instant the decision is made (injected so rules stay deterministic under test). */
  now: Date
}

export type ValidationRule = (ctx: RuleContext) => RuleResult

/** What a mutator reports beside its edits. */
export interface MutationResult {
  readonly warnings: readonly string[]
  /** Protected status fields repaired in a controller identity's write (SPEC §2 Writers). */
  readonly repairs?: readonly StatusRepair[]
}

/**
 * A mutator edits `draft` (a structuredClone of the request object) in place and reports what
 * it did. The adapter diffs the draft against the original to produce the JSON Patch.
 */
export type Mutator = (ctx: RuleContext, draft: KubeObject) => MutationResult

/** A finished decision, before it is encoded into an AdmissionResponse. */
export interface Decision {
  allowed: boolean
  code: number
  message?: string
  /** Stable reason for metrics/logs: `Allowed`, `Patched`, a rule reason, or `Errored`. */
  reason: string
  warnings: string[]
  patch?: JsonPatchOperation[]
  /** Spec-policy violations (SPEC §2 rule 5) that must be reported as InvalidSpec Events. */
  invalidSpec: FieldError[]
  /** Set when a break-glass identity skipped the status rules. */
  bypassedBy?: string
  /** Set when a controller identity's status write was repaired rather than refused. */
  repairs?: { writer: string; repairs: readonly StatusRepair[] }
}

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test'
  path: string
  value?: unknown
  from?: string
}
