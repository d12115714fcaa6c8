/**
 * validate.runguard.proompteng.ai — SPEC §2 rules 1–9 for AgentRun, OrchestrationRun and ToolRun.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { validateCancel } from '../src/admission/rules/spec-cancel.ts'
import { validateSpecPolicy } from '../src/admission/rules/spec-policy.ts'
import { validateStatus } from '../src/admission/rules/status.ts'
import { RUN_GROUPS, RUN_RESOURCES, RUN_VERSIONS } from './routes.ts'
import { runObjectSchema } from './schemas.ts'

export const validateRuns: WebhookDefinition = {
  name: 'validate.runguard.proompteng.ai',
  mode: 'validating',
  path: '/validate',
  failurePolicy: 'Fail',
  sideEffects: 'NoneOnDryRun',
  timeoutSeconds: 5,
  routes: [
    {
      name: 'run-spec',
      groups: RUN_GROUPS,
      versions: RUN_VERSIONS,
      resources: RUN_RESOURCES,
      subResource: '',
      operations: ['CREATE', 'UPDATE'],
      validators: [validateCancel, validateSpecPolicy], // rules 1–4, rule 5
      mutators: [],
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
      validators: [validateStatus], // rules 6–9
      mutators: [],
      objectSchema: runObjectSchema,
      breakGlass: true,
      reportsInvalidSpec: false,
    },
  ],
}
