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

/**
 * The finding for a reference upstream does not see at `path` under spec: `Required value` when
 * nothing (or a blank string) is there, `Invalid value` when something that is not a string is —
 * saying "required" about a field the user did set (`name: 42`) would send them looking in vain.
 */
function missing(spec: JsonObject, path: readonly string[], reason: string, detail: string): FieldError {
  const field = `spec.${path.join('.')}`
  const value = readNested(spec, path)
  if (value === undefined || value === null || typeof value === 'string') return fieldError.required(field, reason, detail)
  return fieldError.invalid(field, value, reason, `must be a string; ${detail}`)
}

/** Steps upstream's parseWorkflowSteps keeps: those with a non-blank name. */
function hasNamedStep(spec: JsonObject): boolean {
  const steps = readNested(spec, ['workflow', 'steps'])
  return Array.isArray(steps) && steps.some((step) => upstreamString(readNested(step, ['name'])) !== undefined)
}

function agentRunFindings(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  if (!present(spec, ['agentRef', 'name'])) errors.push(missing(spec, ['agentRef', 'name'], 'MissingAgent', 'the agent to run is required'))
  const type = upstreamString(readNested(spec, ['runtime', 'type']))
  if (type === undefined) errors.push(missing(spec, ['runtime', 'type'], 'MissingRuntime', 'one of job, workflow, temporal, custom'))
  if (upstreamRecord(readNested(spec, ['implementation', 'inline'])) === undefined && !present(spec, ['implementationSpecRef', 'name'])) {
    errors.push(missing(spec, ['implementationSpecRef', 'name'], 'MissingImplementation', 'implementationSpecRef.name or implementation.inline is required'))
  }
  if (type === 'custom' && !present(spec, ['runtime', 'config', 'endpoint'])) {
    errors.push(missing(spec, ['runtime', 'config', 'endpoint'], 'MissingEndpoint', 'required for the custom runtime'))
  }
  if (type === 'temporal') {
    for (const key of ['workflowType', 'taskQueue']) {
      if (!present(spec, ['runtime', 'config', key])) errors.push(missing(spec, ['runtime', 'config', key], 'MissingTemporalConfig', 'required for the temporal runtime'))
    }
  }
  if (type === 'workflow' && !hasNamedStep(spec)) {
    const steps = readNested(spec, ['workflow', 'steps'])
    const detail = 'the workflow runtime needs at least one step with a name'
    errors.push(
      steps === undefined || steps === null || Array.isArray(steps)
        ? fieldError.required('spec.workflow.steps', 'MissingWorkflowSteps', detail)
        : fieldError.invalid('spec.workflow.steps', steps, 'MissingWorkflowSteps', `must be a list; ${detail}`),
    )
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
      return present(spec, ['orchestrationRef', 'name']) ? [] : [missing(spec, ['orchestrationRef', 'name'], 'MissingOrchestrationRef', 'the orchestration to run is required')]
    case 'ToolRun':
      return present(spec, ['toolRef', 'name']) ? [] : [missing(spec, ['toolRef', 'name'], 'MissingTool', 'the tool to run is required')]
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
