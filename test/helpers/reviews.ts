/** Builders for realistic AdmissionReview bodies, shared by server tests and the benchmark. */
import { randomUUID } from 'node:crypto'
import type { AdmissionRequest, AdmissionReview, Operation } from '../../src/admission/types.ts'
import type { KubeObject } from '../../src/kube/objects.ts'

export function agentRun(name: string, spec: Record<string, unknown> = {}, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name, namespace: 'team-a', uid: randomUUID(), generation: 1, labels: { team: 'a' } },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' }, ...spec },
    ...extra,
  }
}

/** An AgentRun of roughly `targetBytes` of JSON: a workflow with steps and inline implementation text. */
export function largeAgentRun(name: string, targetBytes: number): KubeObject {
  const steps = []
  let size = 0
  for (let i = 0; size < targetBytes; i++) {
    const text = `Step ${i}: implement the change described in the issue, run the tests, and open a pull request. `.repeat(6)
    steps.push({
      name: `step-${i}`,
      parameters: { repository: 'proompteng/lab', branch: `feature/${i}`, attempt: String(i) },
      implementation: { inline: { text, summary: `step ${i}`, source: { provider: 'github', url: `https://example.invalid/issues/${i}` } } },
      workload: { image: 'registry.example/agents/runner:1.2.3', resources: { requests: { cpu: '500m', memory: '1Gi' } } },
    })
    size = JSON.stringify(steps).length
  }
  return agentRun(name, {
    runtime: { type: 'workflow', config: { ttlSecondsAfterFinished: 600 } },
    parameters: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`param${i}`, `value-${i}`])),
    workflow: { steps },
    workload: { image: 'registry.example/agents/runner:1.2.3' },
  })
}

export interface ReviewOptions {
  operation?: Operation
  subResource?: 'status'
  oldObject?: KubeObject
  dryRun?: boolean
  username?: string
  groups?: string[]
  uid?: string
}

export function reviewFor(object: KubeObject, options: ReviewOptions = {}): AdmissionReview {
  const [group, version] = (object.apiVersion ?? '').includes('/') ? (object.apiVersion as string).split('/') : ['', object.apiVersion ?? '']
  const plural = object.kind === 'Job' ? 'jobs' : `${(object.kind ?? '').toLowerCase()}s`
  const request: AdmissionRequest = {
    uid: options.uid ?? randomUUID(),
    kind: { group: group ?? '', version: version ?? '', kind: object.kind ?? '' },
    resource: { group: group ?? '', version: version ?? '', resource: plural },
    ...(options.subResource ? { subResource: options.subResource } : {}),
    name: object.metadata?.name,
    namespace: object.metadata?.namespace,
    operation: options.operation ?? (options.oldObject ? 'UPDATE' : 'CREATE'),
    userInfo: { username: options.username ?? 'system:serviceaccount:agents:controller', groups: options.groups ?? ['system:serviceaccounts'] },
    object,
    oldObject: options.oldObject ?? null,
    dryRun: options.dryRun ?? false,
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }
}

/** A status write: same object, `status` replaced. */
export function statusWrite(old: KubeObject, status: Record<string, unknown>, options: ReviewOptions = {}): AdmissionReview {
  return reviewFor({ ...old, status }, { ...options, oldObject: old, subResource: 'status', operation: 'UPDATE' })
}

export function decodePatch(patch: string | undefined): unknown {
  return patch ? JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) : undefined
}
