/** SPEC §2 rule 5a: spec immutability of an accepted, non-terminal AgentRun (upstream immutable-spec.ts). */
import { createHash } from 'node:crypto'

import t from 'tap'

import { formatFieldError, formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import {
  IMMUTABLE_SPEC_FIELDS,
  immutableSpecHash,
  immutableSpecSnapshot,
  immutableSpecViolations,
  validateSpecImmutability,
} from '../../../../src/admission/rules/spec-immutable.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import type { RunKindName } from '../../../../src/kube/run-kinds.ts'
import { agentRun, context } from '../../../helpers/context.ts'

/** A spec with every field upstream's snapshot covers, plus some it does not. */
const accepted: Record<string, unknown> = {
  agentRef: { name: 'codex' },
  implementationSpecRef: { name: 'impl-a' },
  implementation: { inline: { text: 'do the thing', summary: 's' } },
  goal: { objective: 'ship it', tokenBudget: 1000 },
  runtime: { type: 'job', config: { ttlSecondsAfterFinished: 600 } },
  workflow: { steps: [{ name: 'plan' }] },
  secrets: ['github-token', 'openai-key'],
  systemPrompt: 'be terse',
  systemPromptRef: { kind: 'ConfigMap', name: 'prompts', key: 'default' },
  vcsRef: { name: 'github' },
  memoryRef: { name: 'memory-a' },
  parameters: { repository: 'proompteng/lab' },
  workload: { image: 'registry.example/runner:1' },
  ttlSecondsAfterFinished: 3600,
}

function edit(changes: Record<string, unknown>, removed: string[] = []): Record<string, unknown> {
  const next: Record<string, unknown> = { ...structuredClone(accepted), ...changes }
  for (const key of removed) delete next[key]
  return next
}

const acceptedHash = immutableSpecHash(agentRun({ spec: accepted }))
const acceptedCondition = { type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: '2026-02-07T09:00:00.000Z' }

function status(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { phase: 'Running', conditions: [acceptedCondition], specHash: acceptedHash, ...extra }
}

interface Scenario {
  name: string
  newSpec: Record<string, unknown>
  oldSpec?: Record<string, unknown>
  oldStatus?: Record<string, unknown>
  annotations?: Record<string, string>
  kind?: RunKindName
  operation?: Operation
  subResource?: string
  /** Fields expected to be refused, in order; empty = allowed. */
  fields: string[]
  message?: string[]
}

const scenarios: Scenario[] = [
  // every immutable field
  { name: 'rule 5a deny: agentRef changed', newSpec: edit({ agentRef: { name: 'claude' } }), fields: ['spec.agentRef'] },
  { name: 'rule 5a deny: implementationSpecRef changed', newSpec: edit({ implementationSpecRef: { name: 'impl-b' } }), fields: ['spec.implementationSpecRef'] },
  { name: 'rule 5a deny: implementation text changed', newSpec: edit({ implementation: { inline: { text: 'do another thing', summary: 's' } } }), fields: ['spec.implementation'] },
  { name: 'rule 5a deny: goal changed', newSpec: edit({ goal: { objective: 'ship it', tokenBudget: 2000 } }), fields: ['spec.goal'] },
  { name: 'rule 5a deny: runtime config changed (deep)', newSpec: edit({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 60 } } }), fields: ['spec.runtime'] },
  { name: 'rule 5a deny: runtime type changed', newSpec: edit({ runtime: { type: 'workflow', config: { ttlSecondsAfterFinished: 600 } } }), fields: ['spec.runtime'] },
  { name: 'rule 5a deny: workflow step added', newSpec: edit({ workflow: { steps: [{ name: 'plan' }, { name: 'implement' }] } }), fields: ['spec.workflow'] },
  { name: 'rule 5a deny: workflow steps reordered (a list keeps its order)', oldSpec: edit({ workflow: { steps: [{ name: 'a' }, { name: 'b' }] } }), oldStatus: status({ specHash: immutableSpecHash(agentRun({ spec: edit({ workflow: { steps: [{ name: 'a' }, { name: 'b' }] } }) })) }), newSpec: edit({ workflow: { steps: [{ name: 'b' }, { name: 'a' }] } }), fields: ['spec.workflow'] },
  { name: 'rule 5a deny: a secret added', newSpec: edit({ secrets: ['github-token', 'openai-key', 'aws'] }), fields: ['spec.secrets'], message: ['spec.secrets: Forbidden: may not change once the run is accepted (reordering is allowed)'] },
  { name: 'rule 5a deny: a secret removed', newSpec: edit({ secrets: ['openai-key'] }), fields: ['spec.secrets'] },
  { name: 'rule 5a deny: secrets removed altogether', newSpec: edit({}, ['secrets']), fields: ['spec.secrets'] },
  { name: 'rule 5a deny: a secret repeated (upstream compares a sorted list, duplicates count)', newSpec: edit({ secrets: ['github-token', 'openai-key', 'openai-key'] }), fields: ['spec.secrets'] },
  { name: 'rule 5a deny: systemPrompt changed', newSpec: edit({ systemPrompt: 'be verbose' }), fields: ['spec.systemPrompt'] },
  { name: 'rule 5a deny: systemPrompt whitespace changed (upstream does not trim it)', newSpec: edit({ systemPrompt: 'be terse ' }), fields: ['spec.systemPrompt'] },
  { name: 'rule 5a deny: systemPromptRef changed', newSpec: edit({ systemPromptRef: { kind: 'Secret', name: 'prompts', key: 'default' } }), fields: ['spec.systemPromptRef'] },
  { name: 'rule 5a deny: vcsRef changed', newSpec: edit({ vcsRef: { name: 'gitlab' } }), fields: ['spec.vcsRef'] },
  { name: 'rule 5a deny: memoryRef removed', newSpec: edit({}, ['memoryRef']), fields: ['spec.memoryRef'] },
  {
    name: 'rule 5a deny: several fields at once, in upstream order',
    newSpec: edit({ memoryRef: { name: 'memory-b' }, agentRef: { name: 'claude' }, runtime: { type: 'temporal' } }),
    fields: ['spec.agentRef', 'spec.runtime', 'spec.memoryRef'],
    message: ['[spec.agentRef: Forbidden: may not change once the run is accepted; cancel it and create a new run, spec.runtime: Forbidden'],
  },
  { name: 'rule 5a deny: a field set that was absent at acceptance', oldSpec: edit({}, ['goal']), oldStatus: status({ specHash: immutableSpecHash(agentRun({ spec: edit({}, ['goal']) })) }), newSpec: edit({}), fields: ['spec.goal'] },
  { name: 'rule 5a deny: a cancel that also changes the runtime', newSpec: edit({ cancel: true, desiredState: 'Cancelled', runtime: { type: 'custom' } }), fields: ['spec.runtime'] },

  // what stays editable
  { name: 'rule 5a allow: cancel on an accepted run', newSpec: edit({ cancel: true, desiredState: 'Cancelled' }), fields: [] },
  { name: 'rule 5a allow: desiredState alone', newSpec: edit({ desiredState: 'Cancelled' }), fields: [] },
  { name: 'rule 5a allow: secrets reordered (compared as a set)', newSpec: edit({ secrets: ['openai-key', 'github-token'] }), fields: [] },
  { name: 'rule 5a allow: secrets with surrounding blanks and empty entries (upstream trims, drops empties)', newSpec: edit({ secrets: [' openai-key', '', 'github-token '] }), fields: [] },
  { name: 'rule 5a allow: same objects, keys in another order', newSpec: edit({ runtime: { config: { ttlSecondsAfterFinished: 600 }, type: 'job' }, systemPromptRef: { key: 'default', name: 'prompts', kind: 'ConfigMap' } }), fields: [] },
  { name: 'rule 5a allow: parameters, workload and ttl are not in the snapshot', newSpec: edit({ parameters: { repository: 'other/repo' }, workload: { image: 'x' }, ttlSecondsAfterFinished: 1 }), fields: [] },
  { name: 'rule 5a allow: a non-object value counts as absent, as upstream reads it', oldSpec: edit({ vcsRef: 'github' }), newSpec: edit({}, ['vcsRef']), oldStatus: status({ specHash: immutableSpecHash(agentRun({ spec: edit({ vcsRef: 'github' }) })) }), fields: [] },
  { name: 'rule 5a allow: an unchanged update (a finalizer, a label)', newSpec: edit({}), fields: [] },

  // when the rule applies
  { name: 'rule 5a allow: run not accepted yet (Pending, no Accepted condition)', oldStatus: { phase: 'Pending', conditions: [] }, newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: no status at all', oldStatus: undefined, newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: Accepted=False', oldStatus: status({ phase: 'Pending', conditions: [{ ...acceptedCondition, status: 'False' }] }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a deny: accepted by condition while phase is still Pending', oldStatus: status({ phase: 'Pending' }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: ['spec.agentRef'] },
  { name: 'rule 5a deny: accepted by phase alone (Running, no condition)', oldStatus: status({ conditions: [] }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: ['spec.agentRef'] },
  { name: 'rule 5a allow: terminal run Succeeded', oldStatus: status({ phase: 'Succeeded' }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: terminal run Failed', oldStatus: status({ phase: 'Failed' }), newSpec: edit({ runtime: { type: 'custom' } }), fields: [] },
  { name: 'rule 5a allow: terminal run Cancelled', oldStatus: status({ phase: 'Cancelled' }), newSpec: edit({ secrets: [] }), fields: [] },
  { name: 'rule 5a allow: no status.specHash recorded (upstream would not notice)', oldStatus: status({ specHash: undefined }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: blank status.specHash', oldStatus: status({ specHash: '  ' }), newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  {
    name: 'rule 5a allow: an edit back to the accepted spec',
    oldSpec: edit({ agentRef: { name: 'drifted' } }),
    newSpec: edit({}),
    fields: [],
  },
  {
    name: 'rule 5a allow: the stored spec already drifted, this edit touches no immutable field',
    oldSpec: edit({ agentRef: { name: 'drifted' } }),
    newSpec: edit({ agentRef: { name: 'drifted' }, parameters: { a: 'b' } }),
    fields: [],
  },
  {
    name: 'rule 5a deny: the stored spec already drifted, this edit changes another field',
    oldSpec: edit({ agentRef: { name: 'drifted' } }),
    newSpec: edit({ agentRef: { name: 'drifted' }, vcsRef: { name: 'gitlab' } }),
    fields: ['spec.vcsRef'],
  },
  { name: 'rule 5a allow: an AgentRun template', annotations: { 'agents.proompteng.ai/template': 'true' }, newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: CREATE', operation: 'CREATE', newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: status subresource', subResource: 'status', newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: a ToolRun (upstream checks AgentRuns only)', kind: 'ToolRun', newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
  { name: 'rule 5a allow: an OrchestrationRun', kind: 'OrchestrationRun', newSpec: edit({ agentRef: { name: 'claude' } }), fields: [] },
]

function objects(s: Scenario): { oldObject: KubeObject; newObject: KubeObject } {
  const oldStatus = 'oldStatus' in s ? s.oldStatus : status()
  const oldObject = agentRun({ spec: s.oldSpec ?? accepted, status: oldStatus })
  const newObject = agentRun({ spec: s.newSpec, status: oldStatus })
  if (s.annotations) {
    ;(oldObject.metadata as Record<string, unknown>).annotations = s.annotations
    ;(newObject.metadata as Record<string, unknown>).annotations = s.annotations
  }
  return { oldObject, newObject }
}

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const ctx = context({ operation: s.operation ?? 'UPDATE', kind: s.kind, subResource: s.subResource, ...objects(s) })
    const result = validateSpecImmutability(ctx)
    t.same(
      result.errors.map((e) => e.field),
      s.fields,
      'refused fields',
    )
    for (const e of result.errors) t.equal(e.reason, 'SpecImmutableViolation', `reason of ${e.field}`)
    t.same(result.warnings, [], 'no warnings while enforced')
    const message = result.errors.length ? formatFieldErrors(result.errors) : ''
    for (const part of s.message ?? []) t.match(message, part, `message contains ${part}`)
  })
}

t.test('rule 5a warn: AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED=false admits with a warning and an InvalidSpec Event', async (t) => {
  const s = scenarios.find((x) => x.name.startsWith('rule 5a deny: several fields'))!
  const ctx = context({ operation: 'UPDATE', ...objects(s), config: { immutabilityEnforced: false } })
  const result = validateSpecImmutability(ctx)
  t.same(result.errors, [], 'admitted')
  t.same(
    (result.warned ?? []).map((e) => e.field),
    ['spec.agentRef', 'spec.runtime', 'spec.memoryRef'],
    'reported for the Event',
  )
  t.same(result.warnings, [
    'spec.agentRef: Forbidden: may not change once the run is accepted; cancel it and create a new run',
    'spec.runtime: Forbidden: may not change once the run is accepted; cancel it and create a new run',
    'spec.memoryRef: Forbidden: may not change once the run is accepted; cancel it and create a new run',
  ])
  for (const w of result.warnings) t.ok(w.length <= 120, `≤ 120 characters: ${w}`)
  const allowed = validateSpecImmutability(context({ operation: 'UPDATE', ...objects({ name: '', newSpec: edit({ cancel: true }), fields: [] }), config: { immutabilityEnforced: false } }))
  t.same(allowed, { errors: [], warnings: [] }, 'nothing to warn about: nothing said')
})

t.test('rule 5a: every immutable field is refused when changed', async (t) => {
  t.same([...IMMUTABLE_SPEC_FIELDS], ['agentRef', 'implementationSpecRef', 'implementation', 'goal', 'runtime', 'workflow', 'secrets', 'systemPrompt', 'systemPromptRef', 'vcsRef', 'memoryRef'], 'upstream list')
  for (const field of IMMUTABLE_SPEC_FIELDS) {
    const changed = field === 'secrets' ? ['other'] : field === 'systemPrompt' ? 'other' : { name: 'other' }
    const ctx = context({ operation: 'UPDATE', ...objects({ name: field, newSpec: edit({ [field]: changed }), fields: [] }) })
    t.same(immutableSpecViolations(ctx).map((e) => formatFieldError(e).split(':')[0]), [`spec.${field}`], field)
  }
})

t.test('rule 5a: the hash is upstream\'s (sha256 of the canonical JSON of the snapshot)', async (t) => {
  const obj = agentRun({ spec: { runtime: { type: 'job' }, agentRef: { name: 'a' }, secrets: ['z', ' a '], systemPrompt: 7, extra: true } })
  const canonical =
    '{"agentRef":{"name":"a"},"goal":null,"implementation":null,"implementationSpecRef":null,"memoryRef":null,' +
    '"runtime":{"type":"job"},"secrets":["a","z"],"systemPrompt":null,"systemPromptRef":null,"vcsRef":null,"workflow":null}'
  t.equal(immutableSpecHash(obj), createHash('sha256').update(canonical).digest('hex'))
  t.same(immutableSpecSnapshot(obj).secrets, ['a', 'z'], 'secrets trimmed and sorted')
  t.equal(immutableSpecSnapshot(obj).systemPrompt, null, 'a non-string systemPrompt is absent')
  // upstream's immutable-spec.test.ts: same hash regardless of secrets order; a runtime config change changes it
  const a = agentRun({ spec: { agentRef: { name: 'agent-a' }, runtime: { type: 'job', config: { taskQueue: 'q1' } }, secrets: ['secret-b', 'secret-a'] } })
  const b = agentRun({ spec: { agentRef: { name: 'agent-a' }, runtime: { type: 'job', config: { taskQueue: 'q1' } }, secrets: ['secret-a', 'secret-b'] } })
  t.equal(immutableSpecHash(a), immutableSpecHash(b))
  const c = agentRun({ spec: { runtime: { type: 'temporal', config: { workflowType: 'a' } } } })
  const d = agentRun({ spec: { runtime: { type: 'temporal', config: { workflowType: 'b' } } } })
  t.not(immutableSpecHash(c), immutableSpecHash(d))
})
