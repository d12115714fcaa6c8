/** SPEC §2 rule 5: upstream's reconcile-time checks, per rule set and per kind, with deny/warn enforcement. */
import t from 'tap'

import type { Config, Enforcement, RuleSet } from '../../../../src/config.ts'
import { formatFieldError, formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import { evaluateSpecPolicy, MAX_ERRORS_PER_RULE_SET, MAX_WARNING_LENGTH, validateSpecPolicy } from '../../../../src/admission/rules/spec-policy.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import type { RunKindName } from '../../../../src/kube/run-kinds.ts'
import { agentRun, context, spec } from '../../../helpers/context.ts'

function params(count: number, value: (i: number) => unknown = () => 'v'): Record<string, unknown> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, value(i)]))
}

interface Scenario {
  name: string
  spec?: unknown
  labels?: unknown
  config?: Partial<Config>
  kind?: RunKindName
  /** Expected denied reasons, in order; empty = allowed. */
  reasons: string[]
  /** Expected warned reasons, in order (default: none). */
  warned?: string[]
  message?: string[]
}

const labelPolicy = { labelsRequired: ['team'], labelsAllowed: ['team', 'app.kubernetes.io/*'], labelsDenied: ['secret/*', 'forbidden'] }
const imagePolicy = { imagesAllowed: ['registry.example/*', 'ghcr.io/proompteng/agent:v?'], imagesDenied: ['registry.example/untrusted/*'] }

