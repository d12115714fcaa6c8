/**
 * How upstream's Agents controllers read a run, so that the rules moved to admission (SPEC §2
 * rules 5, 5a, 5b) judge an object exactly as upstream will when it reconciles it. Reference:
 * proompteng/lab `services/agents/src/server/primitives.ts` (asString, asRecord, readNested),
 * `agents-controller/env-config.ts` (parseStringList) and `agents-controller/agent-run-template.ts`
 * (isAgentRunTemplate). Our own code, written to the same semantics.
 */
import { isJsonObject, type JsonObject, type KubeObject } from '../../kube/objects.ts'
import { runKindByResource, type RunKindName } from '../../kube/run-kinds.ts'
import type { RuleContext } from '../types.ts'

/** A string upstream takes as present: trimmed, non-empty; anything else is absent. */
export function upstreamString(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  return trimmed === '' ? undefined : trimmed
}

/** An object (not an array, not null) or absent. */
export function upstreamRecord(value: unknown): JsonObject | undefined {
  return isJsonObject(value) ? value : undefined
}

/** `value[path[0]][path[1]]…`, undefined as soon as a step is not an object. */
export function readNested(value: unknown, path: readonly string[]): unknown {
  let cursor: unknown = value
  for (const key of path) {
    if (!isJsonObject(cursor)) return undefined
    cursor = cursor[key]
  }
  return cursor
}

/** A list of names as upstream reads `spec.secrets`: the string items, trimmed, empty ones dropped. */
export function upstreamStringList(value: unknown): string[] {
  if (!Array.isArray(value)) return []
  return value
    .filter((item): item is string => typeof item === 'string')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** Annotation that makes an AgentRun a reusable template upstream never submits. */
export const ANNOTATION_AGENTRUN_TEMPLATE = 'agents.proompteng.ai/template'

/** Upstream: the annotation's value, trimmed, is exactly `true`. */
export function isAgentRunTemplate(obj: KubeObject | undefined): boolean {
  return upstreamString(readNested(obj?.metadata, ['annotations', ANNOTATION_AGENTRUN_TEMPLATE])) === 'true'
}

/** The run kind of a request: from the resource the API server names, else from the object. */
export function runKindOf(ctx: RuleContext): RunKindName | undefined {
  const byResource = runKindByResource(ctx.request.resource.group, ctx.request.resource.resource)
  if (byResource) return byResource.kind
  const kind = ctx.newObject?.kind ?? ctx.oldObject?.kind
  return kind === 'AgentRun' || kind === 'OrchestrationRun' || kind === 'ToolRun' ? kind : undefined
}

/**
 * True when upstream itself validates `obj` as a run it will submit: an AgentRun that is not a
 * template. Upstream's reconcile-time spec checks (agent-run-reconciler.ts) run for those only;
 * templates are handed to reconcileAgentRunTemplate before any check.
 */
export function upstreamValidatesAsAgentRun(ctx: RuleContext, obj: KubeObject | undefined): boolean {
  return runKindOf(ctx) === 'AgentRun' && !isAgentRunTemplate(obj)
}
