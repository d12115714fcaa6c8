/**
 * jobs.mutate.runguard.proompteng.ai — SPEC §3 Job TTL hold: a Job created for a run keeps no
 * TTL until the reconciler has seen the run's result collected.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { holdJobTtl } from '../src/admission/mutators/job-ttl.ts'
import { JOB_RUN_LABELS } from '../src/kube/run-kinds.ts'
import { jobObjectSchema } from './schemas.ts'

export const mutateJobs: WebhookDefinition = {
  name: 'jobs.mutate.runguard.proompteng.ai',
  mode: 'mutating',
  path: '/mutate',
  // A Job must never fail to be created because runguard is down: the worst case without us is
  // that a Job keeps its own TTL, which is upstream's behaviour today.
  failurePolicy: 'Ignore',
  sideEffects: 'None',
  timeoutSeconds: 3,
  reinvocationPolicy: 'Never',
  // Only Jobs that belong to a run are sent to us; every other Job in the cluster skips the call.
  matchConditions: [
    {
      name: 'run-owned-job',
      expression: `has(object.metadata.labels) && (${JOB_RUN_LABELS.map((l) => `'${l}' in object.metadata.labels`).join(' || ')})`,
    },
  ],
  routes: [
    {
      name: 'job-ttl-hold',
      groups: ['batch'],
      versions: ['v1'],
      resources: ['jobs'],
      subResource: '',
      operations: ['CREATE'],
      validators: [],
      mutators: [holdJobTtl],
      mutates: ['metadata', 'spec'],
      objectSchema: jobObjectSchema,
      breakGlass: false,
      reportsInvalidSpec: false,
    },
  ],
}
