/**
 * Renders the Validating/MutatingWebhookConfiguration objects from the definitions in
 * `webhooks/` — the same definitions the server registers its routes from.
 */
import type { Route, WebhookDefinition } from './definition.ts'

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

function webhookEntry(definition: WebhookDefinition, options: RenderOptions): Json {
  const entry: Json = {
    name: definition.name,
    admissionReviewVersions: ['v1'],
    clientConfig: clientConfig(definition, options.target),
    rules: rulesOf(definition.routes),
    failurePolicy: definition.failurePolicy,
    matchPolicy: 'Equivalent',
    sideEffects: definition.sideEffects,
    timeoutSeconds: definition.timeoutSeconds,
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...options.excludedNamespaces] }],
    },
  }
  if (definition.matchConditions?.length) entry.matchConditions = definition.matchConditions.map((c) => ({ ...c }))
  if (definition.mode === 'mutating') entry.reinvocationPolicy = definition.reinvocationPolicy ?? 'Never'
  return entry
}

export function renderWebhookConfigurations(webhooks: readonly WebhookDefinition[], options: RenderOptions): Json[] {
  const prefix = options.namePrefix ?? 'runguard'
  const labels = { 'app.kubernetes.io/name': 'runguard', 'app.kubernetes.io/part-of': 'runguard', ...options.labels }
  const of = (mode: WebhookDefinition['mode']) => webhooks.filter((w) => w.mode === mode).map((w) => webhookEntry(w, options))
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
