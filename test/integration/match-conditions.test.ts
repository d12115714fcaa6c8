/**
 * Issue 13, goal 6, end to end on a real API server: with the status matchConditions in place
 * (webhooks/status-skip.ts) every status rule still fires — 6, 7, 8, 9, 10, 11, 12, the controller
 * repairs and break-glass — while an upstream-like write (conditions updated, updatedAt advanced by
 * the writer) is not sent to runguard at all: runguard's own request counter does not move.
 *
 * Each case starts from a fresh run whose stored status was set up first, then makes one status
 * write and reads how many requests each of runguard's paths (/mutate, /validate) answered for it.
 * The counter is runguard's controller_runtime_webhook_requests_total, read straight from the
 * webhook process: nothing else writes to this control plane while a case runs.
 */
import fc from 'fast-check'
import jsonpatch, { type Operation } from 'fast-json-patch'
import t from 'tap'
import { dispatch } from '../../src/admission/dispatch.ts'
import type { AdmissionRequest, Decision } from '../../src/admission/types.ts'
import { loadConfig } from '../../src/config.ts'
import type { KubeObject } from '../../src/kube/objects.ts'
import { mutateRuns } from '../../webhooks/mutate-runs.ts'
import { validateRuns } from '../../webhooks/validate-runs.ts'
import { startControlPlaneForTest, type ControlPlane } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { installRunguard, RUNGUARD_NAMESPACE } from '../harness/runguard.ts'
import { getHttp } from '../helpers/https.ts'
import { UPSTREAM_CONTROLLER_SA } from '../helpers/upstream-writes.ts'

const NS = 'match-conditions'
const RUNS = `/apis/agents.proompteng.ai/v1alpha1/namespaces/${NS}/agentruns`
const BREAK_GLASS = 'oncall'
/** Long past, so a stamp of "now" by runguard is told apart from any value a case writes. */
const STORED_AT = '2020-01-01T00:00:00.000Z'
const LATER = '2020-01-01T00:00:01.000Z'
const STARTED_AT = '2020-01-01T00:00:00.000Z'

type Identity = 'person' | 'controller' | 'break-glass'
type Status = Record<string, unknown>

interface Answer {
  status: number
  body: { status?: Status; message?: string }
  warnings: string[]
}

const cp = await startControlPlaneForTest(t)
const ENV = { RUNGUARD_BREAK_GLASS_USERS: BREAK_GLASS }
const rg = await installRunguard(cp, { env: ENV })
t.teardown(() => rg.stop())
await cp.kubectl(['create', 'namespace', NS])
// What upstream's chart grants its controller, and the same for the on-call engineer.
await cp.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: match-conditions-runs}
rules:
  - apiGroups: [agents.proompteng.ai]
    resources: [agentruns, agentruns/status]
    verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: match-conditions-runs}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: match-conditions-runs}
subjects:
  - {kind: ServiceAccount, name: agents-sa, namespace: agents}
  - {kind: User, name: ${BREAK_GLASS}, apiGroup: rbac.authorization.k8s.io}
`)

const IMPERSONATE: Record<Identity, Record<string, string | string[]>> = {
  person: {},
  controller: { 'Impersonate-User': UPSTREAM_CONTROLLER_SA, 'Impersonate-Group': ['system:serviceaccounts', 'system:serviceaccounts:agents'] },
  'break-glass': { 'Impersonate-User': BREAK_GLASS },
}

/** One API call as admin, or impersonating `identity`; the admission warnings come back parsed. */
async function call(control: ControlPlane, method: string, path: string, body: unknown, identity: Identity = 'person'): Promise<Answer> {
  const answer = await control.request(method, path, body, { contentType: method === 'PATCH' ? 'application/merge-patch+json' : 'application/json', headers: IMPERSONATE[identity] })
  return { status: answer.status, body: answer.body as Answer['body'], warnings: answer.warnings }
}

interface Calls {
  mutate: number
  validate: number
}

/** Requests runguard's webhook process has answered on each path, all status codes together. */
async function runguardCalls(): Promise<Calls> {
  const { body } = await getHttp(rg.webhookMetricsPort, '/metrics')
  const count = (path: string) =>
    [...body.matchAll(new RegExp(`^controller_runtime_webhook_requests_total\\{webhook="${path}",code="\\d+"\\} (\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0)
  return { mutate: count('/mutate'), validate: count('/validate') }
}

async function counter(name: string): Promise<number> {
  const { body } = await getHttp(rg.webhookMetricsPort, '/metrics')
  return [...body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0)
}

