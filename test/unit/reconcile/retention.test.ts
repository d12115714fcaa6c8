/**
 * SPEC §3 retention, upstream's semantics, case by case: which value applies (spec > 0, spec 0 →
 * zero-TTL maximum, absent/invalid → default, resolved ≤ 0 → kept), templates, the retain
 * annotation, the time age counts from, the per-namespace cap (≤ 0 = off), no polling.
 */
import t from 'tap'
import type { KubeObject, RunStatus } from '../../../src/kube/objects.ts'
import { planRetentionPass, RETAIN_VALUES, RETENTION_BACKLOG_DELAY_MS, retentionDeadline, type RetentionConfig } from '../../../src/reconcile/retention.ts'
import { agentRun, iso, T0_MS } from './fixtures.ts'

const HOUR = 3600
const config: RetentionConfig = { agentRunRetentionSeconds: HOUR, retentionZeroTtlMaxSeconds: 0, retentionMaxDeletesPerNamespace: 2 }

interface Finished {
  ttl?: unknown
  retain?: string
  template?: string
  phase?: string
  /** Which status/metadata times the run carries (all at finishedMs). Default: finishedAt. */
  times?: Array<'finishedAt' | 'updatedAt' | 'creationTimestamp'>
  deleting?: boolean
}

function finished(name: string, finishedMs: number, options: Finished = {}): KubeObject {
  const times = options.times ?? ['finishedAt']
  const annotations: Record<string, string> = {}
  if (options.retain !== undefined) annotations['agents.proompteng.ai/retain'] = options.retain
  if (options.template !== undefined) annotations['agents.proompteng.ai/template'] = options.template
  const status: RunStatus = { phase: options.phase ?? 'Succeeded' }
  if (times.includes('finishedAt')) status.finishedAt = iso(finishedMs)
  if (times.includes('updatedAt')) status.updatedAt = iso(finishedMs)
  const run = agentRun(name, {
    spec: options.ttl === undefined ? {} : { ttlSecondsAfterFinished: options.ttl },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(options.deleting ? { deleting: true } : {}),
    status,
  })
  if (times.includes('creationTimestamp')) run.metadata = { ...run.metadata, creationTimestamp: iso(finishedMs) }
  return run
}

/** Deleted at `at` (and not 1 ms before), or kept for ever: what the planner does with one run. */
function fate(run: KubeObject, cfg: RetentionConfig, at: number): { deletedAt: number } | 'kept' {
  const verdict = retentionDeadline(run, cfg)
  if ('keep' in verdict) {
    // Whatever "kept" means, no pass ever deletes it — even far in the future.
    const far = planRetentionPass([run], cfg, at + 100 * 365 * 24 * HOUR * 1000)
    return far.deletes.length === 0 ? 'kept' : { deletedAt: Number.NaN }
  }
  const before = planRetentionPass([run], cfg, verdict.deadlineMs - 1)
  const onTime = planRetentionPass([run], cfg, verdict.deadlineMs)
  if (before.deletes.length !== 0 || onTime.deletes.length !== 1) return { deletedAt: Number.NaN }
  return { deletedAt: verdict.deadlineMs }
}