const scenarios: Scenario[] = [
  // parameters
  { name: 'rule 5 parameters allow: none', spec: spec(), reasons: [] },
  { name: 'rule 5 parameters allow: empty map', spec: spec({ parameters: {} }), reasons: [] },
  { name: 'rule 5 parameters allow: exactly 100 entries of exactly 2048 bytes', spec: spec({ parameters: params(100, () => 'x'.repeat(2048)) }), reasons: [] },
  {
    name: 'rule 5 parameters deny: 101 entries',
    spec: spec({ parameters: params(101) }),
    reasons: ['ParametersTooLarge'],
    message: ['spec.parameters: Too many: has 101 entries, may have at most 100'],
  },
  {
    name: 'rule 5 parameters deny: value of 2049 bytes',
    spec: spec({ parameters: { big: 'x'.repeat(2049) } }),
    reasons: ['ParameterValueTooLarge'],
    message: ['spec.parameters[big]: Too long: may not be more than 2048 bytes (UTF-8), is 2049 bytes'],
  },
  { name: 'rule 5 parameters allow: 1024 two-byte characters are exactly 2048 bytes', spec: spec({ parameters: { p: 'é'.repeat(1024) } }), reasons: [] },
  {
    name: 'rule 5 parameters deny: 683 three-byte characters are 2049 bytes though only 683 characters',
    spec: spec({ parameters: { p: '€'.repeat(683) } }),
    reasons: ['ParameterValueTooLarge'],
    message: ['is 2049 bytes'],
  },
  { name: 'rule 5 parameters allow: 512 four-byte emoji are 2048 bytes', spec: spec({ parameters: { p: '🚀'.repeat(512) } }), reasons: [] },
  { name: 'rule 5 parameters deny: 513 four-byte emoji', spec: spec({ parameters: { p: '🚀'.repeat(513) } }), reasons: ['ParameterValueTooLarge'], message: ['is 2052 bytes'] },
  {
    name: 'rule 5 parameters deny: a number value',
    spec: spec({ parameters: { retries: 3 } }),
    reasons: ['ParameterNotString'],
    message: ['spec.parameters[retries]: Invalid value: 3: must be a string'],
  },
  { name: 'rule 5 parameters deny: boolean, null, object values', spec: spec({ parameters: { a: true, b: null, c: { d: 'e' } } }), reasons: ['ParameterNotString', 'ParameterNotString', 'ParameterNotString'] },
  {
    name: 'rule 5 parameters deny: key prompt',
    spec: spec({ parameters: { prompt: 'do it' } }),
    reasons: ['ForbiddenParameterKey'],
    message: ['spec.parameters[prompt]: Forbidden: the key "prompt" is reserved'],
  },
  // upstream's validateParameters: FORBIDDEN_PARAMETER_KEYS.has(key.trim().toLowerCase())
  { name: 'rule 5 parameters deny: key PROMPT (any case, as upstream)', spec: spec({ parameters: { PROMPT: 'x' } }), reasons: ['ForbiddenParameterKey'], message: ['spec.parameters[PROMPT]: Forbidden'] },
  { name: 'rule 5 parameters deny: key " Prompt " (trimmed, as upstream)', spec: spec({ parameters: { ' Prompt ': 'x' } }), reasons: ['ForbiddenParameterKey'], message: ['spec.parameters[ Prompt ]: Forbidden'] },
  { name: 'rule 5 parameters deny: key "prompt<TAB>" (whitespace trimmed)', spec: spec({ parameters: { 'prompt\t': 'x' } }), reasons: ['ForbiddenParameterKey'] },
  { name: 'rule 5 parameters allow: keys that only contain prompt', spec: spec({ parameters: { promptTemplate: 'y', systemprompt: 'z', 'p rompt': 'w' } }), reasons: [] },
  { name: 'rule 5 parameters deny: parameters as a list', spec: spec({ parameters: ['a', 'b'] }), reasons: ['InvalidParameters'], message: ['spec.parameters: Invalid value: ["a","b"]'] },
  { name: 'rule 5 parameters deny: parameters as a string', spec: spec({ parameters: 'a=b' }), reasons: ['InvalidParameters'] },
  { name: 'rule 5 parameters: several problems at once', spec: spec({ parameters: { ...params(101), prompt: 1 } }), reasons: ['ParametersTooLarge', 'ForbiddenParameterKey', 'ParameterNotString'] },
  {
    name: 'rule 5 parameters: a huge bad map is capped',
    spec: spec({ parameters: params(500, (i) => i) }),
    reasons: ['ParametersTooLarge', ...Array<string>(MAX_ERRORS_PER_RULE_SET - 1).fill('ParameterNotString')],
  },
  // workflow steps: upstream's validateWorkflowSteps runs validateParameters on each named step's string parameters
  {
    name: 'rule 5 parameters deny: a workflow step parameter key Prompt',
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a', parameters: { Prompt: 'x' } }] } }),
    reasons: ['ForbiddenParameterKey'],
    message: ['spec.workflow.steps[0].parameters[Prompt]: Forbidden'],
  },
  {
    name: 'rule 5 parameters deny: a workflow step parameter of 2049 bytes',
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a' }, { name: 'b', parameters: { big: 'x'.repeat(2049) } }] } }),
    reasons: ['ParameterValueTooLarge'],
    message: ['spec.workflow.steps[1].parameters[big]: Too long'],
  },
  {
    name: 'rule 5 parameters deny: a workflow step with 101 string parameters',
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a', parameters: params(101) }] } }),
    reasons: ['ParametersTooLarge'],
  },
  {
    name: 'rule 5 parameters allow: non-string step parameters are dropped by upstream, not judged',
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a', parameters: { n: 1, ...params(100) } }] } }),
    reasons: [],
  },
  {
    name: 'rule 5 parameters allow: step parameters of a job-runtime run (upstream ignores its steps)',
    spec: spec({ runtime: { type: 'job' }, workflow: { steps: [{ name: 'a', parameters: { prompt: 'x' } }] } }),
    reasons: [],
  },

  // labels
  { name: 'rule 5 labels allow: no policy, any labels', labels: { anything: 'goes', 'x/y': 'z' }, spec: spec(), reasons: [] },
  { name: 'rule 5 labels allow: policy satisfied', labels: { team: 'infra', 'app.kubernetes.io/name': 'x' }, config: labelPolicy, spec: spec(), reasons: [] },
  {
    name: 'rule 5 labels deny: required label missing',
    labels: { 'app.kubernetes.io/name': 'x' },
    config: labelPolicy,
    spec: spec(),
    reasons: ['MissingRequiredLabels'],
    message: ['metadata.labels[team]: Required value'],
  },
  { name: 'rule 5 labels deny: required label with an empty value', labels: { team: ' ' }, config: labelPolicy, spec: spec(), reasons: ['MissingRequiredLabels'] },
  { name: 'rule 5 labels deny: required label, no labels at all', config: labelPolicy, spec: spec(), reasons: ['MissingRequiredLabels'] },
  { name: 'rule 5 labels deny: two required labels missing', config: { labelsRequired: ['team', 'cost-center'] }, spec: spec(), reasons: ['MissingRequiredLabels', 'MissingRequiredLabels'] },
  {
    name: 'rule 5 labels deny: denied key, exact',
    labels: { team: 'a', forbidden: 'x' },
    config: labelPolicy,
    spec: spec(),
    reasons: ['LabelBlocked'],
    message: ['metadata.labels[forbidden]: Forbidden: label key matches denied pattern "forbidden"'],
  },
  { name: 'rule 5 labels deny: denied key, glob', labels: { team: 'a', 'secret/token': 'x' }, config: labelPolicy, spec: spec(), reasons: ['LabelBlocked'], message: ['"secret/*"'] },
  { name: 'rule 5 labels allow: denied glob does not match a neighbour', labels: { 'secrets/x': 'y' }, config: { labelsDenied: ['secret/*'] }, spec: spec(), reasons: [] },
  {
    name: 'rule 5 labels deny: key outside the allowed list',
    labels: { team: 'a', owner: 'me' },
    config: labelPolicy,
    spec: spec(),
    reasons: ['LabelNotAllowed'],
    message: ['metadata.labels[owner]: Forbidden: label key is not in the allowed list ("team", "app.kubernetes.io/*")'],
  },
  { name: 'rule 5 labels allow: allowed glob', labels: { team: 'a', 'app.kubernetes.io/part-of': 'b' }, config: labelPolicy, spec: spec(), reasons: [] },
  { name: 'rule 5 labels: a key both denied and not allowed is reported once, as blocked', labels: { team: 'a', 'secret/x': 'y' }, config: labelPolicy, spec: spec(), reasons: ['LabelBlocked'] },
  { name: 'rule 5 labels allow: empty-valued labels are ignored as upstream does', labels: { team: 'a', forbidden: '' }, config: labelPolicy, spec: spec(), reasons: [] },
  { name: 'rule 5 labels: non-string values are ignored, not thrown on', labels: { team: 'a', forbidden: 7 }, config: labelPolicy, spec: spec(), reasons: [] },
  { name: 'rule 5 labels deny: labels as a list', labels: ['team'], config: labelPolicy, spec: spec(), reasons: ['InvalidLabels'] },
  { name: 'rule 5 labels are checked even when spec is garbage', config: labelPolicy, spec: 'garbage', reasons: ['MissingRequiredLabels'] },

  // images
  { name: 'rule 5 images allow: no policy', spec: spec({ workload: { image: 'docker.io/anything:latest' } }), reasons: [] },
  { name: 'rule 5 images allow: allowed registry', config: imagePolicy, spec: spec({ workload: { image: 'registry.example/team/agent:1.2@sha256:abc' } }), reasons: [] },
  { name: 'rule 5 images allow: ? matches one character', config: imagePolicy, spec: spec({ workload: { image: 'ghcr.io/proompteng/agent:v2' } }), reasons: [] },
  {
    name: 'rule 5 images deny: ? does not match two characters',
    config: imagePolicy,
    spec: spec({ workload: { image: 'ghcr.io/proompteng/agent:v10' } }),
    reasons: ['ImageNotAllowed'],
    message: ['spec.workload.image: Invalid value: "ghcr.io/proompteng/agent:v10": matches no allowed pattern'],
  },
  {
    name: 'rule 5 images deny: denied wins over allowed',
    config: imagePolicy,
    spec: spec({ workload: { image: 'registry.example/untrusted/miner:1' } }),
    reasons: ['ImageBlocked'],
    message: ['spec.workload.image: Invalid value: "registry.example/untrusted/miner:1": matches denied pattern "registry.example/untrusted/*"'],
  },
  { name: 'rule 5 images deny: not in the allowed list', config: imagePolicy, spec: spec({ workload: { image: 'docker.io/library/busybox' } }), reasons: ['ImageNotAllowed'] },
  {
    name: 'rule 5 images deny: a workflow step image',
    config: imagePolicy,
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a', workload: { image: 'registry.example/ok:1' } }, { name: 'b', workload: { image: 'docker.io/bad' } }] } }),
    reasons: ['ImageNotAllowed'],
    message: ['spec.workflow.steps[1].workload.image: Invalid value: "docker.io/bad"'],
  },
  {
    name: 'rule 5 images deny: a workflow step without a workload runs spec.workload.image',
    config: imagePolicy,
    spec: spec({ runtime: { type: 'workflow' }, workload: { image: 'docker.io/bad' }, workflow: { steps: [{ name: 'a', workload: { image: 'registry.example/ok:1' } }, { name: 'b' }, { name: 'c' }] } }),
    reasons: ['ImageNotAllowed'],
    message: ['spec.workload.image: Invalid value: "docker.io/bad"'],
  },
  {
    name: 'rule 5 images allow: spec.workload.image no workflow step uses',
    config: imagePolicy,
    spec: spec({ runtime: { type: 'workflow' }, workload: { image: 'docker.io/bad' }, workflow: { steps: [{ name: 'a', workload: { image: 'registry.example/ok:1' } }] } }),
    reasons: [],
  },
  {
    name: 'rule 5 images allow: the image of an unnamed step (upstream drops the step)',
    config: imagePolicy,
    spec: spec({ runtime: { type: 'workflow' }, workflow: { steps: [{ name: 'a', workload: { image: 'registry.example/ok:1' } }, { name: '  ', workload: { image: 'docker.io/bad' } }] } }),
    reasons: ['MissingStepName'],
  },
  {
    name: 'rule 5 images allow: step images of a job-runtime run (upstream runs spec.workload.image only)',
    config: imagePolicy,
    spec: spec({ runtime: { type: 'job' }, workflow: { steps: [{ name: 'a', workload: { image: 'docker.io/bad' } }] } }),
    reasons: [],
  },
  { name: 'rule 5 images allow: temporal runtime (upstream applies no image policy)', config: imagePolicy, spec: spec({ runtime: { type: 'temporal' }, workload: { image: 'docker.io/bad' } }), reasons: [] },
  { name: 'rule 5 images allow: custom runtime', config: imagePolicy, spec: spec({ runtime: { type: 'custom' }, workload: { image: 'docker.io/bad' } }), reasons: [] },
  { name: 'rule 5 images deny: runtime type " job " (trimmed, as upstream)', config: imagePolicy, spec: spec({ runtime: { type: ' job ' }, workload: { image: 'docker.io/bad' } }), reasons: ['ImageNotAllowed'] },
  { name: 'rule 5 images allow: empty image is no image', config: imagePolicy, spec: spec({ workload: { image: '' } }), reasons: [] },
  { name: 'rule 5 images deny: image not a string', config: imagePolicy, spec: spec({ workload: { image: 42 } }), reasons: ['InvalidImage'] },
  { name: 'rule 5 images: garbage workload is skipped', config: imagePolicy, spec: spec({ workload: 'registry', workflow: { steps: ['x', { name: 'y', workload: 3 }] } }), reasons: ['InvalidWorkflow'] },

  // workflow
  { name: 'rule 5 workflow allow: unique names', spec: spec({ workflow: { steps: [{ name: 'plan' }, { name: 'implement' }] } }), reasons: [] },
  { name: 'rule 5 workflow allow: no steps', spec: spec({ workflow: {} }), reasons: [] },
  {
    name: 'rule 5 workflow deny: duplicate name',
    spec: spec({ workflow: { steps: [{ name: 'plan' }, { name: 'build' }, { name: 'plan' }] } }),
    reasons: ['DuplicateStepName'],
    message: ['spec.workflow.steps[2].name: Duplicate value: "plan": also the name of spec.workflow.steps[0]'],
  },
  {
    name: 'rule 5 workflow deny: names equal once trimmed (upstream trims)',
    spec: spec({ workflow: { steps: [{ name: 'plan' }, { name: ' plan ' }] } }),
    reasons: ['DuplicateStepName'],
    message: ['spec.workflow.steps[1].name: Duplicate value: " plan "'],
  },
  { name: 'rule 5 workflow deny: three of a kind → two duplicates', spec: spec({ workflow: { steps: [{ name: 'a' }, { name: 'a' }, { name: 'a' }] } }), reasons: ['DuplicateStepName', 'DuplicateStepName'] },
  {
    name: 'rule 5 workflow deny: missing name',
    spec: spec({ workflow: { steps: [{ name: 'a' }, {}] } }),
    reasons: ['MissingStepName'],
    message: ['spec.workflow.steps[1].name: Required value'],
  },
  { name: 'rule 5 workflow deny: empty name', spec: spec({ workflow: { steps: [{ name: '' }] } }), reasons: ['MissingStepName'] },
  { name: 'rule 5 workflow deny: blank name', spec: spec({ workflow: { steps: [{ name: '   ' }] } }), reasons: ['MissingStepName'] },
  { name: 'rule 5 workflow deny: numeric name', spec: spec({ workflow: { steps: [{ name: 1 }] } }), reasons: ['MissingStepName'] },
  { name: 'rule 5 workflow deny: steps not a list', spec: spec({ workflow: { steps: { name: 'a' } } }), reasons: ['InvalidWorkflow'] },
  { name: 'rule 5 workflow deny: workflow not an object', spec: spec({ workflow: ['a'] }), reasons: ['InvalidWorkflow'] },

  // ttl
  { name: 'rule 5 ttl allow: 0', spec: spec({ ttlSecondsAfterFinished: 0 }), reasons: [] },
  { name: 'rule 5 ttl allow: 86400', spec: spec({ ttlSecondsAfterFinished: 86400 }), reasons: [] },
  {
    name: 'rule 5 ttl deny: negative',
    spec: spec({ ttlSecondsAfterFinished: -1 }),
    reasons: ['InvalidTTL'],
    message: ['spec.ttlSecondsAfterFinished: Invalid value: -1: must be an integer number of seconds, 0 or more'],
  },
  { name: 'rule 5 ttl deny: fraction', spec: spec({ ttlSecondsAfterFinished: 1.5 }), reasons: ['InvalidTTL'] },
  { name: 'rule 5 ttl deny: string', spec: spec({ ttlSecondsAfterFinished: '60' }), reasons: ['InvalidTTL'] },
  { name: 'rule 5 ttl deny: beyond int32', spec: spec({ ttlSecondsAfterFinished: 2 ** 31 }), reasons: ['InvalidTTL'] },
  { name: 'rule 5 ttl: runtime.config TTL (the Job TTL) is not this rule', spec: spec({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: -5 } } }), reasons: [] },
]

