/**
 * Decision reporting. The admission handler (handler.ts) reports every decision once, to an
 * AdmissionObserver; reportDecisions() is the one runguard runs:
 *   metrics  runguard_admission_decisions_total, and the break-glass and status-repair counters;
 *   Events   InvalidSpec for spec-policy violations, StatusRepaired for a repaired controller
 *            write — sent asynchronously, never for a dry run (sideEffects: NoneOnDryRun);
 *   log      at most one line per decision, its message redacted like an Event's.
 * Nothing here knows about HTTP: the route hands over the request's start time and trace id.
 */
import { sanitizeMessage } from '../events/sanitize.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { formatFieldErrors } from './field-errors.ts'
import { repairWarning } from './mutators/status.ts'
import type { AdmissionRequest, Decision } from './types.ts'

/** Which webhook answered: the path is the metrics' `webhook` label, the definition name the log's. */
export interface DecisionRoute {
  path: string
  /** The definition whose route judged the request; `unhandled` when no route claims it. */
  webhook: string
}

/** What the HTTP adapter knows of a request that the log line needs. */
export interface RequestTrace {
  /** process.hrtime.bigint() when the request arrived; the log line reports the micros since. */
  started: bigint
  /** W3C trace id, or a fresh one; computed only when a line is written. */
  id: () => string
}

export interface AdmissionObserver {
  decided(request: AdmissionRequest, decision: Decision, route: DecisionRoute, trace: RequestTrace): void
}

/** What reporting needs of the event recorder (src/events): warning() returns at once and never throws. */
export interface AdmissionEventSink {
  warning(regarding: EventTarget, reason: string, message: string, options?: { action?: string }): void
}

export interface EventTarget {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
  uid?: string
}

export interface ReportOptions {
  metrics: Metrics
  logger: Logger
  /** Undefined when Events are off (no kube access, or switched off). */
  events?: AdmissionEventSink | undefined
}

export function reportDecisions({ metrics, logger, events }: ReportOptions): AdmissionObserver {
  const countDecision = decisionCounter(metrics)
  return {
    decided(request, decision, route, trace) {
      if (events && !request.dryRun) emitEvents(events, request, decision)
      countDecision(route.path, request, decision)
      if (decision.bypassedBy) metrics.breakGlassBypasses.inc({ kind: request.kind.kind, user: decision.bypassedBy })
      if (decision.repairs) {
        const { writer, repairs } = decision.repairs
        for (const { field, action } of repairs) metrics.statusRepairs.inc({ kind: request.kind.kind, field, action, writer })
      }
      logDecision(logger, request, decision, route, trace)
    },
  }
}

/** Labelled children resolved once per label set: every admission call touches one. */
function decisionCounter(metrics: Metrics): (path: string, request: AdmissionRequest, decision: Decision) => void {
  const children = new Map<string, { inc: () => void }>()
  return (path, request, decision) => {
    const labels = { webhook: path, kind: request.kind.kind, operation: request.operation, allowed: String(decision.allowed), reason: decision.reason }
    const key = `${labels.webhook}|${labels.kind}|${labels.operation}|${labels.allowed}|${labels.reason}`
    let child = children.get(key)
    if (!child) {
      child = metrics.admissionDecisions.labels(labels)
      children.set(key, child)
    }
    child.inc()
  }
}

function emitEvents(events: AdmissionEventSink, request: AdmissionRequest, decision: Decision): void {
  if (decision.invalidSpec.length > 0) {
    events.warning(eventTarget(request), 'InvalidSpec', formatFieldErrors(decision.invalidSpec), { action: 'Admission' })
  }
  if (decision.repairs) {
    const message = `status write by ${decision.repairs.writer} repaired: ${decision.repairs.repairs.map(repairWarning).join('; ')}`
    events.warning(eventTarget(request), 'StatusRepaired', message, { action: 'Admission' })
  }
}

/** The object an admission Event is about: the run being written. */
export function eventTarget(request: AdmissionRequest): EventTarget {
  const object = request.object ?? request.oldObject ?? undefined
  const kind = request.kind
  return {
    apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
    kind: kind.kind,
    name: request.name ?? object?.metadata?.name ?? object?.metadata?.generateName ?? '<unnamed>',
    namespace: request.namespace,
    // On CREATE the API server assigns a fresh uid to every attempt, for an object that was never
    // stored; naming it would split one repeated problem into a series per attempt.
    uid: request.operation === 'CREATE' ? undefined : object?.metadata?.uid,
  }
}

function logDecision(logger: Logger, request: AdmissionRequest, decision: Decision, route: DecisionRoute, trace: RequestTrace): void {
  const level = decision.bypassedBy || decision.reason === 'UnhandledResource' ? 'warn' : decision.allowed && !decision.repairs ? 'debug' : 'info'
  if (!logger.isLevelEnabled(level)) return
  const fields = {
    webhook: route.webhook,
    uid: request.uid,
    trace: trace.id(),
    kind: request.kind.kind,
    subResource: request.subResource,
    operation: request.operation,
    namespace: request.namespace,
    name: request.name,
    user: request.userInfo?.username,
    dryRun: request.dryRun === true,
    allowed: decision.allowed,
    reason: decision.reason,
    // Denial messages quote offending values; logs get the same redaction as Events.
    message: decision.message === undefined ? undefined : sanitizeMessage(decision.message),
    // Warnings quote values too (parameters, phases): the same redaction as messages and Events.
    warnings: decision.warnings.length > 0 ? decision.warnings.map(sanitizeMessage) : undefined,
    patchOps: decision.patch?.length,
    micros: Number((process.hrtime.bigint() - trace.started) / 1000n),
  }
  if (decision.bypassedBy) logger.warn({ ...fields, bypassedBy: decision.bypassedBy }, 'status rules bypassed by break-glass identity')
  else if (decision.reason === 'UnhandledResource') logger.warn(fields, 'admission request for a resource no webhook route handles; admitted')
  else if (!decision.allowed) logger.info(fields, 'admission denied')
  else if (decision.repairs) logger.info({ ...fields, writer: decision.repairs.writer, repairs: decision.repairs.repairs.map((r) => ({ field: r.field, action: r.action, detail: sanitizeMessage(repairWarning(r)) })) }, 'controller status write repaired')
  else logger.debug(fields, 'admission allowed')
}
