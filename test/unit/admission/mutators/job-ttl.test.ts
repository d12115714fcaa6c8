/** SPEC §3 "Job TTL held until the result is collected": the Job CREATE mutator. */
import t from 'tap'

import { holdJobTtl } from '../../../../src/admission/mutators/job-ttl.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import { ANNOTATION_HELD_JOB_TTL, LABEL_AGENT_RUN, LABEL_TOOL_RUN } from '../../../../src/kube/run-kinds.ts'
import { context } from '../../../helpers/context.ts'

function job(parts: { labels?: unknown; annotations?: unknown; ttl?: unknown; spec?: unknown } = {}): KubeObject {
  const metadata: Record<string, unknown> = { name: 'run-1-job', namespace: 'agents' }
  if (parts.labels !== undefined) metadata.labels = parts.labels
  if (parts.annotations !== undefined) metadata.annotations = parts.annotations
  const spec = parts.spec ?? { template: { spec: { containers: [{ name: 'c', image: 'x' }] } }, ...(parts.ttl === undefined ? {} : { ttlSecondsAfterFinished: parts.ttl }) }
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: metadata as KubeObject['metadata'], spec: spec as KubeObject['spec'] }
}

function hold(obj: KubeObject, operation: Operation = 'CREATE'): KubeObject {
  const draft = structuredClone(obj)
  const { warnings } = holdJobTtl(context({ kind: 'Job', operation, newObject: obj }), draft)
  if (warnings.length > 0) throw new Error('unexpected warnings')
  return draft
}

t.test('AgentRun Job: TTL moved into the annotation', async (t) => {
  const out = hold(job({ labels: { [LABEL_AGENT_RUN]: 'run-1' }, ttl: 600 }))
  t.equal(out.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL], '600')
  t.notOk('ttlSecondsAfterFinished' in (out.spec ?? {}))
})

t.test('ToolRun Job: TTL moved, other annotations kept', async (t) => {
  const out = hold(job({ labels: { [LABEL_TOOL_RUN]: 'tool-1' }, annotations: { keep: 'me' }, ttl: 0 }))
  t.same(out.metadata?.annotations, { keep: 'me', [ANNOTATION_HELD_JOB_TTL]: '0' }, 'a TTL of 0 is held too')
  t.notOk('ttlSecondsAfterFinished' in (out.spec ?? {}))
})

t.test('TTL in the request replaces a stale annotation', async (t) => {
  const out = hold(job({ labels: { [LABEL_AGENT_RUN]: 'r' }, annotations: { [ANNOTATION_HELD_JOB_TTL]: '30' }, ttl: 900 }))
  t.equal(out.metadata?.annotations?.[ANNOTATION_HELD_JOB_TTL], '900')
})

t.test('existing annotation kept when the Job has no TTL', async (t) => {
  const input = job({ labels: { [LABEL_AGENT_RUN]: 'r' }, annotations: { [ANNOTATION_HELD_JOB_TTL]: '120' } })
  t.same(hold(input), input)
})

t.test('left untouched', async (t) => {
  const cases: Array<[string, KubeObject, Operation?]> = [
    ['unlabelled Job', job({ ttl: 600 })],
    ['Job with unrelated labels', job({ labels: { app: 'x', [`${LABEL_AGENT_RUN}-other`]: 'y' }, ttl: 600 })],
    ['orchestration label alone does not count', job({ labels: { 'agents.proompteng.ai/orchestration-run': 'o' }, ttl: 600 })],
    ['labelled Job without TTL', job({ labels: { [LABEL_AGENT_RUN]: 'r' } })],
    ['UPDATE is not touched', job({ labels: { [LABEL_AGENT_RUN]: 'r' }, ttl: 600 }), 'UPDATE'],
    ['non-integer TTL is left for the API server', job({ labels: { [LABEL_AGENT_RUN]: 'r' }, ttl: '600' })],
    ['garbage annotations', job({ labels: { [LABEL_AGENT_RUN]: 'r' }, annotations: ['x'], ttl: 600 })],
    ['garbage labels', job({ labels: 'agent-run', ttl: 600 })],
    ['garbage spec', job({ labels: { [LABEL_AGENT_RUN]: 'r' }, spec: 'x' })],
    ['no metadata', { apiVersion: 'batch/v1', kind: 'Job', spec: { ttlSecondsAfterFinished: 5 } }],
  ]
  for (const [name, input, operation] of cases) t.same(hold(input, operation), input, name)
})
