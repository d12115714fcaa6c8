/**
 * SPEC §2 rule 5 (issue 9 §4): upstream's other reconcile-time failures decidable from the object
 * alone — MissingAgent, MissingRuntime, MissingImplementation, MissingEndpoint,
 * MissingTemporalConfig, MissingWorkflowSteps, MissingOrchestrationRef, MissingTool.
 */
import t from 'tap'

import { formatFieldErrors } from '../../../../src/admission/field-errors.ts'
import { validateRequiredReferences } from '../../../../src/admission/rules/spec-required.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import type { RunKindName } from '../../../../src/kube/run-kinds.ts'
import { agentRun, context } from '../../../helpers/context.ts'

/** A complete AgentRun spec for `runtime`, plus `extra`. */
function run(type: string | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const config: Record<string, Record<string, unknown>> = {
    custom: { endpoint: 'https://runner.example/submit' },
    temporal: { workflowType: 'AgentWorkflow', taskQueue: 'agents' },
  }
  return {
    agentRef: { name: 'codex' },
    implementationSpecRef: { name: 'impl-a' },
    runtime: type === undefined ? {} : { type, ...(config[type] ? { config: config[type] } : {}) },
    ...(type === 'workflow' ? { workflow: { steps: [{ name: 'main' }] } } : {}),
    ...extra,
  }
}

interface Scenario {
  name: string
  spec: unknown
  kind?: RunKindName
  operation?: Operation
  oldSpec?: unknown
  template?: boolean
  /** Expected denied reasons, in order; empty = allowed. */
  reasons: string[]
  warned?: string[]
  message?: string
}

