/**
 * SPEC §2 "Writers", end to end on a real API server: every status write upstream's Agents
 * controllers make in normal operation (test/fixtures/upstream-writes/status-writes.yaml, each with
 * its source in upstream's code) is admitted — repaired — when the upstream controller's
 * ServiceAccount writes it, and refused with runguard's message when anyone else does. Then the
 * outage story: with the webhook process killed the controller keeps writing (its webhooks fail
 * open) while the ValidatingAdmissionPolicy keeps refusing people, also once the webhook
 * configurations are deleted. Stale writes get the API server's 409, not a 422.
 */
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { installRunguard } from '../harness/runguard.ts'
import { getHttp } from '../helpers/https.ts'
import { UPSTREAM_CONTROLLER_SA, upstreamStatusWrites, type UpstreamWrite } from '../helpers/upstream-writes.ts'

const CASES = upstreamStatusWrites()
const CONTROLLER = UPSTREAM_CONTROLLER_SA
/** What kubectl shows a person for each reason a fixture expects. */
const MESSAGES: Record<string, RegExp> = {
  ImmutableTimestamp: /startedAt is immutable once set|finishedAt is immutable once set/,
  PhaseResurrection: /a terminal phase may not change/,
  ObservedGenerationDecreased: /observedGeneration: Invalid value: 0: may not decrease/,
  FinishedBeforeStarted: /status\.finishedAt: Invalid value: .*may not precede status\.startedAt/,
}
const NS = 'writers'

const cp = await startControlPlaneForTest(t)
// A controller group as well as the default users, so the group half of the identity CEL runs on every request.
const rg = await installRunguard(cp, { env: { RUNGUARD_CONTROLLER_GROUPS: 'agents:controllers', RUNGUARD_BREAK_GLASS_USERS: 'oncall', AGENTS_CONTROLLER_BLOCKED_SECRETS: 'prod-db' } })
t.teardown(() => rg.stop())
await cp.kubectl(['create', 'namespace', NS])
// What upstream's chart grants its controller on the run objects (status included).
await cp.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agents-runs}
rules:
  - apiGroups: [agents.proompteng.ai, orchestration.proompteng.ai, tools.proompteng.ai]
    resources: [agentruns, agentruns/status, orchestrationruns, orchestrationruns/status, toolruns, toolruns/status]
    verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: agents-runs}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agents-runs}
subjects:
  - {kind: ServiceAccount, name: agents-sa, namespace: agents}
  - {kind: Group, name: 'agents:controllers', apiGroup: rbac.authorization.k8s.io}
  - {kind: Group, name: developers, apiGroup: rbac.authorization.k8s.io}
