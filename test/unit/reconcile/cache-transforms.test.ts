/**
 * The cache transforms (issue 13): what they keep, what they drop, and that every planner and
 * trigger reaches the same decision from the transformed object as from the full one.
 */
import t from 'tap'
import { loadConfig } from '../../../src/config.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { runKindByName, type RunKindName } from '../../../src/kube/run-kinds.ts'
import { LAST_APPLIED_ANNOTATION, transformJob, transformRun, transformWorkflow } from '../../../src/reconcile/cache-transforms.ts'
import type { ChildRun } from '../../../src/reconcile/cancel.ts'
import { planRun } from '../../../src/reconcile/plan.ts'
import { retentionDeadline } from '../../../src/reconcile/retention.ts'
import { ownerRunsOf, parentRunOf, terminalTransition } from '../../../src/reconcile/triggers.ts'
import { agentRun, childOf, iso, job, orchestrationRun, T0_MS, toolRun, workflow } from './fixtures.ts'

/** What the API server adds and the reconciler never reads: managedFields, last-applied, a big spec. */
function fatten(obj: KubeObject): KubeObject {
  const fat = structuredClone(obj)
  fat.metadata = {
    ...fat.metadata,
    managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:parameters': {} } } }],
    annotations: { ...(fat.metadata?.annotations ?? {}), [LAST_APPLIED_ANNOTATION]: JSON.stringify(obj) },
  }
  if (fat.kind === 'Job') {
    fat.spec = { ...fat.spec, backoffLimit: 0, template: { spec: { containers: [{ name: 'main', image: 'busybox', env: [{ name: 'X', value: 'y'.repeat(2000) }] }] } } }
  } else if (fat.kind === 'Workflow') {
    fat.spec = { ...fat.spec, templates: [{ name: 'main', container: { image: 'busybox' } }] }
    fat.status = { ...fat.status, nodes: { n1: { id: 'n1', phase: 'Running', message: 'm'.repeat(2000) } } }
  } else {
    fat.spec = { ...fat.spec, parameters: { a: 'x'.repeat(2000), b: 'y' }, goal: 'g'.repeat(2000), systemPrompt: 'p'.repeat(2000) }
  }
  return fat
}

const config = loadConfig({})

t.test('a run keeps metadata, the spec fields that are read, and all of its status', async (t) => {
  const full = fatten(
    agentRun('r', {
      labels: { team: 'a' },
      annotations: { 'agents.proompteng.ai/retain': 'true' },
      spec: { ttlSecondsAfterFinished: 60, desiredState: 'Cancelled', runtime: { type: 'job', config: { ttlSecondsAfterFinished: 30, image: 'x' } } },
      cancel: true,
      status: { phase: 'Running', startedAt: iso(T0_MS), conditions: [], runtimeRef: { type: 'job', name: 'r-job' } },
    }),
  )
  const kept = transformRun(full)
  t.same(kept, {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: {
      name: 'r',
      namespace: full.metadata?.namespace,
      uid: 'uid-r',
      resourceVersion: '100',
      generation: 2,
      labels: { team: 'a' },
      annotations: { 'agents.proompteng.ai/retain': 'true' },
    },
    spec: { cancel: true, desiredState: 'Cancelled', ttlSecondsAfterFinished: 60, runtime: { type: 'job', config: { ttlSecondsAfterFinished: 30 } } },
    status: full.status,
  })
  t.ok(JSON.stringify(kept).length * 4 < JSON.stringify(full).length, `much smaller: ${JSON.stringify(kept).length} of ${JSON.stringify(full).length} bytes`)
  t.same(full.metadata?.managedFields !== undefined, true, 'the input is not modified')
  t.same(transformRun({ metadata: { name: 'bare' } }), { metadata: { name: 'bare' } }, 'nothing invented for absent fields')
})

t.test('a Job keeps its TTL, suspension and status, not its pod template', async (t) => {
  const full = fatten({ ...job('j', 'r', { ttl: 600, heldTtl: '300', finished: 'Complete' }), spec: { ttlSecondsAfterFinished: 600, suspend: true } })
  const kept = transformJob(full)
  t.same(kept.spec, { ttlSecondsAfterFinished: 600, suspend: true })
  t.same(kept.status, full.status)
  t.same(kept.metadata?.annotations, { 'runguard.proompteng.ai/ttl-seconds-after-finished': '300' }, 'last-applied gone, the held TTL kept')
  t.notOk('managedFields' in (kept.metadata ?? {}))
  t.same(kept.metadata?.labels, full.metadata?.labels)
})