let runs = 0
/** A new AgentRun (generation 1) whose stored status is `stored`, written by a person. */
async function runWithStatus(stored: Status): Promise<string> {
  const name = `run-${++runs}`
  const created = await call(cp, 'POST', RUNS, {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } },
  })
  if (created.status !== 201) throw new Error(`create ${name}: HTTP ${created.status} ${created.body.message ?? ''}`)
  const set = await call(cp, 'PATCH', `${RUNS}/${name}/status`, { status: stored })
  if (set.status !== 200) throw new Error(`status of ${name}: HTTP ${set.status} ${set.body.message ?? ''}`)
  // The API server's next update starts from its watch cache's copy of the run. Until that copy
  // has this status, the write is first judged against the run without it — a first status write,
  // which runguard must see — and then, its etcd transaction refused as stale, judged again against
  // the stored run (measured: 1 call to each webhook for a write that was settled). Wait for it.
  const written = (set.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion
  await waitUntil(`the watch cache to hold ${name} at resourceVersion ${written}`, { timeoutMs: 10_000, intervalMs: 20 }, async () => {
    const cached = await call(cp, 'GET', `${RUNS}/${name}?resourceVersion=0`, undefined)
    return (cached.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion === written ? true : undefined
  })
  return name
}

interface Outcome extends Answer {
  calls: Calls
  stored: Status
}

/** One status write (a merge patch: `null` drops a field) and what runguard saw of it. */
async function writeStatus(name: string, status: Status, identity: Identity = 'person'): Promise<Outcome> {
  const before = await runguardCalls()
  const answer = await call(cp, 'PATCH', `${RUNS}/${name}/status`, { status }, identity)
  const after = await runguardCalls()
  const stored = (await call(cp, 'GET', `${RUNS}/${name}`, undefined)).body.status ?? {}
  return { ...answer, stored, calls: { mutate: after.mutate - before.mutate, validate: after.validate - before.validate } }
}

const RUNNING: Status = {
  phase: 'Running',
  startedAt: STARTED_AT,
  updatedAt: STORED_AT,
  observedGeneration: 1,
  conditions: [{ type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: STARTED_AT }],
}
const SUCCEEDED: Status = { ...RUNNING, phase: 'Succeeded', finishedAt: '2020-01-01T00:00:00.500Z' }
const progress = (message: string): object[] => [
  { type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: STARTED_AT },
  { type: 'InProgress', status: 'True', reason: 'Running', message, lastTransitionTime: LATER },
]

/** runguard stamped updatedAt with its clock: not a value any case writes. */
function stampedNow(status: Status): boolean {
  return typeof status.updatedAt === 'string' && Date.parse(status.updatedAt) > Date.parse('2025-01-01T00:00:00Z')
}

t.test('settled writes are not sent to runguard', async (t) => {
  for (const identity of ['person', 'controller', 'break-glass'] as const) {
    const name = await runWithStatus(RUNNING)
    const r = await writeStatus(name, { conditions: progress(`step 1 by ${identity}`), updatedAt: LATER }, identity)
    t.equal(r.status, 200, `${identity}: admitted`)
    t.same(r.calls, { mutate: 0, validate: 0 }, `${identity}: conditions updated with a newer updatedAt reach neither webhook`)
    t.same(r.stored.updatedAt, LATER, "the writer's own newer updatedAt is kept (rule 10)")
    t.same(r.stored.conditions, progress(`step 1 by ${identity}`))
  }
  const name = await runWithStatus(RUNNING)
  const sameGeneration = await writeStatus(name, { message: 'observedGeneration unchanged', observedGeneration: 1, updatedAt: '2020-01-01T00:00:00.001Z' })
  t.same(sameGeneration.calls, { mutate: 0, validate: 0 }, 'an observedGeneration within bounds and a millisecond-later updatedAt: settled')
  // Within the CEL cost budget on a large status too: no evaluation error (which would refuse the write).
  const large = await runWithStatus(RUNNING)
  const many = Array.from({ length: 200 }, (_, i) => ({ type: `Step${i}`, status: 'True', reason: 'Done', message: 'x'.repeat(1000), lastTransitionTime: LATER }))
  const big = await writeStatus(large, { conditions: many, updatedAt: LATER })
  t.equal(big.status, 200, 'a 200 KB status write is admitted')
  t.same(big.calls, { mutate: 0, validate: 0 }, 'and settled without runguard')
  const terminal = await runWithStatus(SUCCEEDED)
  const note = await writeStatus(terminal, { message: 'result collected', updatedAt: LATER }, 'controller')
  t.same(note.calls, { mutate: 0, validate: 0 }, 'a terminal run keeping its phase: settled')
  t.equal(note.stored.phase, 'Succeeded')
})

t.test('rule 10: a write without a newer updatedAt is stamped — one call, the validating webhook skips what the mutating one settled', async (t) => {
  for (const [what, updatedAt] of [['no updatedAt', undefined], ['an older updatedAt', '2019-12-31T23:59:59.000Z'], ['the stored updatedAt', STORED_AT], ['a seconds-only updatedAt in the same second', '2020-01-01T00:00:00Z']] as const) {
    const name = await runWithStatus(RUNNING)
    const r = await writeStatus(name, { conditions: progress(what), ...(updatedAt === undefined ? {} : { updatedAt }) })
    t.equal(r.status, 200, what)
    t.equal(r.calls.mutate, 1, `${what}: the mutating webhook is called`)
    t.ok(stampedNow(r.stored), `${what}: updatedAt stamped now (${String(r.stored.updatedAt)})`)
    t.equal(r.calls.validate, 0, `${what}: the stamped object is settled, the validating webhook is not called`)
  }
  const name = await runWithStatus(RUNNING)
  const first = await writeStatus(name, { conditions: progress('first') })
  t.ok(stampedNow(first.stored))
  // The writer echoes what it read back, as a controller re-writing its status does.
  const unchanged = await writeStatus(name, { ...first.stored })
  t.equal(unchanged.calls.mutate, 1, 'an identical re-write still reaches runguard')
  t.same(unchanged.stored.updatedAt, first.stored.updatedAt, 'and stays a no-op: no new stamp')
})

t.test('rule 11: transitions are stamped', async (t) => {
  const pending = await runWithStatus({ phase: 'Pending', updatedAt: STORED_AT })
  const start = await writeStatus(pending, { phase: 'Running', updatedAt: LATER })
  t.equal(start.calls.mutate, 1, 'Pending → Running reaches the mutating webhook')
  t.ok(typeof start.stored.startedAt === 'string' && Date.parse(start.stored.startedAt) > Date.parse('2025-01-01T00:00:00Z'), `startedAt stamped: ${String(start.stored.startedAt)}`)
  const running = await runWithStatus(RUNNING)
  const finish = await writeStatus(running, { phase: 'Succeeded', updatedAt: LATER }, 'controller')
  t.equal(finish.calls.mutate, 1, 'Running → Succeeded reaches the mutating webhook')
  t.type(finish.stored.finishedAt, 'string', 'finishedAt stamped')
  t.equal(finish.calls.validate, 0, "a controller's write is not sent for validation")
  const fail = await writeStatus(await runWithStatus(RUNNING), { phase: 'Failed', updatedAt: LATER })
  t.equal(fail.calls.mutate, 1, "a person's Running → Failed reaches the mutating webhook")
  t.type(fail.stored.finishedAt, 'string', 'finishedAt stamped')
  t.equal(fail.calls.validate, 1, "and a person's phase change is judged by the validating webhook too")
})

t.test('rule 12: a dropped timestamp is restored', async (t) => {
  const name = await runWithStatus(SUCCEEDED)
  const r = await writeStatus(name, { startedAt: null, finishedAt: null, message: 'careless full write', updatedAt: LATER })
  t.equal(r.status, 200)
  t.equal(r.calls.mutate, 1)
  t.same([r.stored.startedAt, r.stored.finishedAt], [SUCCEEDED.startedAt, SUCCEEDED.finishedAt], 'both restored')
  t.match(r.warnings, [/status\.startedAt restored/, /status\.finishedAt restored/])
})

t.test('rule 6: startedAt / finishedAt immutable — people refused, controllers repaired', async (t) => {
  for (const field of ['startedAt', 'finishedAt'] as const) {
    const name = await runWithStatus(SUCCEEDED)
    const person = await writeStatus(name, { [field]: '2021-01-01T00:00:00.000Z', updatedAt: LATER })
    t.equal(person.status, 422, `${field}: a person is refused`)
    t.match(person.body.message, new RegExp(`admission webhook "mutate\\.runguard\\.proompteng\\.ai" denied the request: \\[?status\\.${field}: Forbidden: ${field} is immutable once set`))
    const controller = await writeStatus(name, { [field]: '2021-01-01T00:00:00.000Z', updatedAt: LATER }, 'controller')
    t.equal(controller.status, 200, `${field}: the controller is admitted`)
    t.equal(controller.stored[field], SUCCEEDED[field], `${field}: repaired to the stored value`)
    t.match(controller.warnings, [new RegExp(`status\\.${field} kept at`)])
  }
  // Set for the first time: the same instant in another spelling is still a change of text, judged by runguard.
  const name = await runWithStatus({ ...RUNNING, startedAt: undefined, phase: 'Pending' })
  const r = await writeStatus(name, { startedAt: 'yesterday', updatedAt: LATER })
  t.equal(r.status, 422, 'a first startedAt that is not RFC 3339 is refused (rule 9)')
  t.match(r.body.message, /status\.startedAt: Invalid value: "yesterday"/)
})

t.test('rule 7: no resurrection — people refused, controllers repaired', async (t) => {
  const name = await runWithStatus(SUCCEEDED)
  const person = await writeStatus(name, { phase: 'Running', updatedAt: LATER })
  t.equal(person.status, 422)
  t.match(person.body.message, /a terminal phase may not change \(was "Succeeded", now "Running"\)/)
  const controller = await writeStatus(name, { phase: 'Running', updatedAt: LATER }, 'controller')
  t.equal(controller.status, 200)
  t.equal(controller.stored.phase, 'Succeeded', 'the terminal phase stays')
  t.match(controller.warnings, [/status\.phase kept at "Succeeded"/])
})

t.test('rule 8: observedGeneration bounded — people refused, controllers repaired', async (t) => {
  const cases: Array<[string, Status, RegExp]> = [
    ['ahead of metadata.generation', { observedGeneration: 2 }, /may not exceed metadata\.generation \(1\)/],
    ['decreasing', { observedGeneration: 0 }, /may not decrease \(was 1, now 0\)/],
  ]
  for (const [what, write, message] of cases) {
    const name = await runWithStatus(RUNNING)
    const person = await writeStatus(name, { ...write, updatedAt: LATER })
    t.equal(person.status, 422, `${what}: a person is refused`)
    t.match(person.body.message, message)
    t.equal(person.calls.mutate, 1)
    const controller = await writeStatus(name, { ...write, updatedAt: LATER }, 'controller')
    t.equal(controller.status, 200, `${what}: the controller is admitted`)
    t.equal(controller.stored.observedGeneration, 1, `${what}: repaired`)
  }
})

t.test('rule 9: malformed timestamps, finishedAt before startedAt, unknown phases', async (t) => {
  // An updatedAt runguard cannot read is not the writer's newer value: rule 10 replaces it with a stamp.
  for (const [what, updatedAt] of [['not RFC 3339', '2020-01-01 00:00:01'], ['on 30 February', '2020-02-30T00:00:00.000Z']] as const) {
    const name = await runWithStatus(RUNNING)
    const r = await writeStatus(name, { message: what, updatedAt })
    t.equal(r.status, 200, `updatedAt ${what}: admitted`)
    t.equal(r.calls.mutate, 1, `updatedAt ${what}: runguard judged it`)
    t.ok(stampedNow(r.stored), `updatedAt ${what}: replaced by runguard's stamp (${String(r.stored.updatedAt)})`)
  }
  const writes: Array<[string, Status, Status, RegExp]> = [
    ['finishedAt before startedAt', RUNNING, { phase: 'Failed', finishedAt: '2019-01-01T00:00:00.000Z', updatedAt: LATER }, /may not precede status\.startedAt/],
    ['an unknown phase', RUNNING, { phase: 'Paused', updatedAt: LATER }, /status\.phase: Unsupported value: "Paused"/],
  ]
  for (const [what, stored, write, message] of writes) {
    const name = await runWithStatus(stored)
    const r = await writeStatus(name, write)
    t.equal(r.status, 422, `${what}: refused`)
    t.match(r.body.message, message, what)
    t.equal(r.calls.mutate, 1, `${what}: runguard judged it`)
  }
  // A newer updatedAt with an offset is valid, just not in the one spelling CEL can order: runguard decides.
  const name = await runWithStatus(RUNNING)
  const offset = await writeStatus(name, { message: 'offset clock', updatedAt: '2020-01-01T01:00:01.000+01:00' })
  t.equal(offset.status, 200)
  t.equal(offset.calls.mutate, 1, 'a non-UTC updatedAt is judged by runguard, not skipped')
  t.same(offset.stored.updatedAt, '2020-01-01T01:00:01.000+01:00', 'and kept: it is newer than the stored one')
})

t.test('break-glass: a write the rules would refuse reaches runguard, which admits and counts it', async (t) => {
  const bypasses = await counter('runguard_break_glass_bypasses_total')
  const name = await runWithStatus(SUCCEEDED)
  const r = await writeStatus(name, { phase: 'Failed', finishedAt: null, updatedAt: LATER }, 'break-glass')
  t.equal(r.status, 200, 'admitted')
  t.equal(r.stored.phase, 'Failed', 'the hand repair stands')
  t.notOk('finishedAt' in r.stored, 'not restored: break-glass skips rule 12')
  t.ok(r.calls.mutate >= 1 && r.calls.validate >= 1, 'both webhooks saw it')
  t.ok((await counter('runguard_break_glass_bypasses_total')) > bypasses, 'the bypass is counted')
})

t.test('spec writes are always sent', async (t) => {
  const name = await runWithStatus(RUNNING)
  const before = await runguardCalls()
  const cancel = await call(cp, 'PATCH', `${RUNS}/${name}`, { spec: { cancel: true } })
  t.equal(cancel.status, 200, cancel.body.message ?? '')
  const undo = await call(cp, 'PATCH', `${RUNS}/${name}`, { spec: { cancel: false, desiredState: null } })
  t.equal(undo.status, 422, 'rule 2: cancel is one-way')
  const after = await runguardCalls()
  t.ok(after.mutate - before.mutate >= 2 && after.validate - before.validate >= 1)
})

/** How each identity reaches runguard: the admin certificate's user, or the impersonated one. */
const USER_INFO: Record<Exclude<Identity, 'break-glass'>, AdmissionRequest['userInfo']> = {
  person: { username: 'runguard-test-admin', groups: ['system:masters', 'system:authenticated'] },
  controller: { username: UPSTREAM_CONTROLLER_SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated'] },
}

/** runguard's own answer, computed in this process: does it change, refuse or warn about anything? */
function acts(decision: Decision): boolean {
  return !decision.allowed || (decision.patch ?? []).length > 0 || decision.warnings.length > 0
}

t.test('generated status writes: whenever runguard would act, the API server called it', async (t) => {
  const config = loadConfig({ RUNGUARD_POD_NAMESPACE: RUNGUARD_NAMESPACE, ...ENV })
  const keep = Symbol('keep')
  const drop = Symbol('drop')
  type Change = typeof keep | typeof drop | unknown
  // Mostly kept, so that a fair share of the writes is settled and the skip is exercised too.
  const field = (...values: unknown[]) => fc.oneof({ arbitrary: fc.constant<Change>(keep), weight: 10 }, { arbitrary: fc.constantFrom<Change>(drop, ...values), weight: values.length + 1 })
  const bases: Status[] = [RUNNING, SUCCEEDED, { phase: 'Pending', updatedAt: STORED_AT, observedGeneration: 1 }, { phase: 'Running', conditions: RUNNING.conditions }]
  const write = fc.record({
    base: fc.nat({ max: bases.length - 1 }),
    identity: fc.constantFrom<'person' | 'controller'>('person', 'controller'),
    startedAt: field('2021-01-01T00:00:00.000Z', '2020-01-01T00:00:00Z', 'yesterday'),
    finishedAt: field('2020-01-01T00:00:01.000Z', '2019-12-31T00:00:00.000Z'),
    phase: field('Pending', 'Running', 'Succeeded', 'Cancelled', 'Paused'),
    observedGeneration: field(0, 1, 2),
    updatedAt: fc.oneof(
      { arbitrary: fc.constantFrom<Change>(LATER, '2020-01-01T00:00:00.001Z'), weight: 6 },
      { arbitrary: fc.constantFrom<Change>(keep, drop, '2020-01-01T00:00:01Z', '2019-12-31T23:59:59.000Z', '2020-02-29T00:00:00.000Z', '2020-01-01T01:00:01+01:00', 'soon'), weight: 7 },
    ),
    conditions: fc.constantFrom<Change>(keep, progress('generated')),
  })
  // One stored run per base status: dry runs never change it.
  const stored = new Map<number, KubeObject>()
  for (const [i, base] of bases.entries()) {
    const name = await runWithStatus(base)
    stored.set(i, (await call(cp, 'GET', `${RUNS}/${name}`, undefined)).body as KubeObject)
  }

  let skipped = 0
  let judged = 0
  for (const w of fc.sample(write, { numRuns: 200, seed: 13 })) {
    const old = stored.get(w.base) as KubeObject
    const status: Status = structuredClone(old.status as Status)
    for (const key of ['startedAt', 'finishedAt', 'phase', 'observedGeneration', 'updatedAt', 'conditions'] as const) {
      const change = w[key]
      if (change === drop) delete status[key]
      else if (change !== keep) status[key] = change
    }
    const object: KubeObject = { ...old, status }
    const what = `${w.identity} writes ${JSON.stringify(status)} over ${JSON.stringify(old.status)}`

    const before = await runguardCalls()
    const answer = await call(cp, 'PUT', `${RUNS}/${old.metadata?.name}/status?dryRun=All`, object, w.identity)
    const after = await runguardCalls()
    const called = { mutate: after.mutate - before.mutate, validate: after.validate - before.validate }

    const request: AdmissionRequest = {
      uid: 'generated',
      kind: { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' },
      resource: { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' },
      subResource: 'status',
      operation: 'UPDATE',
      userInfo: USER_INFO[w.identity],
      object,
      oldObject: old,
      dryRun: true,
    }
    const mutation = dispatch(mutateRuns.routes, { request, config, now: new Date(), mode: 'mutating' })
    if (acts(mutation) && called.mutate === 0) t.fail(`the mutating webhook would act (${mutation.reason}) but was not called: ${what}`)
    if (called.mutate === 0) skipped++
    else judged++
    if (!mutation.allowed) continue
    const final = jsonpatch.applyPatch(structuredClone(object), (mutation.patch ?? []) as Operation[]).newDocument
    const validation = dispatch(validateRuns.routes, { request: { ...request, object: final }, config, now: new Date(), mode: 'validating' })
    // Refused before the validating webhooks (CRD schema, the status policy): runguard's turn never came.
    const refusedEarlier = answer.status >= 400 && !/admission webhook "/.test(answer.body.message ?? '')
    if (w.identity === 'controller') {
      // Controllers' status writes are not sent for validation (webhooks/validate-runs.ts): after
      // the mutating webhook's repairs, rules 6–9 must have nothing left to refuse of them.
      if (called.validate !== 0) t.fail(`a controller's status write was sent to the validating webhook: ${what}`)
      if (!validation.allowed) t.fail(`the validating webhook would refuse a controller's repaired write (${validation.reason}): ${what}`)
      continue
    }
    if (acts(validation) && called.validate === 0 && !refusedEarlier) t.fail(`the validating webhook would act (${validation.reason}) but was not called: ${what}`)
  }
  t.comment(`${skipped} writes skipped runguard, ${judged} were judged by it`)
  t.ok(skipped >= 5, 'some generated writes are settled (the skip is exercised)')
  t.ok(judged >= 50, 'most generated writes touch a protected field and reach runguard')
})

t.test('the validating webhook guards on its own when the mutating webhook is not there', async (t) => {
  // As when the controllers' mutating webhook fails open: nothing repaired the write before validation.
  await cp.kubectl(['delete', 'mutatingwebhookconfiguration/runguard-mutating'])
  const name = await runWithStatus(RUNNING)
  // The API server drops the configuration asynchronously: wait until a dry run is judged by the validating webhook.
  await waitUntil('the mutating webhook to be gone', { timeoutMs: 30_000 }, async () => {
    const probe = await call(cp, 'PATCH', `${RUNS}/${name}/status?dryRun=All`, { status: { observedGeneration: 5, updatedAt: LATER } })
    return /validate\.runguard/.test(probe.body.message ?? '') ? true : undefined
  })
  const person = await writeStatus(name, { observedGeneration: 5, updatedAt: LATER })
  t.equal(person.status, 422, 'a person is refused by the validating webhook (rule 8 ahead; the status policy checks decreases only)')
  t.match(person.body.message, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request: .*may not exceed metadata\.generation/)
  t.equal(person.calls.validate, 1)
  // The validating webhook could only have warned a controller: its copy for controllers leaves status writes out.
  const controller = await writeStatus(name, { startedAt: '2021-01-01T00:00:00.000Z', updatedAt: LATER }, 'controller')
  t.equal(controller.status, 200, 'a controller is admitted')
  t.same(controller.calls, { mutate: 0, validate: 0 }, 'without a call: controllers\' status writes are judged by the mutating webhook alone')
  const settled = await writeStatus(name, { message: 'settled', updatedAt: '2020-01-01T00:00:02.000Z' })
  t.same(settled.calls, { mutate: 0, validate: 0 }, 'a settled write still skips')
})
