/**
 * What a webhook definition in `webhooks/` says. Each definition is the single source for both
 * the HTTP route the server registers and the Validating/MutatingWebhookConfiguration rendered
 * into `manifests/`, so paths and rules cannot drift apart.
 */
import type { Mutator, Operation, ValidationRule } from './types.ts'

export type WebhookMode = 'validating' | 'mutating'

export type MutableField = 'metadata' | 'spec' | 'status'

/** One row of the dispatch table: which rules run for which resource, subresource and operation. */
export interface Route {
  /** Stable name for logs and metrics, e.g. `run-spec`. */
  name: string
  groups: readonly string[]
  versions: readonly string[]
  resources: readonly string[]
  subResource: '' | 'status'
  operations: readonly Operation[]
  /**
   * In a validating webhook: the rules. In a mutating webhook: rules that deny before mutation —
   * needed where the CRDs carry a CEL backstop for the same rule, since the API server evaluates
   * CEL after mutating webhooks and before validating ones.
   */
  validators: readonly ValidationRule[]
  mutators: readonly Mutator[]
  /**
   * The top-level fields this route's mutators may edit. Only these are copied for the draft and
   * diffed for the patch, so a status write to an AgentRun with a 20 KB spec never clones or walks
   * the spec. A mutator must not edit any other field.
   */
  mutates: readonly MutableField[]
  /** ajv JSON Schema guarding the object's shape before any rule sees it. */
  objectSchema: object
  /** Status rules may be skipped by the break-glass allow-list; spec rules never. */
  breakGlass: boolean
  /** Violations found by this route are reported as InvalidSpec Events. */
  reportsInvalidSpec: boolean
  /**
   * Left out of the `controllers.<name>` copy of a webhook split by writer: the API server sends a
   * controller's request of this kind to that copy only if another route of it matches. The server
   * still answers such a request from anyone (an unsplit webhook, `runguard check`).
   */
  peopleOnly?: boolean
}

export interface MatchCondition {
  name: string
  expression: string
}

export interface WebhookDefinition {
  /** The webhook's name as kubectl prints it: `admission webhook "<name>" denied the request`. */
  name: string
  mode: WebhookMode
  /** HTTPS path on the webhook server. Several definitions may share one path. */
  path: string
  failurePolicy: 'Fail' | 'Ignore'
  sideEffects: 'None' | 'NoneOnDryRun'
  /** ≤ 5 s (SPEC §6): the API server holds the user's write while it waits. */
  timeoutSeconds: number
  reinvocationPolicy?: 'Never' | 'IfNeeded'
  /** CEL pre-filters evaluated by the API server, so unrelated objects never reach us. */
  matchConditions?: readonly MatchCondition[]
  /**
   * Render one webhook per writer (SPEC §2 Writers): `<name>` for everyone but the controller
   * identities, with this definition's failurePolicy, and `controllers.<name>` for them with
   * `failurePolicy: Ignore`, so a runguard outage never stops the controllers it guards.
   */
  splitByWriter?: boolean
  routes: readonly Route[]
}
