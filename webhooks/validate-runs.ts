/**
 * validate.runguard.proompteng.ai — SPEC §2 rules 1–9 (with 5a and 5b) for AgentRun,
 * OrchestrationRun and ToolRun.
 */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { validateCancel } from '../src/admission/rules/spec-cancel.ts'
import { validateSpecImmutability } from '../src/admission/rules/spec-immutable.ts'
import { validateSpecPolicy } from '../src/admission/rules/spec-policy.ts'
import { validateRequiredReferences } from '../src/admission/rules/spec-required.ts'
import { validateBlockedSecrets } from '../src/admission/rules/spec-secrets.ts'
import { validateStatus } from '../src/admission/rules/status.ts'
import { runSpecRoute, runStatusRoute } from './routes.ts'
import { statusWriteCondition } from './status-skip.ts'

export const validateRuns: WebhookDefinition = {
  name: 'validate.runguard.proompteng.ai',
  mode: 'validating',
  path: '/validate',
  failurePolicy: 'Fail',
  sideEffects: 'NoneOnDryRun',
  timeoutSeconds: 5,
  // Controller identities get their own copy of this webhook with failurePolicy Ignore.
  splitByWriter: true,
  // Status writes whose final object rules 6–9 cannot refuse are not sent — including those the
  // mutating webhook just settled, so they cost one call, not two: see status-skip.ts.
  matchConditions: [statusWriteCondition('validating')],
  routes: [
    runSpecRoute({
      // rules 1–4, rule 5 (policy, then upstream's required references), 5b, 5a
      validators: [validateCancel, validateSpecPolicy, validateRequiredReferences, validateBlockedSecrets, validateSpecImmutability],
      mutators: [],
      mutates: [],
    }),
    runStatusRoute({
      validators: [validateStatus], // rules 6–9
      mutators: [],
      mutates: [],
      // A controller's status write is judged by the controllers' copy of the mutating webhook,
      // which repairs rules 6–8 and refuses what is malformed (rule 9) before any validation. Here
      // rules 6–9 could only warn a controller, so its copy of this webhook leaves status writes
      // out, and the API server spends nothing on them (issue 13, goal 6).
      peopleOnly: true,
    }),
  ],
}