t.test('which retention applies (spec > 0, spec 0 → zero-TTL maximum, absent → default, ≤ 0 → kept)', async (t) => {
  const scenarios: Array<{ name: string; run: KubeObject; config?: Partial<RetentionConfig>; want: unknown; fate: { deletedAt: number } | 'kept' }> = [
    {
      name: 'spec 60 wins over the default',
      run: finished('a', T0_MS, { ttl: 60 }),
      want: { deadlineMs: T0_MS + 60_000, retentionSeconds: 60, source: 'spec', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 60_000 },
    },
    {
      name: 'spec 1 (smallest positive)',
      run: finished('a', T0_MS, { ttl: 1 }),
      want: { deadlineMs: T0_MS + 1_000, retentionSeconds: 1, source: 'spec', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 1_000 },
    },
    {
      name: 'spec 0 with zero-TTL max 0 (default): kept — not deleted at once',
      run: finished('a', T0_MS, { ttl: 0 }),
      want: { keep: 'noRetention' },
      fate: 'kept',
    },
    {
      name: 'spec 0 with zero-TTL max 60: deleted 60 s after finishing',
      run: finished('a', T0_MS, { ttl: 0 }),
      config: { retentionZeroTtlMaxSeconds: 60 },
      want: { deadlineMs: T0_MS + 60_000, retentionSeconds: 60, source: 'zeroTtl', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 60_000 },
    },
    {
      name: 'spec 0 with a negative zero-TTL max: kept',
      run: finished('a', T0_MS, { ttl: 0 }),
      config: { retentionZeroTtlMaxSeconds: -1 },
      want: { keep: 'noRetention' },
      fate: 'kept',
    },
    {
      name: 'spec 0 ignores the default retention (zero-TTL max 0, default 1 h): kept',
      run: finished('a', T0_MS, { ttl: 0 }),
      config: { agentRunRetentionSeconds: HOUR },
      want: { keep: 'noRetention' },
      fate: 'kept',
    },
    {
      name: 'spec 0.5 is floored to 0 (upstream Math.floor): zero-TTL max applies',
      run: finished('a', T0_MS, { ttl: 0.5 }),
      config: { retentionZeroTtlMaxSeconds: 30 },
      want: { deadlineMs: T0_MS + 30_000, retentionSeconds: 30, source: 'zeroTtl', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 30_000 },
    },
    {
      name: 'spec 90.9 is floored to 90',
      run: finished('a', T0_MS, { ttl: 90.9 }),
      want: { deadlineMs: T0_MS + 90_000, retentionSeconds: 90, source: 'spec', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 90_000 },
    },
    {
      name: 'spec as a numeric string "120" (upstream parses it)',
      run: finished('a', T0_MS, { ttl: '120' }),
      want: { deadlineMs: T0_MS + 120_000, retentionSeconds: 120, source: 'spec', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + 120_000 },
    },
    {
      name: 'absent: the default retention',
      run: finished('a', T0_MS),
      want: { deadlineMs: T0_MS + HOUR * 1000, retentionSeconds: HOUR, source: 'config', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + HOUR * 1000 },
    },
    {
      name: 'null: the default retention',
      run: finished('a', T0_MS, { ttl: null }),
      want: { deadlineMs: T0_MS + HOUR * 1000, retentionSeconds: HOUR, source: 'config', from: 'finishedAt' },
      fate: { deletedAt: T0_MS + HOUR * 1000 },
    },
    {
      name: 'absent with a default of 0: kept',
      run: finished('a', T0_MS),
      config: { agentRunRetentionSeconds: 0 },
      want: { keep: 'noRetention' },
      fate: 'kept',
    },
    {
      name: 'absent with a negative default: kept',
      run: finished('a', T0_MS),
      config: { agentRunRetentionSeconds: -5 },
      want: { keep: 'noRetention' },
      fate: 'kept',
    },
    {
      name: 'negative spec: the default retention (as upstream), reported',
      run: finished('a', T0_MS, { ttl: -5 }),
      want: {
        deadlineMs: T0_MS + HOUR * 1000,
        retentionSeconds: HOUR,
        source: 'config',
        from: 'finishedAt',
        problem: 'spec.ttlSecondsAfterFinished -5 is not a non-negative number; using the default retention of 3600 s',
      },
      fate: { deletedAt: T0_MS + HOUR * 1000 },
    },
    {
      name: 'negative spec with a default of 0: kept, still reported',
      run: finished('a', T0_MS, { ttl: -5 }),
      config: { agentRunRetentionSeconds: 0 },
      want: { keep: 'noRetention', problem: 'spec.ttlSecondsAfterFinished -5 is not a non-negative number; using the default retention of 0 s' },
      fate: 'kept',
    },
    {
      name: 'non-numeric spec: the default retention, reported',
      run: finished('a', T0_MS, { ttl: 'soon' }),
      want: {
        deadlineMs: T0_MS + HOUR * 1000,
        retentionSeconds: HOUR,
        source: 'config',
        from: 'finishedAt',
        problem: 'spec.ttlSecondsAfterFinished "soon" is not a non-negative number; using the default retention of 3600 s',
      },
      fate: { deletedAt: T0_MS + HOUR * 1000 },
    },
  ]
  for (const s of scenarios) {
    const cfg = { ...config, ...s.config }
    t.same(retentionDeadline(s.run, cfg), s.want, `${s.name}: verdict`)
    t.same(fate(s.run, cfg, T0_MS), s.fate, `${s.name}: fate`)
  }
})