t.test('a Workflow keeps spec.shutdown and its phase, not its templates or nodes', async (t) => {
  const kept = transformWorkflow(fatten(workflow('w', 'r', { phase: 'Running', shutdown: 'Terminate' })))
  t.same(kept.spec, { shutdown: 'Terminate' })
  t.same(kept.status, { phase: 'Running' })
})

/** Plans, triggers and retention verdicts, as JSON, for comparison. */
function decisions(kind: RunKindName, run: KubeObject, jobs: KubeObject[], workflows: KubeObject[], children: ChildRun[]): string {
  const runKind = runKindByName(kind)!
  const plan = planRun({ kind: runKind, run, nowMs: T0_MS + 60_000, config, jobs, workflows, children, missingJobs: [] })
  return JSON.stringify({
    plan,
    retention: retentionDeadline(run, config),
    parent: parentRunOf(run),
    owners: jobs.map((j) => ownerRunsOf(j)),
    outcome: terminalTransition(kind, { ...run, status: { phase: 'Running' } }, run),
  })
}

t.test('every planner and trigger decides the same from the transformed objects', async (t) => {
  const finished = iso(T0_MS)
  const scenarios: Array<{ name: string; kind: RunKindName; run: KubeObject; jobs?: KubeObject[]; workflows?: KubeObject[]; children?: ChildRun[] }> = [
    { name: 'cancel with running Jobs', kind: 'AgentRun', run: agentRun('a', { cancel: true, status: { phase: 'Running' } }), jobs: [job('a-job', 'a'), job('a-job2', 'a', { finished: 'Complete' })] },
    { name: 'cancel with a Workflow', kind: 'AgentRun', run: agentRun('a', { cancel: true, status: { phase: 'Running' } }), workflows: [workflow('w', 'a', { phase: 'Running' })] },
    {
      name: 'TTL release of a terminal run',
      kind: 'AgentRun',
      run: agentRun('a', { spec: { runtime: { type: 'job', config: { ttlSecondsAfterFinished: 120 } } }, status: { phase: 'Succeeded', finishedAt: finished, runtimeRef: { type: 'job', name: 'a-job', jobObservedAt: finished } } }),
      jobs: [job('a-job', 'a', { heldTtl: '45', finished: 'Complete' }), job('a-job2', 'a', { finished: 'Complete' })],
    },
    { name: 'retention by spec TTL', kind: 'AgentRun', run: agentRun('a', { spec: { ttlSecondsAfterFinished: 30 }, status: { phase: 'Failed', finishedAt: finished } }) },
    { name: 'retained run', kind: 'AgentRun', run: agentRun('a', { annotations: { 'agents.proompteng.ai/retain': 'yes' }, status: { phase: 'Succeeded', finishedAt: finished } }) },
    { name: 'cancel after terminal', kind: 'ToolRun', run: toolRun('t', { cancel: true, status: { phase: 'Succeeded' } }) },
    {
      name: 'orchestration cancel with children',
      kind: 'OrchestrationRun',
      run: orchestrationRun('o', { spec: { desiredState: 'Cancelled' }, status: { phase: 'Running' } }),
      children: [
        { kind: 'AgentRun', obj: agentRun('c1', childOf('o', { spec: { desiredState: 'Running' }, status: { phase: 'Running' } })) },
        { kind: 'ToolRun', obj: toolRun('c2', childOf('o', { status: { phase: 'Succeeded' } })) },
      ],
    },
    { name: 'being deleted', kind: 'AgentRun', run: agentRun('a', { cancel: true, deleting: true, status: { phase: 'Running' } }), jobs: [job('a-job', 'a')] },
  ]
  for (const s of scenarios) {
    const jobs = (s.jobs ?? []).map(fatten)
    const workflows = (s.workflows ?? []).map(fatten)
    const children = (s.children ?? []).map((c) => ({ kind: c.kind, obj: fatten(c.obj) }))
    const run = fatten(s.run)
    const full = decisions(s.kind, run, jobs, workflows, children)
    const slim = decisions(
      s.kind,
      transformRun(run),
      jobs.map(transformJob),
      workflows.map(transformWorkflow),
      children.map((c) => ({ kind: c.kind, obj: transformRun(c.obj) })),
    )
    t.equal(slim, full, s.name)
  }
})
