/**
 * The parts of a Mutating/ValidatingWebhookConfiguration runguard reads and patches, and the JSON
 * patch operations it sends. Every patch that touches an entry starts with a `test` of that
 * entry's name, so a configuration whose entries were reordered or replaced between our read and
 * our write is refused (HTTP 422) rather than patched at the wrong index.
 */

export interface WebhookEntry {
  name: string
  failurePolicy?: string
  clientConfig?: {
    service?: { namespace?: string; name?: string; path?: string; port?: number }
    url?: string
    caBundle?: string
  }
}

export interface WebhookConfiguration {
  kind?: string
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }
  webhooks?: WebhookEntry[]
}

export type JsonPatchOp =
  | { op: 'test'; path: string; value: unknown }
  | { op: 'add' | 'replace'; path: string; value: unknown }

export const testName = (index: number, name: string): JsonPatchOp => ({ op: 'test', path: `/webhooks/${index}/name`, value: name })

/** The REST path of a configuration; `kind` is where it was found. */
export type ConfigurationKind = 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations'

export const configurationPath = (kind: ConfigurationKind, name: string): string =>
  `/apis/admissionregistration.k8s.io/v1/${kind}/${encodeURIComponent(name)}`