t.test('runs that are never deleted', async (t) => {
  const scenarios: Array<{ name: string; run: KubeObject; want: string }> = [
    { name: 'template annotation "true"', run: finished('a', T0_MS, { ttl: 1, template: 'true' }), want: 'template' },
    { name: 'template annotation "TRUE" (any case, like upstream)', run: finished('a', T0_MS, { ttl: 1, template: 'TRUE' }), want: 'template' },
    { name: 'template annotation " True " (trimmed)', run: finished('a', T0_MS, { ttl: 1, template: ' True ' }), want: 'template' },
    { name: 'status.phase Template', run: finished('a', T0_MS, { ttl: 1, phase: 'Template' }), want: 'template' },
    { name: 'Pending', run: finished('a', T0_MS, { ttl: 1, phase: 'Pending' }), want: 'notTerminal' },
    { name: 'Running', run: finished('a', T0_MS, { ttl: 1, phase: 'Running' }), want: 'notTerminal' },
    { name: 'no phase', run: agentRun('a', { spec: { ttlSecondsAfterFinished: 1 }, status: { finishedAt: iso(T0_MS) } }), want: 'notTerminal' },
    { name: 'already being deleted', run: finished('a', T0_MS, { ttl: 1, deleting: true }), want: 'beingDeleted' },
    { name: 'no finishedAt, updatedAt or creationTimestamp', run: finished('a', T0_MS, { ttl: 1, times: [] }), want: 'noFinishTime' },
  ]
  for (const s of scenarios) {
    t.same(retentionDeadline(s.run, config), { keep: s.want }, `${s.name}: verdict`)
    t.same(fate(s.run, config, T0_MS), 'kept', `${s.name}: fate`)
  }
  t.same(retentionDeadline(finished('a', T0_MS, { ttl: 1, template: 'false' }), config), { deadlineMs: T0_MS + 1000, retentionSeconds: 1, source: 'spec', from: 'finishedAt' }, 'template annotation "false" is not a template')
  for (const phase of ['Succeeded', 'Failed', 'Cancelled']) {
    t.same(fate(finished('a', T0_MS, { ttl: 1, phase }), config, T0_MS), { deletedAt: T0_MS + 1000 }, `${phase} is terminal`)
  }
})

t.test('the retain annotation', async (t) => {
  t.same(RETAIN_VALUES, ['1', 'true', 'yes', 'y', 'on', 'keep', 'forever'], 'the values upstream accepts')
  const keeps = [...RETAIN_VALUES, ...RETAIN_VALUES.map((v) => v.toUpperCase()), ' true ', '\tKeep\n', 'Forever', 'Yes']
  for (const value of keeps) {
    const run = finished('a', T0_MS, { ttl: 1, retain: value })
    t.same(retentionDeadline(run, config), { keep: 'retained' }, `retain ${JSON.stringify(value)}: kept`)
    t.same(fate(run, config, T0_MS), 'kept', `retain ${JSON.stringify(value)}: never deleted`)
  }
  for (const value of ['', '0', 'false', 'no', 'off', 'n', 'retain', 'true-ish', 'k eep']) {
    const run = finished('a', T0_MS, { ttl: 1, retain: value })
    t.same(fate(run, config, T0_MS), { deletedAt: T0_MS + 1000 }, `retain ${JSON.stringify(value)}: not a keep value, deleted on time`)
  }
})

t.test('the time age counts from: finishedAt → updatedAt → creationTimestamp', async (t) => {
  const at = (times: Finished['times'], finishedMs = T0_MS) => retentionDeadline(finished('a', finishedMs, { ttl: 10, times }), config)
  t.same(at(['finishedAt']), { deadlineMs: T0_MS + 10_000, retentionSeconds: 10, source: 'spec', from: 'finishedAt' }, 'finishedAt')
  t.same(at(['updatedAt']), { deadlineMs: T0_MS + 10_000, retentionSeconds: 10, source: 'spec', from: 'updatedAt' }, 'no finishedAt: updatedAt')
  t.same(at(['creationTimestamp']), { deadlineMs: T0_MS + 10_000, retentionSeconds: 10, source: 'spec', from: 'creationTimestamp' }, 'neither: creationTimestamp')
  // All three present at different instants: finishedAt wins, then updatedAt.
  const run = finished('a', T0_MS, { ttl: 10, times: [] })
  run.status = { ...run.status, finishedAt: iso(T0_MS), updatedAt: iso(T0_MS + 50_000) }
  run.metadata = { ...run.metadata, creationTimestamp: iso(T0_MS - 50_000) }
  t.same(retentionDeadline(run, config), { deadlineMs: T0_MS + 10_000, retentionSeconds: 10, source: 'spec', from: 'finishedAt' }, 'finishedAt wins over the others')
  run.status = { phase: 'Succeeded', updatedAt: iso(T0_MS + 50_000) }
  t.same(retentionDeadline(run, config), { deadlineMs: T0_MS + 60_000, retentionSeconds: 10, source: 'spec', from: 'updatedAt' }, 'updatedAt wins over creationTimestamp')
  run.status = { phase: 'Succeeded', finishedAt: 'not a time', updatedAt: 'nor this' }
  t.same(retentionDeadline(run, config), { deadlineMs: T0_MS - 40_000, retentionSeconds: 10, source: 'spec', from: 'creationTimestamp' }, 'unparsable times are skipped')
})

