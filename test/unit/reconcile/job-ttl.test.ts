/** SPEC §3 Job TTL release / design note 002: precedence, clamping, when it applies; healing a hold the webhook did not make. */
import t from 'tap'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { holdJobTtl } from '../../../src/admission/mutators/job-ttl.ts'
import { loadConfig } from '../../../src/config.ts'
import { desiredJobTtl, planJobTtl, planJobTtlHold } from '../../../src/reconcile/job-ttl.ts'
import { agentRun, iso, job, jobRecorded, NS, T0_MS, toolRun } from './fixtures.ts'

const terminal = (extraSpec: Record<string, unknown> = {}, phase = 'Succeeded'): KubeObject =>
  agentRun('r', { spec: extraSpec, status: jobRecorded('r-job', T0_MS, { phase, finishedAt: iso(T0_MS) }) })

t.test('desiredJobTtl: precedence annotation > spec.runtime.config > config, each clamped', async (t) => {
  const scenarios: Array<{ name: string; job: KubeObject; run: KubeObject; config: number | null; want: number | null; source: string; problems?: number }> = [
    { name: 'annotation wins', job: job('r-job', 'r', { heldTtl: '120' }), run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 900 } } }), config: 600, want: 120, source: 'annotation' },
    { name: 'annotation below 30 s is clamped up', job: job('r-job', 'r', { heldTtl: '5' }), run: terminal(), config: 600, want: 30, source: 'annotation' },
    { name: 'annotation above 7 d is clamped down', job: job('r-job', 'r', { heldTtl: String(30 * 86400) }), run: terminal(), config: 600, want: 7 * 86400, source: 'annotation' },
    { name: 'annotation 0 means no TTL', job: job('r-job', 'r', { heldTtl: '0' }), run: terminal(), config: 600, want: null, source: 'annotation' },
    { name: 'annotation negative means no TTL', job: job('r-job', 'r', { heldTtl: '-1' }), run: terminal(), config: 600, want: null, source: 'annotation' },
    { name: 'annotation exactly 30 s', job: job('r-job', 'r', { heldTtl: '30' }), run: terminal(), config: 600, want: 30, source: 'annotation' },
    {
      name: 'bad annotation: reported, spec.runtime.config used',
      job: job('r-job', 'r', { heldTtl: 'soon' }),
      run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 900 } } }),
      config: 600,
      want: 900,
      source: 'runtimeConfig',
      problems: 1,
    },
    { name: 'spec.runtime.config when no annotation', job: job('r-job', 'r'), run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 45 } } }), config: 600, want: 45, source: 'runtimeConfig' },
    { name: 'spec.runtime.config as a string', job: job('r-job', 'r'), run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: '90' } } }), config: 600, want: 90, source: 'runtimeConfig' },
    { name: 'spec.runtime.config clamped', job: job('r-job', 'r'), run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 1 } } }), config: 600, want: 30, source: 'runtimeConfig' },
    { name: 'spec.runtime.config 0: no TTL (does not fall through)', job: job('r-job', 'r'), run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 0 } } }), config: 600, want: null, source: 'runtimeConfig' },
    {
      name: 'bad spec.runtime.config: reported, config used',
      job: job('r-job', 'r'),
      run: terminal({ runtime: { type: 'job', config: { ttlSecondsAfterFinished: 1.5 } } }),
      config: 600,
      want: 600,
      source: 'config',
      problems: 1,
    },
    { name: 'config default', job: job('r-job', 'r'), run: terminal(), config: 600, want: 600, source: 'config' },
    { name: 'config null: no TTL', job: job('r-job', 'r'), run: terminal(), config: null, want: null, source: 'config' },
  ]
  for (const s of scenarios) {
    const decision = desiredJobTtl(s.job, s.run, { jobTtlSeconds: s.config })
    t.same({ ttl: decision.ttlSeconds, source: decision.source, problems: decision.problems.length }, { ttl: s.want, source: s.source, problems: s.problems ?? 0 }, s.name)
  }
})

