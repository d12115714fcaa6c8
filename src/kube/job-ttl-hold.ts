/**
 * The Job-TTL hold (SPEC §3 "Job TTL held until the result is collected", design note 002), in one
 * place for both of its writers: the mutating webhook applies it when a run's Job is created
 * (src/admission/mutators/job-ttl.ts), and the reconciler heals a Job created while that webhook
 * was not called (failurePolicy Ignore: down, unreachable, or not registered yet).
 *
 * A Job labelled for an AgentRun or ToolRun must not be garbage-collected before the run's
 * controller has read its result, so its ttlSecondsAfterFinished is parked in the annotation
 * runguard.proompteng.ai/ttl-seconds-after-finished; the reconciler puts it back once the run is
 * terminal and the Job recorded (src/reconcile/job-ttl.ts).
 */
import { isJsonObject, type KubeObject } from './objects.ts'
import { ANNOTATION_HELD_JOB_TTL, JOB_RUN_LABELS } from './run-kinds.ts'

/**
 * Moves `job`'s ttlSecondsAfterFinished into the hold annotation, editing `job` in place (pass a
 * copy); true when it did. Untouched: a Job without a run label, without an integer TTL (anything
 * else is the API server's to reject, and moving it would change the error), or whose annotations
 * are not a mapping. The TTL wins over an annotation already there: it is what the creator asked
 * for in this very object.
 */
export function holdJobTtlInPlace(job: KubeObject): boolean {
  const metadata: unknown = job.metadata
  const spec: unknown = job.spec
  if (!isJsonObject(metadata) || !isJsonObject(spec)) return false
  const labels: unknown = metadata.labels
  if (!isJsonObject(labels) || !JOB_RUN_LABELS.some((label) => typeof labels[label] === 'string')) return false
  const ttl = spec.ttlSecondsAfterFinished
  if (typeof ttl !== 'number' || !Number.isInteger(ttl)) return false
  const annotations: unknown = metadata.annotations
  if (annotations !== undefined && annotations !== null && !isJsonObject(annotations)) return false
  metadata.annotations = { ...(annotations ?? {}), [ANNOTATION_HELD_JOB_TTL]: String(ttl) }
  delete spec.ttlSecondsAfterFinished
  return true
}
