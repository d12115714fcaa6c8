/**
 * SPEC §3 on the real control plane (Job, TTL-after-finished and garbage-collector controllers,
 * the runguard webhook holding Job TTLs at CREATE), with `runguard reconcile` as a child process:
 * - Job TTL release: held while the run runs, put back once the run is terminal and its status
 *   records the Job, then the real TTL-after-finished controller deletes the Job;
 * - JobMissing / WorkflowJobMissing after a Job is deleted early, reported once (also across
 *   resyncs), and no alarm for a Job that was never observed;
 * - retention: spec.ttlSecondsAfterFinished, ttl 0 kept (zero-TTL maximum 0), templates and the
 *   retain annotation kept, the per-namespace cap;
 * - namespace scoping;
 * - Forbidden: a reconciler whose RBAC does not allow deleting Jobs reports a Warning Event.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { startControlPlaneForTest } from '../harness/controlplane.ts'
import { completeJobPods, waitForGone, waitForJobCondition, waitUntil } from '../harness/pods.ts'
import { installRunguard } from '../harness/runguard.ts'
import {
  cancel,
  condition,
  create,
  eventsFor,
  get,
  jobManifest,
  jobPath,
  LEASE_NAMESPACE,
  metricValue,
  prepareCluster,
  runManifest,
  runPath,
  sleep,
  startReconcilerProcess,
  waitForLeader,
  waitForObject,
  writeStatus,
  type Obj,
} from './reconcile-harness.ts'

const NS = 'rc-jobs'
const NS_RETENTION = 'rc-retention'
const NS_OUTSIDE = 'rc-outside'
const NS_FORBIDDEN = 'rc-forbidden'
const GRACE_S = 2
const RESYNC_S = 3
const testStarted = Date.now()
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

const cp = await startControlPlaneForTest(t)
const webhook = await installRunguard(cp)
t.teardown(() => webhook.stop())
await prepareCluster(cp, [NS, NS_RETENTION, NS_OUTSIDE, NS_FORBIDDEN])
const reconciler = await startReconcilerProcess(cp, {
  name: 'reconciler-jobs',
  env: {
    AGENTS_CONTROLLER_NAMESPACES: `${NS},${NS_RETENTION}`,
    RUNGUARD_JOB_MISSING_GRACE_SECONDS: String(GRACE_S),
    RUNGUARD_RESYNC_SECONDS: String(RESYNC_S),
    RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE: '2',
    AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '600',
  },
})
t.teardown(() => reconciler.stop())
await waitForLeader([reconciler])
t.comment(`set-up: ${Date.now() - testStarted} ms`)

async function runningAgentRun(ns: string, name: string, status: Record<string, unknown> = {}, spec?: Record<string, unknown>): Promise<Obj> {
  const created = await create(cp, runPath('AgentRun', ns), runManifest('AgentRun', ns, name, spec ? { spec } : {}))
  await writeStatus(cp, runPath('AgentRun', ns, name), { phase: 'Running', ...status })
  return created
}

// Started first and finished last: the TTL-after-finished controller only acts 30 s (the clamp's
// minimum) after the Job completed.
let ttlDeleted: Promise<number> | undefined
t.test('Job TTL: held while the run runs, released when it is terminal, then the TTL controller deletes the Job', async (t) => {
  const run = await runningAgentRun(NS, 'ttl')
  const created = await create(cp, jobPath(NS), jobManifest(NS, 'ttl-job', 'ttl', { ownerUid: run.metadata.uid, ttlSecondsAfterFinished: 30 }))
  t.equal(created.spec?.ttlSecondsAfterFinished, undefined, 'the webhook took the TTL off the Job at CREATE')
  t.equal(created.metadata.annotations?.['runguard.proompteng.ai/ttl-seconds-after-finished'], '30', '… and parked it in the annotation')
  await completeJobPods(cp, NS, 'ttl-job', 'Succeeded')
  await waitForJobCondition(cp, NS, 'ttl-job', 'Complete')
  const completedAt = Date.now()
  await writeStatus(cp, runPath('AgentRun', NS, 'ttl'), { runtimeRef: { type: 'job', name: 'ttl-job', namespace: NS, jobObservedAt: now() } })
  await sleep(1500)
  t.equal((await get(cp, jobPath(NS, 'ttl-job')))?.spec?.ttlSecondsAfterFinished, undefined, 'the run is still Running: the Job keeps no TTL')

  await writeStatus(cp, runPath('AgentRun', NS, 'ttl'), { phase: 'Succeeded' })
  const released = await waitForObject(cp, jobPath(NS, 'ttl-job'), 'TTL on the Job', (o) => o.spec?.ttlSecondsAfterFinished !== undefined, { timeoutMs: 15_000 })
  t.equal(released.spec?.ttlSecondsAfterFinished, 30, 'the held value, put back once the run is terminal and recorded the Job')
  ttlDeleted = waitForGone(cp, jobPath(NS, 'ttl-job'), { timeoutMs: 60_000, intervalMs: 500 }).then(() => Date.now() - completedAt)

  // Precedence without an annotation: spec.runtime.config.ttlSecondsAfterFinished, clamped to ≥ 30 s.
  const second = await runningAgentRun(NS, 'ttl-spec', {}, { runtime: { type: 'job', config: { ttlSecondsAfterFinished: 5 } } })
  await create(cp, jobPath(NS), jobManifest(NS, 'ttl-spec-job', 'ttl-spec', { ownerUid: second.metadata.uid }))
  await writeStatus(cp, runPath('AgentRun', NS, 'ttl-spec'), { phase: 'Failed', runtimeRef: { type: 'job', name: 'ttl-spec-job', jobObservedAt: now() } })
  const fromSpec = await waitForObject(cp, jobPath(NS, 'ttl-spec-job'), 'TTL from spec', (o) => o.spec?.ttlSecondsAfterFinished !== undefined)
  t.equal(fromSpec.spec?.ttlSecondsAfterFinished, 30, 'spec.runtime.config value 5 clamped to 30')
})

t.test('JobMissing: a recorded Job deleted early is reported once; no alarm before a Job was observed', async (t) => {
  const lost = await runningAgentRun(NS, 'lost', { runtimeRef: { type: 'job', name: 'lost-job', namespace: NS, jobObservedAt: now() } })
  await create(cp, jobPath(NS), jobManifest(NS, 'lost-job', 'lost', { ownerUid: lost.metadata.uid }))
  await runningAgentRun(NS, 'unobserved', { runtimeRef: { type: 'job', name: 'never-created', namespace: NS } })
  await runningAgentRun(NS, 'steps', { workflow: { phase: 'Running', steps: [{ name: 'build', phase: 'Running', jobRef: { name: 'steps-build', namespace: NS }, jobObservedAt: now() }] } })
  await sleep(1000)
  t.equal(condition(await get(cp, runPath('AgentRun', NS, 'lost')), 'JobMissing'), undefined, 'no alarm while the Job exists')

  const deletedAt = Date.now()
  await cp.request('DELETE', jobPath(NS, 'lost-job'), { propagationPolicy: 'Background' })
  const reported = await waitForObject(cp, runPath('AgentRun', NS, 'lost'), 'JobMissing condition', (o) => condition(o, 'JobMissing')?.status === 'True', { timeoutMs: 20_000 })
  const after = Date.now() - deletedAt
  t.comment(`JobMissing reported ${after} ms after the delete (grace ${GRACE_S} s)`)
  t.ok(after >= GRACE_S * 1000 - 100, 'not before the grace period')
  t.equal(condition(reported, 'JobMissing')?.reason, 'JobMissing')
  t.match(condition(reported, 'JobMissing')?.message, `Job "${NS}/lost-job"`)
  t.equal(reported.status?.phase, 'Running', 'the phase is the run controller’s business')

  const steps = await waitForObject(cp, runPath('AgentRun', NS, 'steps'), 'WorkflowJobMissing', (o) => condition(o, 'JobMissing')?.status === 'True', { timeoutMs: 20_000 })
  t.equal(condition(steps, 'JobMissing')?.reason, 'WorkflowJobMissing', 'a workflow step’s Job: WorkflowJobMissing')

  // Several resyncs later: still one report per Job.
  await sleep(RESYNC_S * 1000 * 2 + 500)
  const events = await eventsFor(cp, NS, 'lost', 'JobMissing')
  t.equal(events.length, 1, 'one Event')
  t.equal(events[0]?.type, 'Warning')
  t.equal(events[0]?.series, undefined, 'not repeated on resync (no series)')
  t.equal((await eventsFor(cp, NS, 'steps', 'WorkflowJobMissing')).length, 1, 'WorkflowJobMissing Event')
  t.equal(condition(await get(cp, runPath('AgentRun', NS, 'unobserved')), 'JobMissing'), undefined, 'never observed: no condition')
  t.same(await eventsFor(cp, NS, 'unobserved'), [], 'never observed: no Event')
  const text = await reconciler.scrape()
  t.equal(metricValue(text, 'runguard_job_missing_total', { kind: 'AgentRun', reason: 'JobMissing' }), 1, 'runguard_job_missing_total{reason=JobMissing} 1')
  t.equal(metricValue(text, 'runguard_job_missing_total', { kind: 'AgentRun', reason: 'WorkflowJobMissing' }), 1, 'runguard_job_missing_total{reason=WorkflowJobMissing} 1')
})

t.test('retention: spec TTL after finishedAt, ttl 0 and templates and retained runs kept, at most N deletes per namespace per pass', async (t) => {
  const make = async (name: string, ttl: number, phase = 'Succeeded', annotations?: Record<string, string>) => {
    await create(cp, runPath('AgentRun', NS_RETENTION), runManifest('AgentRun', NS_RETENTION, name, { spec: { ttlSecondsAfterFinished: ttl }, ...(annotations ? { annotations } : {}) }))
    await writeStatus(cp, runPath('AgentRun', NS_RETENTION, name), { phase })
  }
  await make('keep', 1, 'Succeeded', { 'agents.proompteng.ai/retain': ' Forever ' })
  await make('template', 1, 'Succeeded', { 'agents.proompteng.ai/template': 'true' })
  await make('zero', 0, 'Succeeded')
  await make('still-running', 1, 'Running')
  const finishedAt = Date.now()
  await Promise.all(['old-1', 'old-2', 'old-3'].map((name) => make(name, 1)))
  await make('later', 8, 'Failed')
  const remaining = async () => {
    const list = await cp.request('GET', runPath('AgentRun', NS_RETENTION))
    return (list.body as { items: Obj[] }).items.map((o) => o.metadata.name).sort()
  }
  const firstPass = await waitUntil('the first pass', { timeoutMs: 20_000, intervalMs: 100 }, async () => {
    const names = await remaining()
    return names.filter((n) => n.startsWith('old-')).length <= 1 ? names : undefined
  })
  const firstPassAt = Date.now()
  t.equal(firstPass.filter((n) => n.startsWith('old-')).length, 1, 'the first pass deleted 2 of 3 (the cap), leaving one')
  const secondPassAt = await waitUntil('the next pass', { timeoutMs: 20_000, intervalMs: 100 }, async () => ((await remaining()).some((n) => n.startsWith('old-')) ? undefined : Date.now()))
  t.comment(`first pass ${firstPassAt - finishedAt} ms after finishing; the capped third run ${secondPassAt - firstPassAt} ms later (next pass window)`)
  t.ok(secondPassAt - firstPassAt >= 4_000, 'the rest waits for the next pass window (5 s), even though AgentRun events keep coming')
  const lateGone = await waitUntil('the later run', { timeoutMs: 30_000, intervalMs: 200 }, async () => ((await remaining()).includes('later') ? undefined : Date.now()))
  t.ok(lateGone - finishedAt >= 7_000, `spec.ttlSecondsAfterFinished 8 honoured (${lateGone - finishedAt} ms)`)
  t.same(await remaining(), ['keep', 'still-running', 'template', 'zero'], 'retained, template, ttl 0 (zero-TTL maximum 0) and running runs stay')
})

t.test('namespace scoping: runs outside AGENTS_CONTROLLER_NAMESPACES are not touched', async (t) => {
  await create(cp, runPath('AgentRun', NS_OUTSIDE), runManifest('AgentRun', NS_OUTSIDE, 'outside', { spec: { cancel: true } }))
  await writeStatus(cp, runPath('AgentRun', NS_OUTSIDE, 'outside'), { phase: 'Running' })
  await sleep(3000)
  const obj = await get(cp, runPath('AgentRun', NS_OUTSIDE, 'outside'))
  t.equal(obj?.status?.phase, 'Running')
  t.equal(condition(obj, 'Cancelled'), undefined)
})

t.test('Forbidden: RBAC denies deleting a Job → Warning Event Forbidden, retried, then CancelTimedOut', async (t) => {
  const sa = 'runguard-restricted'
  await cp.apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: LEASE_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: sa },
      rules: [
        { apiGroups: ['agents.proompteng.ai', 'orchestration.proompteng.ai', 'tools.proompteng.ai'], resources: ['agentruns', 'orchestrationruns', 'toolruns'], verbs: ['get', 'list', 'watch', 'patch'] },
        { apiGroups: ['agents.proompteng.ai', 'orchestration.proompteng.ai', 'tools.proompteng.ai'], resources: ['agentruns/status', 'orchestrationruns/status', 'toolruns/status'], verbs: ['get', 'update', 'patch'] },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'patch'] },
        { apiGroups: ['events.k8s.io', ''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: sa }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: LEASE_NAMESPACE }] },
  ])
  const tokenResponse = await cp.request('POST', `/api/v1/namespaces/${LEASE_NAMESPACE}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } })
  t.equal(tokenResponse.status, 201, 'token issued')
  const token = (tokenResponse.body as { status: { token: string } }).status.token
  const kubeconfigPath = join(cp.workDir, 'restricted.kubeconfig')
  await writeFile(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') } }],
      users: [{ name: sa, user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: sa } }],
      'current-context': 'test',
    }),
  )
  const restricted = await startReconcilerProcess(cp, {
    name: 'reconciler-restricted',
    kubeconfigPath,
    env: { AGENTS_CONTROLLER_NAMESPACES: NS_FORBIDDEN, RUNGUARD_LEASE_NAME: 'runguard-restricted', AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '4000', RUNGUARD_RETENTION_ENABLED: 'false' },
  })
  t.teardown(() => restricted.stop())
  await waitForLeader([restricted])

  const run = await runningAgentRun(NS_FORBIDDEN, 'denied')
  await create(cp, jobPath(NS_FORBIDDEN), jobManifest(NS_FORBIDDEN, 'denied-job', 'denied', { ownerUid: run.metadata.uid }))
  await cancel(cp, runPath('AgentRun', NS_FORBIDDEN, 'denied'))
  const events = await waitUntil('a Forbidden Event', { timeoutMs: 20_000 }, async () => {
    const found = await eventsFor(cp, NS_FORBIDDEN, 'denied', 'Forbidden')
    return found.length > 0 ? found : undefined
  })
  t.equal(events[0]?.type, 'Warning')
  t.match(events[0]?.note, /delete Job rc-forbidden\/denied-job failed: .*forbidden/)
  const done = await waitForObject(cp, runPath('AgentRun', NS_FORBIDDEN, 'denied'), 'CancelTimedOut', (o) => condition(o, 'Cancelled')?.reason === 'CancelTimedOut', { timeoutMs: 20_000 })
  t.match(condition(done, 'Cancelled')?.message, 'still running: Job rc-forbidden/denied-job')
  t.ok(await get(cp, jobPath(NS_FORBIDDEN, 'denied-job')), 'the Job is still there')
  const text = await restricted.scrape()
  t.ok((metricValue(text, 'controller_runtime_reconcile_errors_total', { controller: 'agentrun' }) ?? 0) >= 1, 'the failed reconciles were counted (and retried)')
  t.ok((metricValue(text, 'workqueue_retries_total', { name: 'agentrun' }) ?? 0) >= 1, 'retried with backoff')
})

t.test('the held-then-released Job is deleted by the real TTL-after-finished controller', async (t) => {
  t.ok(ttlDeleted, 'the TTL scenario ran')
  const ms = await ttlDeleted!
  t.comment(`Job deleted ${ms} ms after it completed (TTL 30 s)`)
  t.ok(ms >= 29_000, 'not before its TTL')
})

t.teardown(() => {
  t.comment(`total: ${Date.now() - testStarted} ms`)
})