t.test('planJobTtl: only for terminal runs whose status records the Job', async (t) => {
  const scenarios: Array<{ name: string; run: KubeObject; jobs: KubeObject[]; config?: number | null; want: string[]; events?: string[] }> = [
    { name: 'terminal, recorded, held annotation → annotation value', run: terminal(), jobs: [job('r-job', 'r', { heldTtl: '120' })], want: ['r-job=120'] },
    { name: 'terminal, recorded, no annotation → config', run: terminal(), jobs: [job('r-job', 'r')], want: ['r-job=600'] },
    { name: 'Failed and Cancelled runs release too', run: terminal({}, 'Failed'), jobs: [job('r-job', 'r')], want: ['r-job=600'] },
    { name: 'run still Running: TTL held', run: agentRun('r', { status: jobRecorded('r-job', T0_MS) }), jobs: [job('r-job', 'r', { heldTtl: '120' })], want: [] },
    {
      name: 'terminal but the Job is not recorded in status: held (result not collected)',
      run: agentRun('r', { status: { phase: 'Succeeded', finishedAt: iso(T0_MS) } }),
      jobs: [job('r-job', 'r', { heldTtl: '120' })],
      want: [],
    },
    { name: 'only the recorded Job of several', run: terminal(), jobs: [job('r-job', 'r'), job('r-job-old', 'r')], want: ['r-job=600'] },
    { name: 'already at the desired TTL: no patch', run: terminal(), jobs: [job('r-job', 'r', { heldTtl: '120', ttl: 120 })], want: [] },
    { name: 'a different TTL with a held annotation: corrected', run: terminal(), jobs: [job('r-job', 'r', { heldTtl: '120', ttl: 5 })], want: ['r-job=120'] },
    { name: 'the creator’s own TTL (no webhook hold): left alone', run: terminal(), jobs: [job('r-job', 'r', { ttl: 5 })], want: [] },
    { name: 'no TTL wanted (config null): nothing', run: terminal(), jobs: [job('r-job', 'r')], config: null, want: [] },
    { name: 'Job being deleted: nothing', run: terminal(), jobs: [job('r-job', 'r', { deleting: true })], want: [] },
    {
      name: 'recorded uid differs (a newer Job of the same name): nothing',
      run: agentRun('r', { status: { phase: 'Succeeded', runtimeRef: { type: 'job', name: 'r-job', uid: 'other', jobObservedAt: iso(T0_MS) } } }),
      jobs: [job('r-job', 'r')],
      want: [],
    },
    {
      name: 'workflow steps: every step Job recorded with jobRef',
      run: agentRun('r', {
        status: {
          phase: 'Succeeded',
          workflow: { steps: [{ name: 'a', phase: 'Succeeded', jobRef: { name: 'r-a' }, jobObservedAt: iso(T0_MS) }, { name: 'b', phase: 'Succeeded', jobRef: { name: 'r-b', namespace: NS } }] },
        },
      }),
      jobs: [job('r-a', 'r'), job('r-b', 'r', { heldTtl: '40' })],
      want: ['r-a=600', 'r-b=40'],
    },
    { name: 'ToolRun too', run: toolRun('t', { status: jobRecorded('t-job', T0_MS, { phase: 'Succeeded' }) }), jobs: [job('t-job', 't', { label: 'tool' })], want: ['t-job=600'] },
    {
      name: 'bad annotation is reported as InvalidSpec while patching from the fallback',
      run: terminal(),
      jobs: [job('r-job', 'r', { heldTtl: 'x' })],
      want: ['r-job=600'],
      events: ['InvalidSpec'],
    },
  ]
  for (const s of scenarios) {
    const plan = planJobTtl({ run: s.run, jobs: s.jobs, config: { jobTtlSeconds: s.config === undefined ? 600 : s.config } })
    t.same(
      plan.calls.map((c) => (c.type === 'setJobTtl' ? `${c.name}=${c.ttlSeconds}` : c.type)),
      s.want,
      s.name,
    )
    t.same(plan.effects.map((e) => (e.type === 'event' ? e.reason : e.type)), s.events ?? [], `${s.name}: events`)
    t.equal(plan.status, undefined, `${s.name}: no status write`)
  }
})

