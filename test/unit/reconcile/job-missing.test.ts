/** SPEC §3 Job missing / design note 002: grace period, first observation, once per Job. */
import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { isJobReported, planJobMissing, type MissingJob } from '../../../src/reconcile/job-missing.ts'
import { recordedJobs } from '../../../src/reconcile/refs.ts'
import { agentRun, iso, jobRecorded, T0_MS } from './fixtures.ts'

const GRACE = 30

function missingFor(run: KubeObject, sinceMs: number): MissingJob[] {
  return recordedJobs(run).map((job) => ({ job, missingSinceMs: sinceMs }))
}

const stepsRun = (steps: unknown[], extra: Record<string, unknown> = {}): KubeObject => agentRun('r', { status: { phase: 'Running', workflow: { steps }, ...extra } })

t.test('planJobMissing', async (t) => {
  const running = agentRun('r', { status: jobRecorded('r-job', T0_MS - 60_000) })
  const scenarios: Array<{ name: string; run: KubeObject; sinceMs: number; want: { reasons: string[]; requeueAfterMs?: number } }> = [
    { name: 'gone longer than the grace period: reported', run: running, sinceMs: T0_MS - GRACE * 1000 - 1, want: { reasons: ['JobMissing'] } },
    { name: 'gone exactly the grace period: reported', run: running, sinceMs: T0_MS - GRACE * 1000, want: { reasons: ['JobMissing'] } },
    { name: 'gone 1 ms less than the grace period: come back then', run: running, sinceMs: T0_MS - GRACE * 1000 + 1, want: { reasons: [], requeueAfterMs: 1 } },
    { name: 'just gone: come back after the grace period', run: running, sinceMs: T0_MS, want: { reasons: [], requeueAfterMs: GRACE * 1000 } },
    {
      name: 'no alarm before the Job was first observed (no jobObservedAt)',
      run: agentRun('r', { status: jobRecorded('r-job', undefined) }),
      sinceMs: T0_MS - 3_600_000,
      want: { reasons: [] },
    },
    { name: 'terminal run: its result was collected, no alarm', run: agentRun('r', { status: jobRecorded('r-job', T0_MS, { phase: 'Succeeded' }) }), sinceMs: T0_MS - 3_600_000, want: { reasons: [] } },
    { name: 'cancelling run: we delete its Jobs ourselves', run: agentRun('r', { cancel: true, status: jobRecorded('r-job', T0_MS) }), sinceMs: T0_MS - 3_600_000, want: { reasons: [] } },
    {
      name: 'already reported (condition names the Job): not again',
      run: agentRun('r', {
        status: jobRecorded('r-job', T0_MS, {
          conditions: [{ type: 'JobMissing', status: 'True', reason: 'JobMissing', message: 'Job "agents/r-job" is gone', lastTransitionTime: iso(T0_MS) }],
        }),
      }),
      sinceMs: T0_MS - 3_600_000,
      want: { reasons: [] },
    },
    {
      name: 'workflow step Job: WorkflowJobMissing',
      run: stepsRun([{ name: 'build', phase: 'Running', jobRef: { name: 'r-build' }, jobObservedAt: iso(T0_MS - 60_000) }]),
      sinceMs: T0_MS - 3_600_000,
      want: { reasons: ['WorkflowJobMissing'] },
    },
    {
      name: 'a finished workflow step may lose its Job',
      run: stepsRun([{ name: 'build', phase: 'Succeeded', jobRef: { name: 'r-build' }, jobObservedAt: iso(T0_MS - 60_000) }]),
      sinceMs: T0_MS - 3_600_000,
      want: { reasons: [] },
    },
    {
      name: 'a step without jobObservedAt: no alarm',
      run: stepsRun([{ name: 'build', phase: 'Running', jobRef: { name: 'r-build' } }]),
      sinceMs: T0_MS - 3_600_000,
      want: { reasons: [] },
    },
  ]
  for (const s of scenarios) {
    const plan = planJobMissing({ run: s.run, nowMs: T0_MS, config: { jobMissingGraceSeconds: GRACE }, missing: missingFor(s.run, s.sinceMs) })
    const reasons = plan.effects.filter((e) => e.type === 'jobMissing').map((e) => (e.type === 'jobMissing' ? e.reason : ''))
    t.same({ reasons, ...(plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs }) }, s.want, s.name)
    if (reasons.length > 0) {
      const condition = plan.status?.conditions?.[0]
      t.equal(condition?.type, 'JobMissing', `${s.name}: condition type`)
      t.equal(condition?.status, 'True')
      t.equal(condition?.reason, reasons[0], `${s.name}: condition reason`)
      t.ok(plan.effects.some((e) => e.type === 'event' && e.eventType === 'Warning' && e.reason === reasons[0]), `${s.name}: Warning Event`)
    } else {
      t.equal(plan.status, undefined, `${s.name}: no status write`)
    }
  }
})

t.test('a second missing Job is added to the report; the first is not reported again', async (t) => {
  const first = stepsRun([
    { name: 'a', phase: 'Running', jobRef: { name: 'r-a' }, jobObservedAt: iso(T0_MS - 60_000) },
    { name: 'b', phase: 'Running', jobRef: { name: 'r-b' }, jobObservedAt: iso(T0_MS - 60_000) },
  ])
  const records = recordedJobs(first)
  const plan1 = planJobMissing({ run: first, nowMs: T0_MS, config: { jobMissingGraceSeconds: 0 }, missing: [{ job: records[0]!, missingSinceMs: T0_MS }] })
  const message1 = plan1.status?.conditions?.[0]?.message ?? ''
  t.match(message1, /Job "agents\/r-a" of workflow step a/)
  const after = { ...first, status: { ...first.status, conditions: [{ type: 'JobMissing', status: 'True' as const, reason: 'WorkflowJobMissing', message: message1, lastTransitionTime: iso(T0_MS) }] } }
  t.ok(isJobReported(after, records[0]!))
  t.notOk(isJobReported(after, records[1]!))
  const plan2 = planJobMissing({ run: after, nowMs: T0_MS, config: { jobMissingGraceSeconds: 0 }, missing: records.map((job) => ({ job, missingSinceMs: T0_MS })) })
  t.equal(plan2.effects.filter((e) => e.type === 'jobMissing').length, 1, 'only the new one is counted')
  const message2 = plan2.status?.conditions?.[0]?.message ?? ''
  t.ok(message2.startsWith(message1), 'the earlier report is kept')
  t.match(message2, /"agents\/r-b"/)
})
