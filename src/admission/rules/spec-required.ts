/**
 * Validating — required references: the rest of upstream's reconcile-time spec failures that the
 * object alone decides, moved to admission with upstream's reason names. Part of SPEC §2 rule 5
 * (issue 9 §4); CREATE, UPDATE of the main resource.
 *
 *   AgentRun (proompteng/lab agents-controller/agent-run-reconciler.ts, workflow-reconciler.ts,
 *   workflow.ts — each fails the run with condition InvalidSpec before submitting it)
 *     MissingAgent           spec.agentRef.name blank or absent
 *     MissingRuntime         spec.runtime.type blank or absent
 *     MissingImplementation  neither spec.implementation.inline (an object) nor spec.implementationSpecRef.name
 *     MissingEndpoint        runtime `custom` without spec.runtime.config.endpoint
 *     MissingTemporalConfig  runtime `temporal` without spec.runtime.config.workflowType / .taskQueue
 *     MissingWorkflowSteps   runtime `workflow` without a step that has a non-blank name
 *   OrchestrationRun (orchestration-controller.ts: InvalidSpec)
 *     MissingOrchestrationRef  spec.orchestrationRef.name blank or absent
 *   ToolRun (orchestration-controller.ts reconcileToolRun: condition Failed)
 *     MissingTool            spec.toolRef.name blank or absent
 *
 * Strings are read as upstream reads them: trimmed, blank = absent. Failures that need an API
 * lookup (agent, provider, memory, implementation spec not found; Agent secret allow-lists;
 * the default runner image) stay upstream's. Always `deny` — upstream fails the run at once — except
 * on AgentRun templates, which upstream never submits: there they are warnings. Ratcheting as
 * rule 5: a finding the stored object already had does not block an update.
 */
import { fieldError } from '../field-errors.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import type { JsonObject, KubeObject } from '../../kube/objects.ts'
import type { RunKindName } from '../../kube/run-kinds.ts'
import { ratchet } from './ratchet.ts'
import { warningFor } from './spec-policy.ts'
import { isAgentRunTemplate, readNested, runKindOf, upstreamRecord, upstreamString } from './upstream-read.ts'

function present(spec: JsonObject, path: readonly string[]): boolean {
  return upstreamString(readNested(spec, path)) !== undefined
}

function required(path: string, reason: string, detail: string): FieldError {
  return fieldError.required(path, reason, detail)
}

/** Steps upstream's parseWorkflowSteps keeps: those with a non-blank name. */
function hasNamedStep(spec: JsonObject): boolean {
  const steps = readNested(spec, ['workflow', 'steps'])
  return Array.isArray(steps) && steps.some((step) => upstreamString(readNested(step, ['name'])) !== undefined)
}

function agentRunFindings(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  if (!present(spec, ['agentRef', 'name'])) errors.push(required('spec.agentRef.name', 'MissingAgent', 'the agent to run is required'))
  const type = upstreamString(readNested(spec, ['runtime', 'type']))
  if (type === undefined) errors.push(required('spec.runtime.type', 'MissingRuntime', 'one of job, workflow, temporal, custom'))
  if (upstreamRecord(readNested(spec, ['implementation', 'inline'])) === undefined && !present(spec, ['implementationSpecRef', 'name'])) {
    errors.push(required('spec.implementationSpecRef.name', 'MissingImplementation', 'implementationSpecRef.name or implementation.inline is required'))
  }
  if (type === 'custom' && !present(spec, ['runtime', 'config', 'endpoint'])) {
    errors.push(required('spec.runtime.config.endpoint', 'MissingEndpoint', 'required for the custom runtime'))
  }
  if (type === 'temporal') {
    for (const key of ['workflowType', 'taskQueue']) {
      if (!present(spec, ['runtime', 'config', key])) errors.push(required(`spec.runtime.config.${key}`, 'MissingTemporalConfig', 'required for the temporal runtime'))
    }
  }
  if (type === 'workflow' && !hasNamedStep(spec)) {
    errors.push(required('spec.workflow.steps', 'MissingWorkflowSteps', 'the workflow runtime needs at least one step with a name'))
  }
  return errors
}

/** Every finding of this rule on one object of `kind`, before ratcheting. */
export function requiredReferenceFindings(obj: KubeObject | undefined, kind: RunKindName | undefined): FieldError[] {
  if (!obj) return []
  const spec = upstreamRecord(obj.spec) ?? {}
  switch (kind) {
    case 'AgentRun':
      return agentRunFindings(spec)
    case 'OrchestrationRun':
      return present(spec, ['orchestrationRef', 'name']) ? [] : [required('spec.orchestrationRef.name', 'MissingOrchestrationRef', 'the orchestration to run is required')]
    case 'ToolRun':
      return present(spec, ['toolRef', 'name']) ? [] : [required('spec.toolRef.name', 'MissingTool', 'the tool to run is required')]
    default:
      return []
  }
}

export const validateRequiredReferences: ValidationRule = (ctx: RuleContext): RuleResult => {
  const { operation, subResource } = ctx.request
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || subResource || !ctx.newObject) return { errors: [], warnings: [] }
  const kind = runKindOf(ctx)
  const stored = operation === 'UPDATE' ? requiredReferenceFindings(ctx.oldObject, kind) : []
  const { fresh } = ratchet(requiredReferenceFindings(ctx.newObject, kind), stored)
  if (fresh.length === 0) return { errors: [], warnings: [] }
  if (kind === 'AgentRun' && isAgentRunTemplate(ctx.newObject)) return { errors: [], warnings: fresh.map(warningFor), warned: fresh }
  return { errors: fresh, warnings: [] }
}