`)

const kubectl = (args: string[], input?: string) => cp.kubectl(args, { allowFailure: true, input })
const asController = ['--as', CONTROLLER, '--as-group', 'system:serviceaccounts', '--as-group', 'system:serviceaccounts:agents']
const statusOf = async (resource: string) => {
  const r = await cp.kubectl(['get', '-n', NS, resource, '-o', 'jsonpath={.status}'])
  return (r.stdout ? JSON.parse(r.stdout) : {}) as Record<string, unknown>
}
const patchStatus = (resource: string, status: object, identity: string[] = []) =>
  kubectl(['patch', '-n', NS, resource, ...identity, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })])

const SPECS: Record<UpstreamWrite['kind'], { apiVersion: string; spec: object }> = {
  AgentRun: { apiVersion: 'agents.proompteng.ai/v1alpha1', spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } } },
  OrchestrationRun: { apiVersion: 'orchestration.proompteng.ai/v1alpha1', spec: { orchestrationRef: { name: 'release' } } },
  ToolRun: { apiVersion: 'tools.proompteng.ai/v1alpha1', spec: { toolRef: { name: 'lint' } } },
}

/** A run of `kind` named `name` whose stored status is `status` (written by admin, a person). */
async function runWithStatus(kind: UpstreamWrite['kind'], name: string, status: Record<string, unknown>): Promise<string> {
  const { apiVersion, spec } = SPECS[kind]
  await cp.kubectl(['apply', '-n', NS, '-f', '-'], { input: JSON.stringify({ apiVersion, kind, metadata: { name }, spec }) })
  const resource = `${kind.toLowerCase()}/${name}`
  if (Object.keys(status).length > 0) {
    const r = await patchStatus(resource, status)
    if (r.code !== 0) throw new Error(`setting up ${resource}: ${r.stderr}`)
  }
  return resource
}

for (const c of CASES) {
  t.test(`${c.name} — upstream ${c.source}`, async (t) => {
    const controllerRun = await runWithStatus(c.kind, `${c.name}-c`, c.old)
    const fromController = await patchStatus(controllerRun, c.new, asController)
    t.equal(fromController.code, 0, `the upstream controller's write is admitted: ${fromController.stderr}`)
    const stored = await statusOf(controllerRun)
    for (const [field, value] of Object.entries(c.stored)) t.same(stored[field], value, `stored status.${field}`)
    for (const field of c.controller.repaired ?? []) {
      t.match(fromController.stderr, new RegExp(`^Warning: status\\.${field} `, 'm'), `kubectl prints the repair of status.${field}`)
    }
    if ((c.controller.repaired ?? []).length === 0) t.notMatch(fromController.stderr, /^Warning: status\./m, 'nothing to repair')
    t.comment(fromController.stderr.trim() || '(no output on stderr)')

    const personRun = await runWithStatus(c.kind, `${c.name}-p`, c.old)
    const fromPerson = await patchStatus(personRun, c.new)
    if (c.person.allowed) {
      t.equal(fromPerson.code, 0, `a person's write is admitted too: ${fromPerson.stderr}`)
    } else {
      t.equal(fromPerson.code, 1, 'a person making the same write is refused')
      t.match(fromPerson.stderr, /admission webhook "mutate\.runguard\.proompteng\.ai" denied the request: \[?status\./)
      t.match(fromPerson.stderr, MESSAGES[c.person.reason ?? ''] ?? /no message expected/, `the message for ${c.person.reason}`)
      t.comment(fromPerson.stderr.trim())
    }
  })
}

