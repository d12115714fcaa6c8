/**
 * The three proompteng run kinds runguard guards, and the facts about them every part of the
 * product shares (SPEC §1). Nothing else in the code base spells a group or plural by hand.
 */
import { isJsonObject } from './objects.ts'
import type { ResourceRef } from './resources.ts'

export type RunKindName = 'AgentRun' | 'OrchestrationRun' | 'ToolRun'

/** A run kind is also the API resource its objects are read and written through. */
export interface RunKind extends ResourceRef {
  readonly kind: RunKindName
  readonly version: 'v1alpha1'
  /** Label that marks the Jobs (or, for OrchestrationRun, child runs) created for a run. */
  readonly childLabel: string
}

export const LABEL_AGENT_RUN = 'agents.proompteng.ai/agent-run'
export const LABEL_TOOL_RUN = 'agents.proompteng.ai/tool-run'
export const LABEL_ORCHESTRATION_RUN = 'agents.proompteng.ai/orchestration-run'
export const ANNOTATION_RETAIN = 'agents.proompteng.ai/retain'
export const ANNOTATION_HELD_JOB_TTL = 'runguard.proompteng.ai/ttl-seconds-after-finished'

export const RUN_KINDS: readonly RunKind[] = [
  { kind: 'AgentRun', group: 'agents.proompteng.ai', version: 'v1alpha1', plural: 'agentruns', childLabel: LABEL_AGENT_RUN },
  {
    kind: 'OrchestrationRun',
    group: 'orchestration.proompteng.ai',
    version: 'v1alpha1',
    plural: 'orchestrationruns',
    childLabel: LABEL_ORCHESTRATION_RUN,
  },
  { kind: 'ToolRun', group: 'tools.proompteng.ai', version: 'v1alpha1', plural: 'toolruns', childLabel: LABEL_TOOL_RUN },
]

/** Labels that mark a Job as belonging to a run (the Job-TTL hold and the Job informer select on these). */
export const JOB_RUN_LABELS = [LABEL_AGENT_RUN, LABEL_TOOL_RUN] as const

export function runKindByResource(group: string, plural: string): RunKind | undefined {
  return RUN_KINDS.find((k) => k.group === group && k.plural === plural)
}

export function runKindByName(kind: string): RunKind | undefined {
  return RUN_KINDS.find((k) => k.kind === kind)
}

export const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled'] as const
export type Phase = (typeof PHASES)[number]
export const TERMINAL_PHASES: readonly Phase[] = ['Succeeded', 'Failed', 'Cancelled']

/**
 * Non-terminal phases upstream writes for one kind only: `Template` on AgentRun templates
 * (agent-run-template.ts) and `Ready` on ToolRuns (supporting-primitives-controller.ts).
 */
const KIND_PHASES: Readonly<Record<RunKindName, readonly string[]>> = {
  AgentRun: ['Template'],
  OrchestrationRun: [],
  ToolRun: ['Ready'],
}

/** Every phase a run of `kind` may be in: the five common ones plus the kind's own. */
export function phasesOf(kind: string): readonly string[] {
  const own = (KIND_PHASES as Record<string, readonly string[] | undefined>)[kind] ?? []
  return own.length === 0 ? PHASES : [...PHASES, ...own]
}

export function isTerminalPhase(value: unknown): boolean {
  return typeof value === 'string' && (TERMINAL_PHASES as readonly string[]).includes(value)
}

/**
 * SPEC §1: a spec asks for cancellation through either spelling, `cancel: true` or
 * `desiredState: Cancelled` (the spec mutator keeps the two in step). The one cancel check, for
 * the admission rules and the reconciler alike.
 */
export function cancelRequested(spec: unknown): boolean {
  return isJsonObject(spec) && (spec.cancel === true || spec.desiredState === 'Cancelled')
}