function objectFor(s: Scenario): KubeObject {
  const obj = agentRun({ spec: s.spec, labels: s.labels })
  if (s.kind) obj.kind = s.kind
  return obj
}

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const ctx = context({ operation: 'CREATE', kind: s.kind, newObject: objectFor(s), config: s.config })
    const result = validateSpecPolicy(ctx)
    t.same(
      result.errors.map((e) => e.reason),
      s.reasons,
      'reasons',
    )
    t.same(
      (result.warned ?? []).map((e) => e.reason),
      s.warned ?? [],
      'warned reasons',
    )
    t.equal(result.warnings.length, (s.warned ?? []).length, 'one warning per warned violation')
    const message = result.errors.length ? formatFieldErrors(result.errors) : ''
    for (const part of s.message ?? []) t.match(message, part, `message contains ${part}`)
    for (const e of [...result.errors, ...(result.warned ?? [])]) t.match(formatFieldError(e), /^(spec|metadata)\.(\[[^\]]*\]|[\w./-])+: /, 'message names the field')
  })
}

// Rule 5 per kind: upstream enforces parameters, labels and images on AgentRuns it submits only;
// its orchestration controller passes an orchestration's parameters (a `prompt` key, long values)
// on to child ToolRuns and OrchestrationRuns, so there the same findings are warnings.
interface KindCase {
  name: string
  parameters?: Record<string, unknown>
  labels?: Record<string, unknown>
  workload?: Record<string, unknown>
  config?: Partial<Config>
  reasons: string[]
}

