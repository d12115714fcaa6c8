/**
 * Arming (README "Safe ordering"). The chart registers the people webhooks with failurePolicy
 * Ignore and records what they should be in the annotation
 * `runguard.proompteng.ai/armed-failure-policy: <webhook>=<Fail|Ignore>,...`. Once this process
 * serves and an entry's caBundle verifies the certificate it serves, runguard sets that entry's
 * failurePolicy to the annotated value. It only ever moves Ignore → Fail (never disarms), and
 * never creates or deletes a configuration.
 */
import { testName, type JsonPatchOp, type WebhookConfiguration, type WebhookEntry } from './configuration.ts'

export const ARMED_ANNOTATION = 'runguard.proompteng.ai/armed-failure-policy'

export type FailurePolicy = 'Fail' | 'Ignore'

export interface ArmedPolicies {
  policies: Map<string, FailurePolicy>
  /** Items that did not parse, one message each; the rest still count. */
  errors: string[]
}

/** Parses `a=Fail,b=Ignore` (spaces allowed); a missing or empty annotation names nothing. */
export function parseArmedAnnotation(value: string | undefined): ArmedPolicies {
  const policies = new Map<string, FailurePolicy>()
  const errors: string[] = []
  for (const item of (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const [name, policy, ...rest] = item.split('=').map((s) => s.trim())
    if (rest.length > 0 || !name || !policy) {
      errors.push(`"${item}" is not <webhook name>=<Fail|Ignore>`)
      continue
    }
    if (policy !== 'Fail' && policy !== 'Ignore') {
      errors.push(`"${item}": failurePolicy must be Fail or Ignore`)
      continue
    }
    policies.set(name, policy)
  }
  return { policies, errors }
}

export interface ArmingDecision {
  webhook: string
  /** The annotated value. */
  armed: FailurePolicy
  current: string | undefined
  /** armed: already at the annotated value; arm: patch it now; wait: not yet (reason); skip: never (reason). */
  state: 'armed' | 'arm' | 'wait' | 'skip'
  reason: string
}

/**
 * What to do with each annotated entry. `canServe(entry)`: this process is ready and the entry's
 * caBundle verifies the certificate it serves. Names in the annotation that no entry has are
 * reported as skip.
 */
export function armingDecisions(configuration: WebhookConfiguration, canServe: (entry: WebhookEntry) => boolean): ArmingDecision[] {
  const { policies } = parseArmedAnnotation(configuration.metadata?.annotations?.[ARMED_ANNOTATION])
  const entries = configuration.webhooks ?? []
  const decisions: ArmingDecision[] = []
  for (const [webhook, armed] of policies) {
    const entry = entries.find((e) => e.name === webhook)
    const current = entry?.failurePolicy
    if (!entry) decisions.push({ webhook, armed, current, state: 'skip', reason: 'no such webhook in the configuration' })
    else if (current === armed) decisions.push({ webhook, armed, current, state: 'armed', reason: 'at the annotated failurePolicy' })
    else if (armed !== 'Fail') decisions.push({ webhook, armed, current, state: 'skip', reason: 'runguard only arms (Ignore → Fail), never disarms' })
    else if (!canServe(entry)) decisions.push({ webhook, armed, current, state: 'wait', reason: 'not serving, or its caBundle does not verify the serving certificate' })
    else decisions.push({ webhook, armed, current, state: 'arm', reason: 'serving and trusted' })
  }
  return decisions
}

/** The JSON patch for the `arm` decisions: per entry a test of its name and of its current failurePolicy, then the replace. */
export function armingPatch(configuration: WebhookConfiguration, decisions: readonly ArmingDecision[]): JsonPatchOp[] {
  const entries = configuration.webhooks ?? []
  return decisions
    .filter((d) => d.state === 'arm')
    .flatMap((d) => {
      const index = entries.findIndex((e) => e.name === d.webhook)
      if (index < 0) return []
      const path = `/webhooks/${index}/failurePolicy`
      return [testName(index, d.webhook), ...(d.current === undefined ? [] : [{ op: 'test' as const, path, value: d.current }]), { op: d.current === undefined ? ('add' as const) : ('replace' as const), path, value: d.armed }]
    })
}
