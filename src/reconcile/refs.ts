/**
 * Reading a run and its children: what the planners need to know about an object, and nothing
 * else. Everything here is pure and tolerant of untrusted shapes (status fields such as
 * `runtimeRef` are free-form upstream).
 *
 * What a run's status records about its runtime (upstream's shapes):
 *   status.runtimeRef              { type: 'job', name, namespace?, uid?, jobObservedAt? }
 *                                  { type: 'workflow', name, namespace? }   (Argo Workflow)
 *   status.workflow.steps[]        { name, phase, jobRef: { name, namespace?, uid? }, jobObservedAt? }
 */
import { isJsonObject, type Condition, type JsonObject, type KubeObject } from '../kube/objects.ts'
import { cancelRequested, isTerminalPhase, type RunKind } from '../kube/run-kinds.ts'
import { parseRfc3339 } from '../status/rfc3339.ts'

/** SPEC §1: the run's spec asks for cancellation (the one check, run-kinds.ts cancelRequested). */
export function isCancelRequested(run: KubeObject): boolean {
  return cancelRequested(run.spec)
}

export function phaseOf(obj: KubeObject | undefined): string | undefined {
  const phase = isJsonObject(obj?.status) ? obj.status.phase : undefined
  return typeof phase === 'string' ? phase : undefined
}

export function isTerminalRun(run: KubeObject | undefined): boolean {
  return isTerminalPhase(phaseOf(run))
}

export function conditionOf(run: KubeObject, type: string): Condition | undefined {
  const conditions: unknown = isJsonObject(run.status) ? run.status.conditions : undefined
  if (!Array.isArray(conditions)) return undefined
  return (conditions as unknown[]).find((c): c is Condition => isJsonObject(c) && c.type === type)
}

/** Milliseconds since the epoch of an RFC 3339 string, or undefined. */
export function timeMs(value: unknown): number | undefined {
  const instant = parseRfc3339(value)
  return instant ? instant.seconds * 1000 + Math.floor(instant.nanos / 1e6) : undefined
}

export function nameOf(obj: KubeObject): string {
  return obj.metadata?.name ?? ''
}

export function namespaceOf(obj: KubeObject): string {
  return obj.metadata?.namespace ?? ''
}

/** `namespace/name`, the way Jobs and runs are named in messages. */
export function qualified(namespace: string, name: string): string {
  return namespace ? `${namespace}/${name}` : name
}

// --- recorded runtime objects ----------------------------------------------------------------

export interface RecordedJob {
  namespace: string
  name: string
  uid?: string
  /** When the run's controller first saw the Job (jobObservedAt); undefined = never confirmed. */
  observedAtMs?: number
  /** `runtimeRef`, or the workflow step that recorded it. */
  source: 'runtimeRef' | 'step'
  step?: string
  /** The step is finished, so its result is collected and a vanished Job is expected. */
  stepFinished: boolean
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function refKind(ref: JsonObject): string | undefined {
  return (str(ref.type) ?? str(ref.kind))?.toLowerCase()
}

/** Every Job the run's status records: status.runtimeRef (type job) and status.workflow.steps[].jobRef. */
export function recordedJobs(run: KubeObject): RecordedJob[] {
  const status = isJsonObject(run.status) ? run.status : {}
  const runNamespace = namespaceOf(run)
  const out: RecordedJob[] = []
  const runtimeRef = status.runtimeRef
  if (isJsonObject(runtimeRef) && refKind(runtimeRef) === 'job') {
    const name = str(runtimeRef.name) ?? str(runtimeRef.jobName)
    if (name) {
      const observedAtMs = timeMs(runtimeRef.jobObservedAt) ?? timeMs(status.jobObservedAt)
      const uid = str(runtimeRef.uid)
      out.push({
        namespace: str(runtimeRef.namespace) ?? runNamespace,
        name,
        ...(uid ? { uid } : {}),
        ...(observedAtMs === undefined ? {} : { observedAtMs }),
        source: 'runtimeRef',
        stepFinished: false,
      })
    }
  }
  const workflow = status.workflow
  const steps: unknown = isJsonObject(workflow) ? workflow.steps : undefined
  if (Array.isArray(steps)) {
    for (const step of steps as unknown[]) {
      if (!isJsonObject(step) || !isJsonObject(step.jobRef)) continue
      const name = str(step.jobRef.name)
      if (!name) continue
      const observedAtMs = timeMs(step.jobObservedAt)
      const uid = str(step.jobRef.uid)
      const stepName = str(step.name)
      out.push({
        namespace: str(step.jobRef.namespace) ?? runNamespace,
        name,
        ...(uid ? { uid } : {}),
        ...(observedAtMs === undefined ? {} : { observedAtMs }),
        source: 'step',
        ...(stepName ? { step: stepName } : {}),
        stepFinished: isTerminalPhase(step.phase),
      })
    }
  }
  return out
}

/** The Argo Workflow named in status.runtimeRef (type/kind workflow), if any. */
export function recordedWorkflow(run: KubeObject): { namespace: string; name: string } | undefined {
  const status = isJsonObject(run.status) ? run.status : {}
  const runtimeRef = status.runtimeRef
  if (!isJsonObject(runtimeRef) || refKind(runtimeRef) !== 'workflow') return undefined
  const name = str(runtimeRef.name) ?? str(runtimeRef.workflowName)
  if (!name) return undefined
  return { namespace: str(runtimeRef.namespace) ?? namespaceOf(run), name }
}

// --- children ----------------------------------------------------------------------------------

function hasTrueCondition(obj: KubeObject, types: readonly string[]): boolean {
  const conditions: unknown = isJsonObject(obj.status) ? obj.status.conditions : undefined
  if (!Array.isArray(conditions)) return false
  return (conditions as unknown[]).some((c) => isJsonObject(c) && typeof c.type === 'string' && types.includes(c.type) && c.status === 'True')
}

/** A Job is finished when the Job controller marked it Complete or Failed. */
export function isJobFinished(job: KubeObject): boolean {
  return hasTrueCondition(job, ['Complete', 'Failed'])
}

const WORKFLOW_FINISHED = ['Succeeded', 'Failed', 'Error']

export function isWorkflowFinished(workflow: KubeObject): boolean {
  return WORKFLOW_FINISHED.includes(phaseOf(workflow) ?? '')
}

export function isWorkflowTerminating(workflow: KubeObject): boolean {
  return isJsonObject(workflow.spec) && workflow.spec.shutdown === 'Terminate'
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return typeof obj.metadata?.deletionTimestamp === 'string'
}

// --- labels for metrics ---------------------------------------------------------------------

const RUNTIME_TYPES = ['workflow', 'job', 'temporal', 'custom']

/**
 * The `runtime` label of agents_run_outcomes_total: spec.runtime.type when it is one of the
 * known values (bounded cardinality), `other` for anything else, `none` when absent
 * (OrchestrationRuns have no runtime).
 */
export function runtimeLabel(run: KubeObject): string {
  const runtime = isJsonObject(run.spec) ? run.spec.runtime : undefined
  const type = isJsonObject(runtime) ? runtime.type : undefined
  if (typeof type !== 'string' || type === '') return 'none'
  return RUNTIME_TYPES.includes(type) ? type : 'other'
}

/** `<group>/<version>` of a run kind. */
export function apiVersionOf(kind: RunKind): string {
  return `${kind.group}/${kind.version}`
}
