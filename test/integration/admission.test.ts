/**
 * End to end: a real kube-apiserver calls the real `runguard webhook` over TLS, and the tests
 * assert on what kubectl prints — the way users meet runguard.
 */
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { installRunguard, RUNGUARD_NAMESPACE } from '../harness/runguard.ts'
import { getHttp } from '../helpers/https.ts'

const cp = await startControlPlaneForTest(t)
const rg = await installRunguard(cp, { env: { AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: '5' } })
t.teardown(() => rg.stop())
const NS = 'e2e'
await cp.kubectl(['create', 'namespace', NS])

const kubectl = (args: string[], input?: string) => cp.kubectl(args, { allowFailure: true, input })
const apply = (yaml: string, ...flags: string[]) => kubectl(['apply', '-n', NS, ...flags, '-f', '-'], yaml)
const jsonpath = async (resource: string, path: string) => (await cp.kubectl(['get', '-n', NS, resource, '-o', `jsonpath={${path}}`])).stdout
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function orchestrationRun(name: string, spec = ''): string {
  return `apiVersion: orchestration.proompteng.ai/v1alpha1
kind: OrchestrationRun
metadata: {name: ${name}}
spec:
  orchestrationRef: {name: release}
${spec}`
}

/** A workflow AgentRun; upstream requires at least one step, so one is added unless `spec` has its own. */
function agentRun(name: string, spec = ''): string {
  const steps = spec.includes('workflow:') ? '' : '  workflow: {steps: [{name: main}]}\n'
  return `apiVersion: agents.proompteng.ai/v1alpha1
kind: AgentRun
metadata: {name: ${name}}
spec:
  agentRef: {name: codex}
  implementationSpecRef: {name: spec}
  runtime: {type: workflow}
${steps}${spec}`
}

const duplicateSteps = '  workflow:\n    steps:\n      - name: plan\n      - name: plan\n'

const patchStatus = (resource: string, status: object) =>
  kubectl(['patch', '-n', NS, resource, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })])

t.test('cancel is one-way: kubectl apply flipping spec.cancel back is denied with our message', async (t) => {
  t.equal((await apply(orchestrationRun('nightly', '  cancel: true\n'))).code, 0)
  const r = await apply(orchestrationRun('nightly', '  cancel: false\n'))
  t.equal(r.code, 1)
  t.match(r.stderr, /admission webhook "mutate\.runguard\.proompteng\.ai" denied the request: spec\.cancel: /)
  t.comment(r.stderr.trim())
})

