/** SPEC §2 rule 5b: spec.secrets entries listed in AGENTS_CONTROLLER_BLOCKED_SECRETS (upstream SecretBlocked). */
import t from 'tap'

import { formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import { validateBlockedSecrets } from '../../../../src/admission/rules/spec-secrets.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { RunKindName } from '../../../../src/kube/run-kinds.ts'
import { agentRun, context, spec } from '../../../helpers/context.ts'

const blocked = ['cluster-admin-token', 'prod-db']

interface Scenario {
  name: string
  secrets?: unknown
  oldSecrets?: unknown
  blockedSecrets?: string[]
  operation?: Operation
  subResource?: string
  kind?: RunKindName
  template?: boolean
  /** Expected refused fields, in order; empty = allowed. */
  fields: string[]
  warned?: string[]
  message?: string
}

const scenarios: Scenario[] = [
  { name: 'rule 5b allow: no spec.secrets', fields: [] },
  { name: 'rule 5b allow: no blocked entry', secrets: ['github-token', 'openai-key'], fields: [] },
  { name: 'rule 5b allow: nothing configured', secrets: ['cluster-admin-token'], blockedSecrets: [], fields: [] },
  {
    name: 'rule 5b deny: one blocked entry, message names only it',
    secrets: ['github-token', 'prod-db', 'openai-key'],
    fields: ['spec.secrets[1]'],
    message: 'spec.secrets[1]: Forbidden: secret "prod-db" is blocked by controller policy',
  },
  {
    name: 'rule 5b deny: two blocked entries',
    secrets: ['prod-db', 'github-token', 'cluster-admin-token'],
    fields: ['spec.secrets[0]', 'spec.secrets[2]'],
    message: '[spec.secrets[0]: Forbidden: secret "prod-db" is blocked by controller policy, spec.secrets[2]: Forbidden: secret "cluster-admin-token" is blocked by controller policy]',
  },
  { name: 'rule 5b deny: a repeated blocked entry is named once', secrets: ['prod-db', 'prod-db'], fields: ['spec.secrets[0]'] },
  { name: 'rule 5b deny: an entry with surrounding blanks (upstream trims)', secrets: [' prod-db '], fields: ['spec.secrets[0]'], message: 'secret "prod-db" is blocked' },
  { name: 'rule 5b allow: names match exactly, not by case or prefix', secrets: ['Prod-DB', 'prod-db-replica', 'prod'], fields: [] },
  { name: 'rule 5b allow: non-string entries are ignored as upstream does', secrets: [{ name: 'prod-db' }, 7, null], fields: [] },
  { name: 'rule 5b allow: spec.secrets not a list', secrets: 'prod-db', fields: [] },
  { name: 'rule 5b deny: UPDATE adding a blocked entry', operation: 'UPDATE', oldSecrets: ['github-token'], secrets: ['github-token', 'prod-db'], fields: ['spec.secrets[1]'] },
  { name: 'rule 5b allow: UPDATE of a run that already had it (ratchet: cancel stays possible)', operation: 'UPDATE', oldSecrets: ['prod-db'], secrets: ['prod-db'], fields: [] },
  { name: 'rule 5b allow: ratchet by name, when another entry moved it', operation: 'UPDATE', oldSecrets: ['a', 'prod-db'], secrets: ['prod-db'], fields: [] },
  { name: 'rule 5b deny: ratchet keeps only the old names', operation: 'UPDATE', oldSecrets: ['prod-db'], secrets: ['prod-db', 'cluster-admin-token'], fields: ['spec.secrets[1]'] },
  { name: 'rule 5b warn: an AgentRun template (upstream never submits it)', template: true, secrets: ['prod-db'], fields: [], warned: ['spec.secrets[0]'] },
  { name: 'rule 5b allow: ToolRun has no spec.secrets', kind: 'ToolRun', secrets: ['prod-db'], fields: [] },
  { name: 'rule 5b allow: OrchestrationRun has no spec.secrets', kind: 'OrchestrationRun', secrets: ['prod-db'], fields: [] },
  { name: 'rule 5b allow: status subresource', operation: 'UPDATE', subResource: 'status', oldSecrets: [], secrets: ['prod-db'], fields: [] },
  { name: 'rule 5b allow: DELETE', operation: 'DELETE', secrets: ['prod-db'], fields: [] },
]

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const newObject = agentRun({ spec: spec(s.secrets === undefined ? {} : { secrets: s.secrets }) })
    if (s.template) (newObject.metadata as Record<string, unknown>).annotations = { 'agents.proompteng.ai/template': 'true' }
    const oldObject = s.oldSecrets === undefined ? undefined : agentRun({ spec: spec({ secrets: s.oldSecrets }) })
    const operation = s.operation ?? 'CREATE'
    const ctx = context({
      operation,
      kind: s.kind,
      subResource: s.subResource,
      oldObject: oldObject ?? (operation === 'DELETE' ? newObject : undefined),
      newObject: operation === 'DELETE' ? undefined : newObject,
      config: { blockedSecrets: s.blockedSecrets ?? blocked },
    })
    const result = validateBlockedSecrets(ctx)
    t.same(
      result.errors.map((e) => e.field),
      s.fields,
      'refused entries',
    )
    for (const e of result.errors) t.equal(e.reason, 'SecretBlocked', 'reason')
    t.same(
      (result.warned ?? []).map((e) => e.field),
      s.warned ?? [],
      'warned entries',
    )
    t.equal(result.warnings.length, (s.warned ?? []).length, 'one warning per warned entry')
    const message = formatFieldErrors(result.errors)
    if (s.message) t.match(message, s.message, 'message')
    // Never the run's other secrets: only configured blocked names may appear in the message.
    for (const secret of ['github-token', 'openai-key', 'a']) t.notMatch(message, `"${secret}"`, `does not name ${secret}`)
  })
}
