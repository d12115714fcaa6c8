/**
 * Mutating — batch/v1 Job CREATE (SPEC §3 "Job TTL held until the result is collected", design
 * note 002). A Job created for an AgentRun or ToolRun must not be garbage-collected before the
 * run's controller has read its result, so its ttlSecondsAfterFinished is parked in an
 * annotation; the reconciler puts it back once the run is terminal and the Job recorded.
 */
import type { MutationResult, Mutator, RuleContext } from '../types.ts'
import { NO_CHANGE_REPORT } from './report.ts'
import { isJsonObject, type KubeObject } from '../../kube/objects.ts'
import { ANNOTATION_HELD_JOB_TTL, JOB_RUN_LABELS } from '../../kube/run-kinds.ts'

export const holdJobTtl: Mutator = (ctx: RuleContext, draft: KubeObject): MutationResult => {
  if (ctx.request.operation !== 'CREATE') return NO_CHANGE_REPORT
  const metadata: unknown = draft.metadata
  const spec: unknown = draft.spec
  if (!isJsonObject(metadata) || !isJsonObject(spec)) return NO_CHANGE_REPORT
  const labels: unknown = metadata.labels
  if (!isJsonObject(labels) || !JOB_RUN_LABELS.some((label) => typeof labels[label] === 'string')) return NO_CHANGE_REPORT

  const ttl = spec.ttlSecondsAfterFinished
  // Anything but an integer is the API server's to reject; moving it would change the error.
  if (typeof ttl !== 'number' || !Number.isInteger(ttl)) return NO_CHANGE_REPORT
  const annotations: unknown = metadata.annotations
  if (annotations !== undefined && annotations !== null && !isJsonObject(annotations)) return NO_CHANGE_REPORT

  // The TTL the creator asked for in this very request is newer than any annotation it carries.
  metadata.annotations = { ...(annotations ?? {}), [ANNOTATION_HELD_JOB_TTL]: String(ttl) }
  delete spec.ttlSecondsAfterFinished
  return NO_CHANGE_REPORT
}