t.test('cancel on a Succeeded run is admitted with a warning', async (t) => {
  t.equal((await apply(orchestrationRun('finished'))).code, 0)
  t.equal((await patchStatus('orchestrationrun/finished', { phase: 'Succeeded' })).code, 0)
  const r = await kubectl(['patch', '-n', NS, 'orchestrationrun/finished', '--type=merge', '-p', '{"spec":{"cancel":true}}'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /^Warning: .*no effect/m)
  t.comment(r.stderr.trim())
  t.equal(await jsonpath('orchestrationrun/finished', '.spec.desiredState'), 'Cancelled', 'cancel: true is normalised to desiredState: Cancelled')
})

t.test('status timestamps: stamped on transitions, immutable, restored, updatedAt advances', async (t) => {
  t.equal((await apply(agentRun('timed'))).code, 0)
  t.equal((await patchStatus('agentrun/timed', { phase: 'Pending' })).code, 0)
  const pendingUpdatedAt = await jsonpath('agentrun/timed', '.status.updatedAt')
  t.match(pendingUpdatedAt, /^\d{4}-\d\d-\d\dT/, 'updatedAt stamped on the first status write')
  t.equal(await jsonpath('agentrun/timed', '.status.startedAt'), '', 'no startedAt while Pending')

  await sleep(1100)
  t.equal((await patchStatus('agentrun/timed', { phase: 'Running' })).code, 0)
  const startedAt = await jsonpath('agentrun/timed', '.status.startedAt')
  t.match(startedAt, /^\d{4}-\d\d-\d\dT/, 'startedAt set on the first transition into Running')
  const runningUpdatedAt = await jsonpath('agentrun/timed', '.status.updatedAt')
  t.ok(Date.parse(runningUpdatedAt) > Date.parse(pendingUpdatedAt), `updatedAt advanced (${pendingUpdatedAt} → ${runningUpdatedAt})`)

  const overwrite = await patchStatus('agentrun/timed', { startedAt: '2020-01-01T00:00:00Z' })
  t.equal(overwrite.code, 1)
  t.match(overwrite.stderr, /admission webhook "mutate\.runguard\.proompteng\.ai" denied the request: status\.startedAt: /)
  t.match(overwrite.stderr, new RegExp(startedAt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'shows the old value')
  t.match(overwrite.stderr, /2020-01-01T00:00:00Z/, 'shows the new value')
  t.comment(overwrite.stderr.trim())

  await sleep(1100)
  t.equal((await patchStatus('agentrun/timed', { phase: 'Succeeded' })).code, 0)
  const finishedAt = await jsonpath('agentrun/timed', '.status.finishedAt')
  t.match(finishedAt, /^\d{4}-\d\d-\d\dT/, 'finishedAt set on the first transition into a terminal phase')
  t.ok(Date.parse(await jsonpath('agentrun/timed', '.status.updatedAt')) > Date.parse(runningUpdatedAt), 'updatedAt advanced again')

  const moveFinish = await patchStatus('agentrun/timed', { finishedAt: '2030-01-01T00:00:00Z' })
  t.equal(moveFinish.code, 1)
  t.match(moveFinish.stderr, /denied the request: status\.finishedAt: /)

  const resurrect = await patchStatus('agentrun/timed', { phase: 'Running' })
  t.equal(resurrect.code, 1)
  t.match(resurrect.stderr, /denied the request: status\.phase: .*Succeeded.*Running/)
  t.comment(resurrect.stderr.trim())

  // A careless full-status replace that drops startedAt keeps it.
  const current = JSON.parse((await cp.kubectl(['get', '-n', NS, 'agentrun/timed', '-o', 'json'])).stdout) as { status: Record<string, unknown> }
  delete current.status.startedAt
  const replace = await kubectl(['replace', '--subresource=status', '-f', '-'], JSON.stringify(current))
  t.equal(replace.code, 0, replace.stderr)
  t.match(replace.stderr, /^Warning: status\.startedAt/m)
  t.equal(await jsonpath('agentrun/timed', '.status.startedAt'), startedAt, 'startedAt restored')
})

async function invalidSpecEvents(name: string): Promise<Array<{ series?: { count: number }; deprecatedCount?: number; note?: string }>> {
  const r = await cp.kubectl(['get', 'events.events.k8s.io', '-n', NS, '--field-selector', `regarding.name=${name},reason=InvalidSpec`, '-o', 'json'])
  return (JSON.parse(r.stdout) as { items: Array<{ series?: { count: number }; note?: string }> }).items
}

t.test('an invalid AgentRun is denied and an InvalidSpec Event is recorded', async (t) => {
  const r = await apply(agentRun('dup-steps', duplicateSteps))
  t.equal(r.code, 1)
  t.match(r.stderr, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request: spec\.workflow\.steps\[1\]\.name: Duplicate value: "plan"/)
  t.comment(r.stderr.trim())
  const events = await waitUntil('InvalidSpec Event', { timeoutMs: 20_000 }, async () => {
    const items = await invalidSpecEvents('dup-steps')
    return items.length > 0 ? items : undefined
  })
  t.equal(events.length, 1)
  t.match(events[0]?.note, /spec\.workflow\.steps\[1\]\.name/)
  const shown = await cp.kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=InvalidSpec'])
  t.match(shown.stdout, /Warning\s+InvalidSpec\s+agentrun\/dup-steps/)
  t.comment(shown.stdout.trim())
})

t.test('--dry-run=server is denied the same way but records no Event', async (t) => {
  const r = await apply(agentRun('dry-dup', duplicateSteps), '--dry-run=server')
  t.equal(r.code, 1)
  t.match(r.stderr, /denied the request: spec\.workflow\.steps\[1\]\.name/)
  // Give a (wrongly) sent Event time to arrive, then make sure there is none.
  await sleep(2000)
  t.same(await invalidSpecEvents('dry-dup'), [])
})

t.test('50 rapid invalid applies: Events bounded by the rate limit, repeats folded into the series', async (t) => {
  const results = []
  for (let batch = 0; batch < 5; batch++) {
    results.push(...(await Promise.all(Array.from({ length: 10 }, () => apply(agentRun('storm', duplicateSteps))))))
  }
  t.ok(results.every((r) => r.code === 1), 'all 50 denied')
  const events = await waitUntil('folded InvalidSpec Event', { timeoutMs: 20_000 }, async () => {
    const items = await invalidSpecEvents('storm')
    return items.length > 0 && (items[0]?.series?.count ?? 0) > 1 ? items : undefined
  })
  t.equal(events.length, 1, 'one Event object for one repeated problem')
  const count = events[0]?.series?.count ?? 0
  t.ok(count > 1 && count <= 50, `repeats folded into series.count (${count})`)
  const metrics = await getHttp(rg.webhookMetricsPort, '/metrics')
  t.match(metrics.body, /runguard_events_total\{reason="InvalidSpec",result="suppressed"\} [1-9]\d*/, 'repeats beyond the rate limit were suppressed')
  t.match(metrics.body, /runguard_events_total\{reason="InvalidSpec",result="sent"\} ([1-9]|10)\b/, 'at most the per-object budget was sent')
})

t.test('Job TTL hold: a labelled Job has ttlSecondsAfterFinished moved to the annotation', async (t) => {
  const job = `apiVersion: batch/v1
kind: Job
metadata:
  name: held-job
  labels: {agents.proompteng.ai/agent-run: timed}
spec:
  ttlSecondsAfterFinished: 120
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
`
  t.equal((await apply(job)).code, 0)
  t.equal(await jsonpath('job/held-job', '.spec.ttlSecondsAfterFinished'), '', 'no TTL on the Job while the result is uncollected')
  t.equal(await jsonpath('job/held-job', ".metadata.annotations['runguard\\.proompteng\\.ai/ttl-seconds-after-finished']"), '120')
  const plain = job.replace('held-job', 'plain-job').replace('  labels: {agents.proompteng.ai/agent-run: timed}\n', '')
  t.equal((await apply(plain)).code, 0)
  t.equal(await jsonpath('job/plain-job', '.spec.ttlSecondsAfterFinished'), '120', 'Jobs not owned by a run are untouched')
})

t.test('excluded namespaces are not intercepted', async (t) => {
  for (const ns of [RUNGUARD_NAMESPACE, 'kube-system']) {
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], agentRun('dup-excluded', duplicateSteps))
    t.equal(r.code, 0, `${ns}: ${r.stderr}`)
  }
})

