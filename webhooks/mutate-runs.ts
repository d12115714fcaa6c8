/**
 * mutate.runguard.proompteng.ai — SPEC §2 rules 10–12 (status stamps) and the spec cancel
 * normalisation, for AgentRun, OrchestrationRun and ToolRun.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { normaliseCancel } from '../src/admission/mutators/spec.ts'
import { mutateStatus } from '../src/admission/mutators/status.ts'
import { validateCancel } from '../src/admission/rules/spec-cancel.ts'
import { validateStatus } from '../src/admission/rules/status.ts'
import { runSpecRoute, runStatusRoute } from './routes.ts'
import { statusWriteCondition } from './status-skip.ts'

export const mutateRuns: WebhookDefinition = {
  name: 'mutate.runguard.proompteng.ai',
  mode: 'mutating',
  path: '/mutate',
  failurePolicy: 'Fail',
  sideEffects: 'NoneOnDryRun',
  timeoutSeconds: 5,
  // Controller identities get their own copy of this webhook with failurePolicy Ignore.
  splitByWriter: true,
  reinvocationPolicy: 'Never',
  // Status writes rules 6–12 leave untouched (no protected field, updatedAt already advanced by the
  // writer) are not sent: see status-skip.ts.
  matchConditions: [statusWriteCondition('mutating')],
  routes: [
    runSpecRoute({
      // Rules 1–3 have CEL backstops in the CRDs; denying here keeps runguard's message (and
      // its InvalidSpec Event) in front of CEL's.
      validators: [validateCancel],
      mutators: [normaliseCancel],
      mutates: ['spec'],
    }),
    runStatusRoute({
      // Rules 6 and 7 have CEL backstops; denying here shows the old and new values CEL cannot.
      validators: [validateStatus],
      mutators: [mutateStatus], // rules 10–12
      mutates: ['status'],
    }),
  ],
}
