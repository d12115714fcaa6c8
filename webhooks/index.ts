/** Every webhook runguard serves. The server's routes and the manifests are generated from this list. */
import type { WebhookDefinition } from '../src/admission/definition.ts'
import { mutateJobs } from './mutate-jobs.ts'
import { mutateRuns } from './mutate-runs.ts'
import { validateRuns } from './validate-runs.ts'

export const WEBHOOKS: readonly WebhookDefinition[] = [validateRuns, mutateRuns, mutateJobs]
export { admissionReviewSchema } from './schemas.ts'
export { EXCLUDED_NAMESPACES } from './routes.ts'