const kindCases: KindCase[] = [
  { name: 'a prompt key', parameters: { prompt: 'inherited from the orchestration' }, reasons: ['ForbiddenParameterKey'] },
  { name: 'a " Prompt " key', parameters: { ' Prompt ': 'x' }, reasons: ['ForbiddenParameterKey'] },
  { name: 'a value of 4096 bytes', parameters: { context: 'x'.repeat(4096) }, reasons: ['ParameterValueTooLarge'] },
  { name: '101 parameters', parameters: params(101), reasons: ['ParametersTooLarge'] },
  { name: 'a non-string parameter', parameters: { n: 1 }, reasons: ['ParameterNotString'] },
  { name: 'a missing required label', config: { labelsRequired: ['team'] }, reasons: ['MissingRequiredLabels'] },
  { name: 'a denied label', labels: { 'secret/x': 'y' }, config: { labelsDenied: ['secret/*'] }, reasons: ['LabelBlocked'] },
  { name: 'a label outside the allowed list', labels: { owner: 'me' }, config: { labelsAllowed: ['team'] }, reasons: ['LabelNotAllowed'] },
  { name: 'a denied image', workload: { image: 'docker.io/x' }, config: { imagesDenied: ['docker.io/*'] }, reasons: ['ImageBlocked'] },
]

