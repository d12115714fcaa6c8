/**
 * Mutating — batch/v1 Job CREATE (SPEC §3 "Job TTL held until the result is collected", design
 * note 002): a run's Job gets its ttlSecondsAfterFinished parked in an annotation until the run's
 * controller has read its result. The hold itself lives in kube/job-ttl-hold.ts, shared with the
 * reconciler, which heals Jobs created while this webhook was not called.
 */
import type { MutationResult, Mutator, RuleContext } from '../types.ts'
import { NO_CHANGE_REPORT } from './report.ts'
import { holdJobTtlInPlace } from '../../kube/job-ttl-hold.ts'
import type { KubeObject } from '../../kube/objects.ts'

export const holdJobTtl: Mutator = (ctx: RuleContext, draft: KubeObject): MutationResult => {
  // The draft's metadata and spec are the route's own copies, so the hold may edit them in place.
  if (ctx.request.operation === 'CREATE') holdJobTtlInPlace(draft)
  return NO_CHANGE_REPORT
}