t.test('planRetentionPass: the cap, ordering, scheduling', async (t) => {
  const names = (runs: KubeObject[], now: number, cfg: RetentionConfig = config) => {
    const pass = planRetentionPass(runs, cfg, now)
    return { deletes: pass.deletes.map((d) => d.name), deferred: pass.deferred, disabled: pass.disabled, requeueAfterMs: pass.requeueAfterMs }
  }
  const expired = [finished('c', T0_MS - 3000, { ttl: 1 }), finished('a', T0_MS - 5000, { ttl: 1 }), finished('b', T0_MS - 4000, { ttl: 1 }), finished('d', T0_MS, { ttl: 60 })]
  t.same(names([finished('a', T0_MS, { ttl: 10 })], T0_MS + 9_999), { deletes: [], deferred: 0, disabled: false, requeueAfterMs: 1 }, '1 ms before the deadline: come back at the deadline')
  t.same(names([finished('a', T0_MS, { ttl: 10 })], T0_MS + 10_000), { deletes: ['a'], deferred: 0, disabled: false, requeueAfterMs: undefined }, 'at the deadline: deleted')
  t.same(names(expired, T0_MS), { deletes: ['a', 'b'], deferred: 1, disabled: false, requeueAfterMs: RETENTION_BACKLOG_DELAY_MS }, 'cap 2: the oldest deadlines first, the rest in the next pass')
  t.same(names(expired, T0_MS, { ...config, retentionMaxDeletesPerNamespace: 1 }), { deletes: ['a'], deferred: 2, disabled: false, requeueAfterMs: RETENTION_BACKLOG_DELAY_MS }, 'cap 1: one delete per pass')
  t.same(names(expired, T0_MS, { ...config, retentionMaxDeletesPerNamespace: 100 }), { deletes: ['a', 'b', 'c'], deferred: 0, disabled: false, requeueAfterMs: 60_000 }, 'cap 100: all due, next pass at the next deadline')
  t.same(names(expired, T0_MS, { ...config, retentionMaxDeletesPerNamespace: 0 }), { deletes: [], deferred: 0, disabled: true, requeueAfterMs: undefined }, 'cap 0: no deletes, no next pass')
  t.same(names(expired, T0_MS, { ...config, retentionMaxDeletesPerNamespace: -3 }), { deletes: [], deferred: 0, disabled: true, requeueAfterMs: undefined }, 'cap < 0: no deletes, no next pass')
  t.same(names([finished('x', T0_MS - 10_000, { ttl: 0 }), finished('y', T0_MS - 10_000, { ttl: 0 })], T0_MS), { deletes: [], deferred: 0, disabled: false, requeueAfterMs: undefined }, 'ttl 0 runs (zero-TTL max 0): nothing due, nothing scheduled')
  t.same(names([agentRun('x', { status: { phase: 'Running' } })], T0_MS), { deletes: [], deferred: 0, disabled: false, requeueAfterMs: undefined }, 'nothing terminal: no pass scheduled')
  const pass = planRetentionPass([finished('bad', T0_MS, { ttl: 'x' }), finished('kept-bad', T0_MS, { ttl: -1, retain: 'true' })], config, T0_MS)
  t.same(pass.problems.map((p) => p.run.metadata?.name), ['bad'], 'an invalid spec value is reported (a retained run is not looked at)')
  t.same(pass.deletes, [], 'and the default retention applies')
  t.same(planRetentionPass([finished('a', T0_MS, { ttl: 1 })], config, T0_MS + 1000).deletes, [{ name: 'a', uid: 'uid-a', deadlineMs: T0_MS + 1000 }], 'deletes carry the uid precondition')
})
