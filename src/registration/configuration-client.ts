/**
 * runguard's own webhook configurations through the webhook's REST client: found by name among
 * the mutating and the validating ones, patched with JSON patches (never created or deleted).
 */
import { KubeApiError } from '../kube/errors.ts'
import type { RestClient } from '../kube/rest.ts'
import { configurationPath, type ConfigurationKind, type JsonPatchOp, type WebhookConfiguration } from './configuration.ts'

export interface FoundConfiguration {
  kind: ConfigurationKind
  name: string
  object: WebhookConfiguration
}

export interface ConfigurationClient {
  /** The configuration named `name`, mutating or validating; undefined when neither exists. */
  get(name: string): Promise<FoundConfiguration | undefined>
  patch(found: FoundConfiguration, ops: JsonPatchOp[]): Promise<WebhookConfiguration>
}

const KINDS: readonly ConfigurationKind[] = ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']

export function configurationClient(client: RestClient): ConfigurationClient {
  // Where each name was found last, tried first next time.
  const kindOf = new Map<string, ConfigurationKind>()
  return {
    async get(name) {
      const first = kindOf.get(name)
      const order = first ? [first, ...KINDS.filter((k) => k !== first)] : KINDS
      // The chart's convention names the kind; try it first.
      const guessed = name.endsWith('-validating') && !first ? [...order].reverse() : order
      for (const kind of guessed) {
        const response = await client.request('GET', configurationPath(kind, name))
        if (response.status === 404 || response.status === 403) continue
        if (response.status !== 200) throw KubeApiError.fromResponse(`get ${kind} ${name}`, response.status, response.body)
        kindOf.set(name, kind)
        return { kind, name, object: response.body as WebhookConfiguration }
      }
      return undefined
    },
    async patch(found, ops) {
      const response = await client.request('PATCH', configurationPath(found.kind, found.name), ops, 'application/json-patch+json')
      if (response.status !== 200) throw KubeApiError.fromResponse(`patch ${found.kind} ${found.name}`, response.status, response.body)
      return response.body as WebhookConfiguration
    },
  }
}