const scenarios: Scenario[] = [
  { name: 'rule 5 required allow: a complete job run', spec: run('job'), reasons: [] },
  { name: 'rule 5 required allow: a complete workflow run', spec: run('workflow'), reasons: [] },
  { name: 'rule 5 required allow: a complete custom run', spec: run('custom'), reasons: [] },
  { name: 'rule 5 required allow: a complete temporal run', spec: run('temporal'), reasons: [] },
  { name: 'rule 5 required allow: inline implementation instead of a reference', spec: run('job', { implementationSpecRef: undefined, implementation: { inline: { text: 'x' } } }), reasons: [] },

  // AgentRun
  { name: 'rule 5 required deny: MissingAgent, no agentRef', spec: run('job', { agentRef: undefined }), reasons: ['MissingAgent'], message: 'spec.agentRef.name: Required value: the agent to run is required' },
  { name: 'rule 5 required deny: MissingAgent, blank name (upstream trims)', spec: run('job', { agentRef: { name: '  ' } }), reasons: ['MissingAgent'] },
  { name: 'rule 5 required deny: MissingRuntime, no runtime', spec: run('job', { runtime: undefined }), reasons: ['MissingRuntime'], message: 'spec.runtime.type: Required value' },
  { name: 'rule 5 required deny: MissingRuntime, blank type', spec: run('job', { runtime: { type: ' ' } }), reasons: ['MissingRuntime'] },
  { name: 'rule 5 required deny: MissingRuntime, type not a string', spec: run('job', { runtime: { type: 1 } }), reasons: ['MissingRuntime'] },
  { name: 'rule 5 required deny: MissingImplementation, neither reference nor inline', spec: run('job', { implementationSpecRef: undefined }), reasons: ['MissingImplementation'], message: 'implementationSpecRef.name or implementation.inline is required' },
  { name: 'rule 5 required deny: MissingImplementation, blank reference name', spec: run('job', { implementationSpecRef: { name: '' } }), reasons: ['MissingImplementation'] },
  { name: 'rule 5 required deny: MissingImplementation, implementation without inline', spec: run('job', { implementationSpecRef: undefined, implementation: { text: 'x' } }), reasons: ['MissingImplementation'] },
  { name: 'rule 5 required deny: MissingImplementation on the workflow runtime too', spec: run('workflow', { implementationSpecRef: undefined }), reasons: ['MissingImplementation'] },
  { name: 'rule 5 required deny: MissingEndpoint', spec: run('custom', { runtime: { type: 'custom', config: {} } }), reasons: ['MissingEndpoint'], message: 'spec.runtime.config.endpoint: Required value: required for the custom runtime' },
  { name: 'rule 5 required deny: MissingEndpoint, blank endpoint', spec: run('custom', { runtime: { type: 'custom', config: { endpoint: ' ' } } }), reasons: ['MissingEndpoint'] },
  { name: 'rule 5 required deny: MissingTemporalConfig, both missing', spec: run('temporal', { runtime: { type: 'temporal' } }), reasons: ['MissingTemporalConfig', 'MissingTemporalConfig'] },
  {
    name: 'rule 5 required deny: MissingTemporalConfig, taskQueue missing',
    spec: run('temporal', { runtime: { type: 'temporal', config: { workflowType: 'W' } } }),
    reasons: ['MissingTemporalConfig'],
    message: 'spec.runtime.config.taskQueue: Required value',
  },
  { name: 'rule 5 required deny: MissingWorkflowSteps, no workflow', spec: run('workflow', { workflow: undefined }), reasons: ['MissingWorkflowSteps'], message: 'spec.workflow.steps: Required value' },
  { name: 'rule 5 required deny: MissingWorkflowSteps, only unnamed steps (upstream drops them)', spec: run('workflow', { workflow: { steps: [{}, { name: ' ' }] } }), reasons: ['MissingWorkflowSteps'] },
  { name: 'rule 5 required allow: endpoint of a job run is not needed', spec: run('job', { runtime: { type: 'job', config: {} } }), reasons: [] },
  { name: 'rule 5 required allow: no steps on a job run', spec: run('job', { workflow: { steps: [] } }), reasons: [] },
  { name: 'rule 5 required deny: several at once', spec: { runtime: { type: 'temporal', config: { taskQueue: 'q' } } }, reasons: ['MissingAgent', 'MissingImplementation', 'MissingTemporalConfig'] },
  { name: 'rule 5 required deny: garbage spec', spec: 'garbage', reasons: ['MissingAgent', 'MissingRuntime', 'MissingImplementation'] },
  { name: 'rule 5 required warn: an AgentRun template (upstream never submits it)', template: true, spec: run('job', { agentRef: undefined }), reasons: [], warned: ['MissingAgent'] },

  // OrchestrationRun, ToolRun
  { name: 'rule 5 required allow: OrchestrationRun with a reference', kind: 'OrchestrationRun', spec: { orchestrationRef: { name: 'release' } }, reasons: [] },
  { name: 'rule 5 required deny: MissingOrchestrationRef', kind: 'OrchestrationRun', spec: { orchestrationRef: { name: ' ' } }, reasons: ['MissingOrchestrationRef'], message: 'spec.orchestrationRef.name: Required value' },
  { name: 'rule 5 required allow: ToolRun with a reference', kind: 'ToolRun', spec: { toolRef: { name: 'lint' } }, reasons: [] },
  { name: 'rule 5 required deny: MissingTool', kind: 'ToolRun', spec: {}, reasons: ['MissingTool'], message: 'spec.toolRef.name: Required value' },
  { name: 'rule 5 required allow: a ToolRun needs no agent or runtime', kind: 'ToolRun', spec: { toolRef: { name: 'lint' }, runtime: {} }, reasons: [] },

  // UPDATE
  { name: 'rule 5 required deny: UPDATE that removes the endpoint', operation: 'UPDATE', oldSpec: run('custom'), spec: run('custom', { runtime: { type: 'custom' } }), reasons: ['MissingEndpoint'] },
  { name: 'rule 5 required allow: UPDATE of a run that already lacked it (ratchet: a cancel)', operation: 'UPDATE', oldSpec: run('job', { implementationSpecRef: undefined }), spec: run('job', { implementationSpecRef: undefined, cancel: true }), reasons: [] },
]

function objectFor(kind: RunKindName, spec: unknown, template = false): KubeObject {
  const obj = agentRun({ spec })
  obj.kind = kind
  if (template) (obj.metadata as Record<string, unknown>).annotations = { 'agents.proompteng.ai/template': 'true' }
  return obj
}

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const kind = s.kind ?? 'AgentRun'
    const operation = s.operation ?? 'CREATE'
    const ctx = context({
      operation,
      kind,
      oldObject: s.oldSpec === undefined ? undefined : objectFor(kind, s.oldSpec, s.template),
      newObject: objectFor(kind, s.spec, s.template),
    })
    const result = validateRequiredReferences(ctx)
    t.same(
      result.errors.map((e) => e.reason),
      s.reasons,
      'denied reasons',
    )
    t.same(
      (result.warned ?? []).map((e) => e.reason),
      s.warned ?? [],
      'warned reasons',
    )
    t.equal(result.warnings.length, (s.warned ?? []).length, 'one warning per warned finding')
    if (s.message) t.match(formatFieldErrors(result.errors), s.message, 'message')
  })
}

t.test('rule 5 required: requests the rule does not judge', async (t) => {
  const bad = objectFor('AgentRun', {})
  const none = { errors: [], warnings: [] }
  t.same(validateRequiredReferences(context({ operation: 'DELETE', oldObject: bad })), none, 'DELETE')
  t.same(validateRequiredReferences(context({ operation: 'UPDATE', subResource: 'status', oldObject: bad, newObject: bad })), none, 'status subresource')
})
