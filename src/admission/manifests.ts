/**
 * Renders the Validating/MutatingWebhookConfiguration objects from the definitions in
 * `webhooks/` — the same definitions the server registers its routes from — and the
 * ValidatingAdmissionPolicy that backs the status rules up while the webhook is unreachable.
 */
import type { Config } from '../config.ts'
import type { MatchCondition, Route, WebhookDefinition } from './definition.ts'
import { celString, identityCel, type IdentityLists } from './writers.ts'
import { RUN_KINDS, TERMINAL_PHASES } from '../kube/run-kinds.ts'

export interface ClientTarget {
  /** In-cluster: the webhook Service. */
  service?: { namespace: string; name: string; port: number }
  /** Out-of-cluster (tests, sandbox): base URL such as https://127.0.0.1:8443. */
  url?: string
  /** PEM of the CA that signed the serving certificate; omitted when cert-manager injects it. */
  caBundlePem?: string
}

export interface RenderOptions {
  target: ClientTarget
  /** Namespaces never intercepted: the control plane's and runguard's own. */
  excludedNamespaces: readonly string[]
  /** Controller identities (config.controllerUsers / controllerGroups): see WebhookDefinition.splitByWriter. */
  controllers: IdentityLists
  /** Break-glass identities: the status policy does not judge them either. */
  breakGlass: IdentityLists
  /** Prefix of the configuration object names. */
  namePrefix?: string
  labels?: Record<string, string>
}

type Json = { [key: string]: unknown }

function rulesOf(routes: readonly Route[]): Json[] {
  return routes.map((route) => ({
    apiGroups: [...route.groups],
    apiVersions: [...route.versions],
    operations: [...route.operations],
    resources: route.resources.map((r) => (route.subResource ? `${r}/${route.subResource}` : r)),
    scope: 'Namespaced',
  }))
}

function clientConfig(definition: WebhookDefinition, target: ClientTarget): Json {
  const config: Json = {}
  if (target.url) config.url = `${target.url.replace(/\/$/, '')}${definition.path}`
  else if (target.service) config.service = { ...target.service, path: definition.path }
  else throw new Error('a webhook client target needs a service or a url')
  if (target.caBundlePem) config.caBundle = Buffer.from(target.caBundlePem).toString('base64')
  return config
}

function webhookEntry(definition: WebhookDefinition, options: RenderOptions, writer?: 'people' | 'controllers'): Json {
  const own = definition.matchConditions ?? []
  let conditions: MatchCondition[] = [...own]
  if (writer !== undefined) {
    const controllers = identityCel(options.controllers)
    const identity: MatchCondition = writer === 'people' ? { name: 'not-a-controller', expression: `!(${controllers})` } : { name: 'controller-identity', expression: controllers }
    // The API server evaluates every condition of a webhook, even after one is false, and each
    // condition is a program of its own (a cost tracker set up per evaluation). So the identity
    // test goes in front of the first condition, in one expression that stops at it for the
    // other writer; any further condition is made trivially true for that writer the same way.
    const [first, ...rest] = own
    const otherWriter = writer === 'people' ? controllers : `!(${controllers})`
    conditions = first
      ? [
          { name: `${identity.name}.${first.name}`, expression: `(${identity.expression}) && (${first.expression})` },
          ...rest.map((c) => ({ name: c.name, expression: `(${otherWriter}) || (${c.expression})` })),
        ]
      : [identity]
  }
  const routes = writer === 'controllers' ? definition.routes.filter((route) => !route.peopleOnly) : definition.routes
  const entry: Json = {
    name: writer === 'controllers' ? `controllers.${definition.name}` : definition.name,
    admissionReviewVersions: ['v1'],
    clientConfig: clientConfig(definition, options.target),
    rules: rulesOf(routes),
    failurePolicy: writer === 'controllers' ? 'Ignore' : definition.failurePolicy,
    matchPolicy: 'Equivalent',
    sideEffects: definition.sideEffects,
    timeoutSeconds: definition.timeoutSeconds,
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...options.excludedNamespaces] }],
    },
  }
  if (conditions.length > 0) entry.matchConditions = conditions.map((c) => ({ ...c }))
  if (definition.mode === 'mutating') entry.reinvocationPolicy = definition.reinvocationPolicy ?? 'Never'
  return entry
}

function renderWebhookConfigurations(webhooks: readonly WebhookDefinition[], options: RenderOptions): Json[] {
  const prefix = options.namePrefix ?? 'runguard'
  const labels = { 'app.kubernetes.io/name': 'runguard', 'app.kubernetes.io/part-of': 'runguard', ...options.labels }
  const split = identityCel(options.controllers) !== 'false'
  const entries = (w: WebhookDefinition) =>
    w.splitByWriter && split ? [webhookEntry(w, options, 'people'), webhookEntry(w, options, 'controllers')] : [webhookEntry(w, options)]
  const of = (mode: WebhookDefinition['mode']) => webhooks.filter((w) => w.mode === mode).flatMap(entries)
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: `${prefix}-mutating`, labels },
      webhooks: of('mutating'),
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: `${prefix}-validating`, labels },
      webhooks: of('validating'),
    },
  ]
}

