/**
 * mutate.runguard.proompteng.ai — SPEC §2 rules 10–12 (status stamps) and the spec cancel
 * normalisation, for AgentRun, OrchestrationRun and ToolRun.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { normaliseCancel } from '../src/admission/mutators/spec.ts'
import { mutateStatus } from '../src/admission/mutators/status.ts'
import { validateCancel } from '../src/admission/rules/spec-cancel.ts'
import { validateStatus } from '../src/admission/rules/status.ts'
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
      // Rules 1–3 have CEL backstops in the CRDs; denying here keeps runguard's message (and
      // its InvalidSpec Event) in front of CEL's.
      validators: [validateCancel],
      mutators: [normaliseCancel],
      objectSchema: runObjectSchema,
      breakGlass: false,
      reportsInvalidSpec: true,
    },
    {
      name: 'run-status',
      groups: RUN_GROUPS,
      versions: RUN_VERSIONS,
      resources: RUN_RESOURCES,
      subResource: 'status',
      operations: ['UPDATE'],
      // Rules 6 and 7 have CEL backstops; denying here shows the old and new values CEL cannot.
      validators: [validateStatus],
      mutators: [mutateStatus], // rules 10–12
      objectSchema: runObjectSchema,
      // Break-glass repair may need to remove a wrong timestamp, which rule 12 would restore.
      breakGlass: true,
      reportsInvalidSpec: false,
    },
  ],
}