function runOf(kind: RunKindName, c: KindCase, annotations?: Record<string, string>): KubeObject {
  const base: Record<RunKindName, Record<string, unknown>> = {
    AgentRun: spec(),
    ToolRun: { toolRef: { name: 'lint' } },
    OrchestrationRun: { orchestrationRef: { name: 'release' } },
  }
  const obj = agentRun({
    spec: { ...base[kind], ...(c.parameters ? { parameters: c.parameters } : {}), ...(c.workload ? { workload: c.workload } : {}) },
    labels: c.labels,
  })
  obj.kind = kind
  if (annotations) (obj.metadata as Record<string, unknown>).annotations = annotations
  return obj
}

for (const c of kindCases) {
  t.test(`rule 5 deny on AgentRun: ${c.name}`, async (t) => {
    const result = validateSpecPolicy(context({ kind: 'AgentRun', newObject: runOf('AgentRun', c), config: c.config }))
    t.same(result.errors.map((e) => e.reason), c.reasons, 'denied')
    t.same(result.warnings, [], 'no warnings')
  })
  for (const kind of ['ToolRun', 'OrchestrationRun'] as const) {
    t.test(`rule 5 warn on ${kind}: ${c.name}`, async (t) => {
      const ctx = context({ kind, newObject: runOf(kind, c), config: c.config })
      const result = validateSpecPolicy(ctx)
      t.same(result.errors, [], 'admitted')
      t.same((result.warned ?? []).map((e) => e.reason), c.reasons, 'warned, so still reported as an InvalidSpec Event')
      t.equal(result.warnings.length, c.reasons.length, 'one admission warning each')
      for (const w of result.warnings) t.ok(w.length <= MAX_WARNING_LENGTH, `warning ≤ 120 characters: ${w}`)
      t.same(evaluateSpecPolicy(ctx).denied, [], 'evaluateSpecPolicy denies nothing either')
    })
  }
  t.test(`rule 5 warn on an AgentRun template: ${c.name}`, async (t) => {
    const result = validateSpecPolicy(context({ kind: 'AgentRun', newObject: runOf('AgentRun', c, { 'agents.proompteng.ai/template': ' true ' }), config: c.config }))
    t.same(result.errors, [], 'admitted: upstream never checks templates')
    t.same((result.warned ?? []).map((e) => e.reason), c.reasons, 'warned')
  })
}