/** One rule of the status policy: CEL that holds for an admissible write, and what a person is told when it does not. */
export interface StatusPolicyRule {
  expression: string
  message: string
}

const had = (field: string) => `has(oldObject.status) && has(oldObject.status.${field})`
const has = (field: string) => `has(object.status) && has(object.status.${field})`
const terminal = `[${TERMINAL_PHASES.map((p) => `'${p}'`).join(', ')}]`

/** SPEC §2 rules 6, 7 and 8 (decrease), as the status policy checks them on the final object. */
export const STATUS_POLICY_RULES: readonly StatusPolicyRule[] = [
  ...(['startedAt', 'finishedAt'] as const).map((field) => ({
    expression: `!(${had(field)}) || (${has(field)} && object.status.${field} == oldObject.status.${field})`,
    message: `status.${field} is immutable once set: it may not be changed or removed (runguard status policy)`,
  })),
  {
    expression: `!(${had('phase')}) || !(oldObject.status.phase in ${terminal}) || (${has('phase')} && object.status.phase == oldObject.status.phase)`,
    message: 'status.phase is terminal (Succeeded, Failed or Cancelled): it may not change; create a new run instead (runguard status policy)',
  },
  {
    expression: `!(${had('observedGeneration')}) || !(${has('observedGeneration')}) || object.status.observedGeneration >= oldObject.status.observedGeneration`,
    message: 'status.observedGeneration may not decrease (runguard status policy)',
  },
]

/**
 * The second line of defence for SPEC §2 rules 6–8 while the webhook is unreachable: a
 * ValidatingAdmissionPolicy (GA since 1.30), evaluated inside the API server. Unlike CRD CEL it
 * sees `request.userInfo`, so it exempts controller and break-glass identities — the webhook
 * repairs their writes, and refusing them would break the controllers runguard guards. Stale
 * writes never reach it: the API server answers those with 409 before validating admission.
 *
 * One validation, its exemptions first: the API server prepares the CEL input (the request
 * converted by reflection) once per matchConditions list and once per validations list, and sets
 * up a cost tracker per expression, on every status write of every run (issue 13, goal 6). As
 * matchConditions plus one validation per rule that was two inputs and six programs for a person's
 * write; now it is one and one, and a controller's write stops at the identity test. The message
 * is the first broken rule's, chosen only once the write is refused.
 */
export function renderStatusPolicy(options: RenderOptions, rules: readonly StatusPolicyRule[] = STATUS_POLICY_RULES): Json[] {
  const prefix = options.namePrefix ?? 'runguard'
  const labels = { 'app.kubernetes.io/name': 'runguard', 'app.kubernetes.io/part-of': 'runguard', ...options.labels }
  const name = `${prefix}-status-invariants`
  const groups = [...new Set(RUN_KINDS.map((k) => k.group))]
  const exempt = [identityCel(options.controllers), identityCel(options.breakGlass)].filter((cel) => cel !== 'false')
  const admissible = rules.map((rule) => `(${rule.expression})`).join(' && ')
  const [last, ...earlier] = [...rules].reverse()
  const message = earlier.reduce((otherwise, rule) => `!(${rule.expression}) ? ${celString(rule.message)} : ${otherwise}`, celString(last?.message ?? ''))
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name, labels },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: groups, apiVersions: ['v1alpha1'], operations: ['UPDATE'], resources: RUN_KINDS.map((k) => `${k.plural}/status`) },
          ],
        },
        validations: [
          {
            expression: [...exempt, admissible].map((cel) => `(${cel})`).join(' || '),
            messageExpression: message,
            // Shown should the message expression fail to evaluate.
            message: 'status.startedAt, status.finishedAt, a terminal status.phase and status.observedGeneration may not go back (runguard status policy)',
            reason: 'Invalid',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels },
      spec: {
        policyName: name,
        validationActions: ['Deny'],
        matchResources: {
          namespaceSelector: {
            matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...options.excludedNamespaces] }],
          },
        },
      },
    },
  ]
}

/** The identity lists of RenderOptions, from the settings the webhook itself reads. */
export function writerIdentities(config: Pick<Config, 'controllerUsers' | 'controllerGroups' | 'breakGlassUsers' | 'breakGlassGroups'>): Pick<RenderOptions, 'controllers' | 'breakGlass'> {
  return {
    controllers: { users: config.controllerUsers, groups: config.controllerGroups },
    breakGlass: { users: config.breakGlassUsers, groups: config.breakGlassGroups },
  }
}

/** Everything runguard registers with the API server: the webhook configurations and the status policy. */
export function renderAdmission(webhooks: readonly WebhookDefinition[], options: RenderOptions): Json[] {
  return [...renderWebhookConfigurations(webhooks, options), ...renderStatusPolicy(options)]
}