t.test('a member of a controller group is repaired like the controller ServiceAccount', async (t) => {
  const resource = await runWithStatus('AgentRun', 'group-writer', { phase: 'Running', startedAt: '2026-11-28T10:00:00.417Z' })
  const r = await patchStatus(resource, { startedAt: '2026-11-28T10:00:01Z', message: 'from a controller group' }, ['--as', 'bot', '--as-group', 'agents:controllers'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /^Warning: status\.startedAt kept at/m)
  t.same((await statusOf(resource)).startedAt, '2026-11-28T10:00:00.417Z')
  const other = await patchStatus(resource, { startedAt: '2026-11-28T10:00:01Z' }, ['--as', 'bot', '--as-group', 'developers'])
  t.equal(other.code, 1)
  t.match(other.stderr, /denied the request: status\.startedAt: Forbidden: startedAt is immutable/, 'the same user in another group is a person')
})

t.test('a repair is counted and recorded as a StatusRepaired Event on the run', async (t) => {
  const events = await waitUntil('StatusRepaired Event', { timeoutMs: 20_000 }, async () => {
    const r = await cp.kubectl(['get', 'events.events.k8s.io', '-n', NS, '-o', 'json'])
    const items = (JSON.parse(r.stdout) as { items: Array<{ reason: string; note: string; regarding: { name: string } }> }).items
    const repaired = items.filter((e) => e.reason === 'StatusRepaired')
    return repaired.length > 0 ? repaired : undefined
  })
  const jobSucceeded = events.find((e) => e.regarding.name === 'agentrun-job-succeeded-c')
  t.ok(jobSucceeded, 'Event on the repaired AgentRun')
  t.match(jobSucceeded?.note, new RegExp(`status write by ${CONTROLLER} repaired: status\\.startedAt kept at`))
  const metrics = await getHttp(rg.webhookMetricsPort, '/metrics')
  t.match(metrics.body, new RegExp(`runguard_status_repairs_total\\{kind="AgentRun",field="startedAt",action="restored",writer="${CONTROLLER}"\\} [1-9]`))
})

t.test('stale write: a PUT against an older resourceVersion gets 409 Conflict, not runguard\'s 422', async (t) => {
  const resource = await runWithStatus('AgentRun', 'stale', { phase: 'Running', startedAt: '2026-11-28T10:00:00.417Z' })
  const stale = JSON.parse((await cp.kubectl(['get', '-n', NS, resource, '-o', 'json'])).stdout) as { status: Record<string, unknown> }
  t.equal((await patchStatus(resource, { phase: 'Succeeded' })).code, 0, 'another writer finishes the run first')
  stale.status = { ...stale.status, phase: 'Cancelled' }
  const r = await kubectl(['replace', '-n', NS, '--subresource=status', '-f', '-'], JSON.stringify(stale))
  t.equal(r.code, 1)
  t.match(r.stderr, /Operation cannot be fulfilled on agentruns\.agents\.proompteng\.ai "stale": the object has been modified/)
  t.notMatch(r.stderr, /denied the request/, 'no admission denial for a stale write')
  t.equal((await statusOf(resource)).phase, 'Succeeded')
})

t.test('orchestration children: ToolRun / OrchestrationRun parameters upstream passes on are admitted with warnings', async (t) => {
  // orchestration-controller.ts ~980–1133: child runs inherit the orchestration's parameters, a
  // `prompt` key and values over 2048 bytes included; upstream limits parameters on AgentRun only.
  const parameters = { prompt: 'summarise the release', notes: 'x'.repeat(3000) }
  for (const kind of ['ToolRun', 'OrchestrationRun'] as const) {
    const { apiVersion, spec } = SPECS[kind]
    const child = JSON.stringify({ apiVersion, kind, metadata: { name: `child-${kind.toLowerCase()}` }, spec: { ...spec, parameters } })
    const r = await kubectl(['apply', '-n', NS, ...asController, '-f', '-'], child)
    t.equal(r.code, 0, `${kind} created: ${r.stderr}`)
    t.match(r.stderr, /^Warning: .*spec\.parameters/m, `${kind}: kubectl prints the finding as a warning`)
    t.comment(r.stderr.trim())
  }
  const agentRun = JSON.stringify({ ...SPECS.AgentRun, kind: 'AgentRun', metadata: { name: 'child-agentrun' }, spec: { ...SPECS.AgentRun.spec, parameters: { notes: 'x'.repeat(3000) } } })
  const denied = await kubectl(['apply', '-n', NS, ...asController, '-f', '-'], agentRun)
  t.equal(denied.code, 1, 'on an AgentRun the same limit is enforced, as upstream does')
  t.match(denied.stderr, /denied the request: spec\.parameters\[notes\]: Too long/)
})

t.test('rule 5a: an accepted, running AgentRun keeps its spec (upstream would fail it); cancel still goes through', async (t) => {
  const resource = await runWithStatus('AgentRun', 'accepted', {
    phase: 'Running',
    specHash: 'accepted-spec-hash',
    conditions: [{ type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: '2026-11-28T10:00:00Z' }],
  })
  const edit = await kubectl(['patch', '-n', NS, resource, '--type=merge', '-p', JSON.stringify({ spec: { agentRef: { name: 'another-agent' } } })])
  t.equal(edit.code, 1)
  t.match(edit.stderr, /denied the request: spec\.agentRef: Forbidden: may not change once the run is accepted/)
  t.comment(edit.stderr.trim())
  const cancel = await kubectl(['patch', '-n', NS, resource, '--type=merge', '-p', '{"spec":{"cancel":true}}'])
  t.equal(cancel.code, 0, cancel.stderr)
})

t.test('rule 5b: a blocked Secret is refused, naming only the blocked entry', async (t) => {
  const run = JSON.stringify({ ...SPECS.AgentRun, kind: 'AgentRun', metadata: { name: 'secrets' }, spec: { ...SPECS.AgentRun.spec, secrets: ['github-token', 'prod-db'] } })
  const r = await kubectl(['apply', '-n', NS, '-f', '-'], run)
  t.equal(r.code, 1)
  t.match(r.stderr, /denied the request: spec\.secrets\[1\]: Forbidden: secret "prod-db" is blocked by controller policy/)
  t.notMatch(r.stderr, /github-token/, 'the other Secret names are not shown')
  const events = await waitUntil('SecretBlocked InvalidSpec Event', { timeoutMs: 20_000 }, async () => {
    const list = await cp.kubectl(['get', 'events.events.k8s.io', '-n', NS, '--field-selector', 'reason=InvalidSpec', '-o', 'jsonpath={.items[*].note}'])
    return list.stdout.includes('prod-db') ? list.stdout : undefined
  })
  t.notMatch(events, /github-token/, 'nor in the Event')
})

t.test('runguard down: controllers keep writing, the status policy keeps refusing people', async (t) => {
  const running = await runWithStatus('AgentRun', 'outage', { phase: 'Running', startedAt: '2026-11-28T10:00:00.417Z' })
  await rg.stopWebhook()

  const create = await kubectl(['apply', '-n', NS, '-f', '-'], JSON.stringify({ ...SPECS.AgentRun, kind: 'AgentRun', metadata: { name: 'while-down' } }))
  t.equal(create.code, 1, "a person's write fails closed")
  t.match(create.stderr, /failed calling webhook "mutate\.runguard\.proompteng\.ai"/)

  const person = await patchStatus(running, { startedAt: '2020-01-01T00:00:00Z' })
  t.equal(person.code, 1)
  t.match(person.stderr, /failed calling webhook "mutate\.runguard\.proompteng\.ai"/, 'people still meet the webhook first')

  const controller = await patchStatus(running, { phase: 'Succeeded', finishedAt: '2026-11-28T10:05:00.000Z' }, asController)
  t.equal(controller.code, 0, `the controller's status write succeeds while runguard is down: ${controller.stderr}`)
  t.equal((await statusOf(running)).phase, 'Succeeded')
  const controllerCreate = await kubectl(['apply', '-n', NS, ...asController, '-f', '-'], JSON.stringify({ ...SPECS.ToolRun, kind: 'ToolRun', metadata: { name: 'child-while-down' } }))
  t.equal(controllerCreate.code, 0, `the controller creates child runs while runguard is down: ${controllerCreate.stderr}`)

  // Uninstalled webhooks: only the ValidatingAdmissionPolicy is left, and it still refuses people.
  await cp.kubectl(['delete', 'mutatingwebhookconfiguration/runguard-mutating', 'validatingwebhookconfiguration/runguard-validating'])
  const refused = await waitUntil('policy denial without webhooks', { timeoutMs: 20_000 }, async () => {
    const attempt = await patchStatus(running, { startedAt: '2020-01-01T00:00:00Z' })
    return attempt.stderr.includes('failed calling webhook') ? undefined : attempt
  })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /ValidatingAdmissionPolicy 'runguard-status-invariants' with binding 'runguard-status-invariants' denied request: status\.startedAt is immutable/)
  t.comment(refused.stderr.trim())
  const resurrect = await patchStatus(running, { phase: 'Running' })
  t.equal(resurrect.code, 1)
  t.match(resurrect.stderr, /status\.phase is terminal/)
  // Every rule of the policy's one validation, each named in the message of a write that breaks it alone.
  const finished = await patchStatus(running, { finishedAt: '2026-11-28T10:06:00.000Z' })
  t.equal(finished.code, 1)
  t.match(finished.stderr, /denied request: status\.finishedAt is immutable once set/)
  const generation = await runWithStatus('AgentRun', 'outage-generation', { phase: 'Running', observedGeneration: 1 })
  const decrease = await patchStatus(generation, { observedGeneration: 0 })
  t.equal(decrease.code, 1)
  t.match(decrease.stderr, /denied request: status\.observedGeneration may not decrease/)
  const both = await patchStatus(running, { startedAt: '2020-01-01T00:00:00Z', phase: 'Running' })
  t.equal(both.code, 1)
  t.match(both.stderr, /denied request: status\.startedAt is immutable once set/, 'two rules broken: the first is named')
  const unchanged = await patchStatus(generation, { observedGeneration: 1, message: 'a person may still write what breaks no rule' })
  t.equal(unchanged.code, 0, unchanged.stderr)
  const breakGlass = await patchStatus(running, { finishedAt: null, phase: 'Failed' }, ['--as', 'oncall', '--as-group', 'developers'])
  t.equal(breakGlass.code, 0, `break-glass is exempt from the policy: ${breakGlass.stderr}`)
  t.equal((await statusOf(running)).phase, 'Failed', 'the hand repair stands')
  const repaired = await patchStatus(running, { startedAt: '2026-11-28T10:00:01Z', message: 'from the Job' }, asController)
  t.equal(repaired.code, 0, `the controller is never refused by the policy: ${repaired.stderr}`)
  t.equal((await statusOf(running)).message, 'from the Job')
})