t.test('rule 5 per kind: details', async (t) => {
  const prompt: KindCase = { name: 'prompt', parameters: { prompt: 'x' }, reasons: [] }
  const denyAll = { parameters: 'deny', labels: 'deny', images: 'deny', workflow: 'deny', ttl: 'deny' } as Record<RuleSet, Enforcement>

  const warnOnToolRun = validateSpecPolicy(context({ kind: 'ToolRun', newObject: runOf('ToolRun', prompt), config: { enforcement: denyAll } }))
  t.same(warnOnToolRun.errors, [], 'a ToolRun is warned even when the parameters set is enforced with deny')
  t.same(warnOnToolRun.warnings, ['spec.parameters[prompt]: Forbidden: the key "prompt" is reserved (any case): use ImplementationSpec.spec.text'])

  const notTemplate = validateSpecPolicy(context({ kind: 'AgentRun', newObject: runOf('AgentRun', prompt, { 'agents.proompteng.ai/template': 'false' }) }))
  t.same(notTemplate.errors.map((e) => e.reason), ['ForbiddenParameterKey'], 'template annotation other than "true" is an ordinary AgentRun')
  const upperTemplate = validateSpecPolicy(context({ kind: 'AgentRun', newObject: runOf('AgentRun', prompt, { 'agents.proompteng.ai/template': 'True' }) }))
  t.same(upperTemplate.errors.map((e) => e.reason), ['ForbiddenParameterKey'], 'upstream compares the annotation case-sensitively')

  const workflowOnToolRun = validateSpecPolicy(
    context({ kind: 'ToolRun', newObject: agentRun({ spec: { toolRef: { name: 't' }, workflow: { steps: [{ name: 'a' }, { name: 'a' }] }, ttlSecondsAfterFinished: -1 } }) }),
  )
  t.same(workflowOnToolRun.errors.map((e) => e.reason), ['DuplicateStepName', 'InvalidTTL'], 'workflow and ttl (runguard\'s own rules) keep their enforcement on every kind')

  const kindFromResource = validateSpecPolicy(context({ kind: 'ToolRun', newObject: { ...runOf('AgentRun', prompt), kind: 'AgentRun' } }))
  t.same(kindFromResource.errors, [], 'the kind comes from request.resource, not from the object body')

  const childUpdate = evaluateSpecPolicy(
    context({
      operation: 'UPDATE',
      kind: 'ToolRun',
      oldObject: runOf('ToolRun', prompt),
      newObject: runOf('ToolRun', { ...prompt, parameters: { prompt: 'x', cancel: 'y' } }),
    }),
  )
  t.same(childUpdate.warned, [], 'an inherited violation is not warned again on every update of the child')
  t.same(childUpdate.ratcheted.map((e) => e.reason), ['ForbiddenParameterKey'])
})