t.test('planJobTtlHold: a Job created without the hold, while its run is not terminal, gets it', async (t) => {
  const running = agentRun('r', { status: { phase: 'Running' } })
  const withVersion = (obj: KubeObject): KubeObject => ({ ...obj, metadata: { ...obj.metadata, resourceVersion: '42' } })
  const scenarios: Array<{ name: string; run: KubeObject; jobs: KubeObject[]; want: string[] }> = [
    { name: 'TTL and no hold: healed', run: running, jobs: [withVersion(job('r-job', 'r', { ttl: 300 }))], want: ['r-job=300@42'] },
    { name: 'a Pending run (no phase yet)', run: agentRun('r'), jobs: [job('r-job', 'r', { ttl: 0 })], want: ['r-job=0@'] },
    { name: 'a ToolRun Job label', run: toolRun('r', { status: { phase: 'Running' } }), jobs: [job('r-job', 'r', { ttl: 45, label: 'tool' })], want: ['r-job=45@'] },
    { name: 'already held (the webhook was called)', run: running, jobs: [job('r-job', 'r', { heldTtl: '300' })], want: [] },
    { name: 'held, and a TTL set since: not ours to judge', run: running, jobs: [job('r-job', 'r', { heldTtl: '300', ttl: 60 })], want: [] },
    { name: 'no TTL at all: nothing to hold', run: running, jobs: [job('r-job', 'r')], want: [] },
    { name: 'a Job without a run label is not one the webhook holds', run: running, jobs: [job('r-job', 'r', { ttl: 300, label: 'none' })], want: [] },
    { name: 'a Job being deleted', run: running, jobs: [job('r-job', 'r', { ttl: 300, deleting: true })], want: [] },
    { name: 'a terminal run: left as its creator made it', run: terminal(), jobs: [job('r-job', 'r', { ttl: 300 })], want: [] },
    { name: 'a cancelled run: its Jobs are going away', run: agentRun('r', { cancel: true, status: { phase: 'Running' } }), jobs: [job('r-job', 'r', { ttl: 300 })], want: [] },
  ]
  for (const s of scenarios) {
    const plan = planJobTtlHold({ runKind: s.run.kind === 'ToolRun' ? 'ToolRun' : 'AgentRun', run: s.run, jobs: s.jobs })
    t.same(
      plan.calls.map((c) => (c.type === 'holdJobTtl' ? `${c.name}=${c.heldTtl}@${c.resourceVersion ?? ''}` : c.type)),
      s.want,
      s.name,
    )
    t.same(plan.effects, [], `${s.name}: no effects (the executor counts a heal once it succeeded)`)
  }
})

t.test('planJobTtlHold applies exactly the webhook mutator’s edit', async (t) => {
  const created = job('r-job', 'r', { ttl: 300 })
  const draft = structuredClone(created)
  holdJobTtl(
    { request: { uid: 'u', kind: { group: 'batch', version: 'v1', kind: 'Job' }, resource: { group: 'batch', version: 'v1', resource: 'jobs' }, operation: 'CREATE', userInfo: { username: 'u' } }, oldObject: undefined, newObject: created, config: loadConfig({}), now: new Date(T0_MS) },
    draft,
  )
  const [call] = planJobTtlHold({ runKind: 'AgentRun', run: agentRun('r', { status: { phase: 'Running' } }), jobs: [created] }).calls
  t.equal(call?.type === 'holdJobTtl' ? call.heldTtl : undefined, draft.metadata?.annotations?.['runguard.proompteng.ai/ttl-seconds-after-finished'], 'the same held value as the webhook')
  t.equal(draft.spec?.ttlSecondsAfterFinished, undefined, 'which takes the TTL off, as the heal’s patch does')
})