t.test('webhook down: failurePolicy Fail gives a clear error; without the webhook the CRDs\' cancel CEL still holds', async (t) => {
  await rg.stopWebhook()
  const r = await apply(agentRun('while-down'))
  t.equal(r.code, 1)
  t.match(r.stderr, /failed calling webhook "mutate\.runguard\.proompteng\.ai"/)
  t.comment(r.stderr.trim())

  // Uninstalled (no webhook configurations): the CRDs' CEL rules still keep cancel one-way. (The
  // status backstop is the ValidatingAdmissionPolicy: test/integration/writers.test.ts.)
  await cp.kubectl(['delete', 'mutatingwebhookconfiguration/runguard-mutating', 'validatingwebhookconfiguration/runguard-validating'])
  const uncancel = await waitUntil('CEL denial without webhooks', { timeoutMs: 20_000 }, async () => {
    const attempt = await kubectl(['patch', '-n', NS, 'orchestrationrun/nightly', '--type=merge', '-p', '{"spec":{"cancel":false}}'])
    return attempt.stderr.includes('failed calling webhook') ? undefined : attempt
  })
  t.equal(uncancel.code, 1)
  t.match(uncancel.stderr, /spec\.cancel is one-way/)
  t.notMatch(uncancel.stderr, /admission webhook/)
  t.comment(uncancel.stderr.trim())
  t.equal(await jsonpath('orchestrationrun/nightly', '.spec.cancel'), 'true')
})