t.test('rule 5 warn: each rule set in warn enforcement admits with a warning', async (t) => {
  const sets: Array<{ set: RuleSet; object: KubeObject; config?: Partial<Config> }> = [
    { set: 'parameters', object: agentRun({ spec: spec({ parameters: { p: 'x'.repeat(5000) } }) }) },
    { set: 'labels', object: agentRun({ labels: { owner: 'me' } }), config: { labelsAllowed: ['team'] } },
    { set: 'images', object: agentRun({ spec: spec({ workload: { image: 'docker.io/x' } }) }), config: { imagesDenied: ['docker.io/*'] } },
    { set: 'workflow', object: agentRun({ spec: spec({ workflow: { steps: [{ name: 'a' }, { name: 'a' }] } }) }) },
    { set: 'ttl', object: agentRun({ spec: spec({ ttlSecondsAfterFinished: -3 }) }) },
  ]
  for (const { set, object, config } of sets) {
    const enforcement = { parameters: 'deny', labels: 'deny', images: 'deny', workflow: 'deny', ttl: 'deny', [set]: 'warn' } as Record<RuleSet, Enforcement>
    const ctx = context({ operation: 'CREATE', newObject: object, config: { ...config, enforcement } })
    const result = validateSpecPolicy(ctx)
    t.same(result.errors, [], `${set}: warn admits`)
    t.equal(result.warnings.length, 1, `${set}: one warning`)
    for (const w of result.warnings) t.ok(w.length <= 120, `${set}: warning ≤ 120 chars (${w.length}): ${w}`)
    const evaluated = evaluateSpecPolicy(ctx)
    t.same(evaluated.denied, [], `${set}: nothing denied`)
    t.equal(evaluated.warned.length, 1, `${set}: the violation is still reported for the InvalidSpec Event`)
  }

  t.test('rule 5 warn: deny and warn sets mixed in one request', async (t) => {
    const enforcement = { parameters: 'deny', labels: 'warn', images: 'deny', workflow: 'deny', ttl: 'deny' } as Record<RuleSet, Enforcement>
    const ctx = context({
      operation: 'CREATE',
      newObject: agentRun({ labels: { owner: 'me' }, spec: spec({ parameters: { prompt: 'x' } }) }),
      config: { labelsAllowed: ['team'], enforcement },
    })
    const evaluated = evaluateSpecPolicy(ctx)
    t.same(evaluated.denied.map((e) => e.reason), ['ForbiddenParameterKey'])
    t.same(evaluated.warned.map((e) => e.reason), ['LabelNotAllowed'])
    const result = validateSpecPolicy(ctx)
    t.same(result.errors.map((e) => e.reason), ['ForbiddenParameterKey'])
    t.same(result.warnings, ['metadata.labels[owner]: Forbidden: label key is not in the allowed list ("team")'])
  })

  t.test('rule 5 warn: a long warning is clipped to 120 characters', async (t) => {
    const enforcement = { parameters: 'deny', labels: 'deny', images: 'warn', workflow: 'deny', ttl: 'deny' } as Record<RuleSet, Enforcement>
    const image = `registry.example/${'very-long-path/'.repeat(10)}agent:1`
    const result = validateSpecPolicy(context({ newObject: agentRun({ spec: spec({ workload: { image } }) }), config: { imagesDenied: ['registry.example/*'], enforcement } }))
    t.equal(result.warnings.length, 1)
    t.equal(result.warnings[0]!.length, 120, 'exactly at the limit')
    t.match(result.warnings[0]!, /^spec\.workload\.image: Invalid value: /)
    t.match(result.warnings[0]!, /\.\.\.$/)
  })
})

