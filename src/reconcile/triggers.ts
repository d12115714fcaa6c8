/**
 * Which reconciles a watch event calls for (the informer handlers' half of the wiring), and the
 * run-outcome metric's "count each run once, on the transition" rule. Pure.
 *
 *   Job (label agent-run / tool-run, or ownerReference)  → its AgentRun / ToolRun
 *   Workflow (same labels)                               → its AgentRun / ToolRun
 *   any run labelled orchestration-run=<p>               → OrchestrationRun <p> in its namespace
 */
import type { KubeObject } from '../kube/objects.ts'
import { LABEL_AGENT_RUN, LABEL_ORCHESTRATION_RUN, LABEL_TOOL_RUN, isTerminalPhase, type RunKindName } from '../kube/run-kinds.ts'
import type { ReconcileRequest } from '../controller/reconcile.ts'
import { phaseOf, runtimeLabel } from './refs.ts'

/** The runs a Job or Workflow belongs to: by label, else by ownerReference. */
export function ownerRunsOf(obj: KubeObject): ReconcileRequest[] {
  const namespace = obj.metadata?.namespace ?? ''
  const labels = obj.metadata?.labels ?? {}
  const out: ReconcileRequest[] = []
  const add = (kind: RunKindName, name: string | undefined): void => {
    if (!name) return
    if (out.some((r) => r.kind === kind && r.name === name)) return
    out.push({ kind, namespace, name })
  }
  add('AgentRun', labels[LABEL_AGENT_RUN])
  add('ToolRun', labels[LABEL_TOOL_RUN])
  for (const ref of obj.metadata?.ownerReferences ?? []) {
    if (ref.kind === 'AgentRun' && ref.apiVersion.startsWith('agents.proompteng.ai/')) add('AgentRun', ref.name)
    if (ref.kind === 'ToolRun' && ref.apiVersion.startsWith('tools.proompteng.ai/')) add('ToolRun', ref.name)
  }
  return out
}

/** The OrchestrationRun a child run belongs to. */
export function parentRunOf(run: KubeObject): ReconcileRequest | undefined {
  const parent = run.metadata?.labels?.[LABEL_ORCHESTRATION_RUN]
  if (!parent) return undefined
  return { kind: 'OrchestrationRun', namespace: run.metadata?.namespace ?? '', name: parent }
}

export interface OutcomeLabels {
  kind: RunKindName
  outcome: string
  runtime: string
}

/**
 * agents_run_outcomes_total's labels when an update moves a run from a non-terminal phase into a
 * terminal one — the transition happens once per run, so the run is counted once. A run first
 * seen already terminal (`oldObj` undefined: initial list, a new leader's replay) is not counted,
 * nor is a resync (old and new both terminal).
 */
export function terminalTransition(kind: RunKindName, oldObj: KubeObject | undefined, newObj: KubeObject): OutcomeLabels | undefined {
  const phase = phaseOf(newObj)
  if (!isTerminalPhase(phase)) return undefined
  if (oldObj === undefined || isTerminalPhase(phaseOf(oldObj))) return undefined
  return { kind, outcome: phase!, runtime: runtimeLabel(newObj) }
}
