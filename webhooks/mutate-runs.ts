/**
 * mutate.runguard.proompteng.ai — SPEC §2 rules 10–12 (status stamps) and the spec cancel
 * normalisation, for AgentRun, OrchestrationRun and ToolRun.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { normaliseCancel } from '../src/admission/mutators/spec.ts'
import { mutateStatus } from '../src/admission/mutators/status.ts'
import { RUN_GROUPS, RUN_RESOURCES, RUN_VERSIONS } from './routes.ts'
import { runObjectSchema } from './schemas.ts'

export const mutateRuns: WebhookDefinition = {
  name: 'mutate.runguard.proompteng.ai',
  mode: 'mutating',
  path: '/mutate',
  failurePolicy: 'Fail',
  sideEffects: 'NoneOnDryRun',
  timeoutSeconds: 5,
  reinvocationPolicy: 'Never',
  routes: [
    {
      name: 'run-spec',
      groups: RUN_GROUPS,
      versions: RUN_VERSIONS,
      resources: RUN_RESOURCES,
      subResource: '',
      operations: ['CREATE', 'UPDATE'],
      validators: [],
      mutators: [normaliseCancel],
      objectSchema: runObjectSchema,
      breakGlass: false,
      reportsInvalidSpec: false,
    },
    {
      name: 'run-status',
      groups: RUN_GROUPS,
      versions: RUN_VERSIONS,
      resources: RUN_RESOURCES,
      subResource: 'status',
      operations: ['UPDATE'],
      validators: [],
      mutators: [mutateStatus], // rules 10–12
      objectSchema: runObjectSchema,
      // Break-glass repair may need to remove a wrong timestamp, which rule 12 would restore.
      breakGlass: true,
      reportsInvalidSpec: false,
    },
  ],
}