t.test('rule 5 ratchet: on UPDATE only new violations count', async (t) => {
  const cfg = { labelsRequired: ['team'] }
  const scenarios: Array<{ name: string; old: KubeObject; next: KubeObject; denied: string[]; ratcheted: string[] }> = [
    {
      name: 'a violation the stored object already had does not block a cancel',
      old: agentRun({ spec: spec({ parameters: { big: 'x'.repeat(3000) } }) }),
      next: agentRun({ spec: spec({ parameters: { big: 'x'.repeat(3000) }, cancel: true, desiredState: 'Cancelled' }) }),
      denied: [],
      ratcheted: ['ParameterValueTooLarge', 'MissingRequiredLabels'],
    },
    {
      name: 'a new violation is denied while old ones ratchet',
      old: agentRun({ spec: spec() }),
      next: agentRun({ spec: spec({ parameters: { prompt: 'x' } }) }),
      denied: ['ForbiddenParameterKey'],
      ratcheted: ['MissingRequiredLabels'],
    },
    {
      name: 'changing the offending value makes it a new violation',
      old: agentRun({ labels: { team: 'a' }, spec: spec({ parameters: { n: 1 } }) }),
      next: agentRun({ labels: { team: 'a' }, spec: spec({ parameters: { n: 2 } }) }),
      denied: ['ParameterNotString'],
      ratcheted: [],
    },
    {
      name: 'on UPDATE without old violations everything is judged',
      old: agentRun({ labels: { team: 'a' }, spec: spec() }),
      next: agentRun({ spec: spec() }),
      denied: ['MissingRequiredLabels'],
      ratcheted: [],
    },
  ]
  for (const s of scenarios) {
    const result = evaluateSpecPolicy(context({ operation: 'UPDATE', oldObject: s.old, newObject: s.next, config: cfg }))
    t.same(result.denied.map((e) => e.reason), s.denied, `${s.name}: denied`)
    t.same(result.ratcheted.map((e) => e.reason), s.ratcheted, `${s.name}: ratcheted`)
  }
  const create = evaluateSpecPolicy(context({ operation: 'CREATE', oldObject: agentRun(), newObject: agentRun(), config: cfg }))
  t.same(create.denied.map((e) => e.reason), ['MissingRequiredLabels'], 'CREATE never ratchets')
})

t.test('rule 5: requests the rule does not judge', async (t) => {
  const bad = agentRun({ spec: spec({ parameters: { prompt: 'x' } }) })
  const empty = { denied: [], warned: [], ratcheted: [] }
  t.same(evaluateSpecPolicy(context({ operation: 'DELETE', oldObject: bad })), empty, 'DELETE')
  t.same(evaluateSpecPolicy(context({ operation: 'UPDATE', subResource: 'status', oldObject: bad, newObject: bad })), empty, 'status subresource')
  t.same(evaluateSpecPolicy(context({ operation: 'CREATE', newObject: { kind: 'AgentRun' } })), empty, 'no metadata, no spec')
  t.same(evaluateSpecPolicy(context({ operation: 'CREATE', newObject: { kind: 'AgentRun', metadata: 'x' as never, spec: [] as never } })), empty, 'garbage metadata and spec')
})

t.test('rule 5 parameters deny: a huge key is shortened in the message', async (t) => {
  const key = 'k'.repeat(5000)
  const result = validateSpecPolicy(context({ newObject: agentRun({ spec: spec({ parameters: { [key]: 1 } }) }) }))
  t.same(result.errors.map((e) => e.reason), ['ParameterNotString'])
  t.ok(result.errors[0]!.field.length < 160, `field path bounded (${result.errors[0]!.field.length})`)
  t.match(result.errors[0]!.field, /^spec\.parameters\[k+\.\.\.\]$/)
})

t.test('rule 5 ratchet: full values are compared, not the shortened ones in messages', async (t) => {
  const prefix = `docker.io/${'x'.repeat(80)}`
  const result = evaluateSpecPolicy(
    context({
      operation: 'UPDATE',
      oldObject: agentRun({ spec: spec({ workload: { image: `${prefix}:1` } }) }),
      newObject: agentRun({ spec: spec({ workload: { image: `${prefix}:2` } }) }),
      config: { imagesDenied: ['docker.io/*'] },
    }),
  )
  t.same(result.denied.map((e) => e.reason), ['ImageBlocked'], 'a different long image is a new violation')
})
