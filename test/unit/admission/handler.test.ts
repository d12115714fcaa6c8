/**
 * src/admission/handler.ts without HTTP: one handler per path, dispatching over every definition
 * on that path, answering with an AdmissionReview and reporting each decision once.
 */
import t from 'tap'
import type { WebhookDefinition } from '../../../src/admission/definition.ts'
import { admissionHandlers, groupByPath } from '../../../src/admission/handler.ts'
import type { AdmissionRequest } from '../../../src/admission/types.ts'
import { loadConfig } from '../../../src/config.ts'
import { WEBHOOKS } from '../../../webhooks/index.ts'
import { recordingObserver } from '../../helpers/observe.ts'
import { agentRun, decodePatch, reviewFor } from '../../helpers/reviews.ts'

const config = loadConfig({})
const trace = { started: process.hrtime.bigint(), id: () => 'trace' }

t.test('one handler per path; a shared path dispatches over all its definitions', async (t) => {
  const observer = recordingObserver()
  const handlers = admissionHandlers(WEBHOOKS, { config, observer, now: () => new Date('2026-11-23T12:00:00.000Z') })
  t.same(handlers.map((h) => [h.path, h.mode]), [['/validate', 'validating'], ['/mutate', 'mutating']])
  const mutate = handlers.find((h) => h.path === '/mutate')
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'r-job', namespace: 'team-a', labels: { 'agents.proompteng.ai/agent-run': 'r' } },
    spec: { ttlSecondsAfterFinished: 300, template: { spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } } },
  }
  const review = mutate?.handle(reviewFor(job, { uid: 'uid-job' }).request as AdmissionRequest, trace)
  t.equal(review?.response?.uid, 'uid-job')
  t.same(decodePatch(review?.response?.patch), [
    { op: 'add', path: '/metadata/annotations', value: { 'runguard.proompteng.ai/ttl-seconds-after-finished': '300' } },
    { op: 'remove', path: '/spec/ttlSecondsAfterFinished' },
  ])
  t.same(observer.calls.map((c) => c.route), [{ path: '/mutate', webhook: 'jobs.mutate.runguard.proompteng.ai' }], 'the Job definition on /mutate judged it')
  t.equal(observer.calls[0]?.trace, trace, 'the trace is passed through untouched')
})

t.test('every decision is reported once, unhandled ones too', async (t) => {
  const observer = recordingObserver()
  const [validate] = admissionHandlers(WEBHOOKS.filter((w) => w.path === '/validate'), { config, observer, now: () => new Date() })
  validate?.handle(reviewFor(agentRun('a', { cancel: 'yes' })).request as AdmissionRequest, trace)
  validate?.handle(reviewFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }).request as AdmissionRequest, trace)
  t.same(
    observer.calls.map((c) => [c.route.webhook, c.decision.reason]),
    [
      ['validate.runguard.proompteng.ai', 'InvalidCancel'],
      ['unhandled', 'UnhandledResource'],
    ],
  )
})

t.test('groupByPath: definitions in their order; a path serving both modes is a definition bug', async (t) => {
  t.same(groupByPath(WEBHOOKS).map((g) => [g.path, g.definitions.map((d) => d.name)]), [
    ['/validate', WEBHOOKS.filter((w) => w.path === '/validate').map((w) => w.name)],
    ['/mutate', WEBHOOKS.filter((w) => w.path === '/mutate').map((w) => w.name)],
  ])
  const validating = WEBHOOKS.find((w) => w.mode === 'validating') as WebhookDefinition
  const clash = { ...(WEBHOOKS.find((w) => w.mode === 'mutating') as WebhookDefinition), path: validating.path }
  t.throws(() => groupByPath([validating, clash]), /path \/validate already serves validating webhooks/)
})
