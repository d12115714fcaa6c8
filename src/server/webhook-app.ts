/**
 * The webhook HTTP adapter: decode → dispatch → encode, nothing else (STYLE §2). One Fastify
 * route per path declared in `webhooks/`; policy lives in src/admission and knows no HTTP.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { WebhookDefinition, WebhookMode } from '../admission/definition.ts'
import { formatFieldErrors } from '../admission/field-errors.ts'
import { repairWarning } from '../admission/mutators/status.ts'
import { decodeReview, reviewAdmission } from '../admission/review.ts'
import type { AdmissionRequest, Decision } from '../admission/types.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { sanitizeMessage } from '../events/sanitize.ts'
import type { Metrics } from '../metrics.ts'

/** What the webhook needs of the event recorder (src/events). Sending never blocks the answer. */
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

export interface WebhookAppOptions {
  config: Config
  logger: Logger
  metrics: Metrics
  events: AdmissionEventSink | undefined
  webhooks: readonly WebhookDefinition[]
  /** Serving pair; omitted only in tests that use inject(). */
  https?: { cert: string; key: string }
  /** The API server may send several MiB (object + oldObject); default 16 MiB. */
  bodyLimit?: number
  now?: () => Date
  /** Readiness beyond "the server is listening", e.g. false while draining. */
  isReady?: () => boolean
}

export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024

interface PathGroup {
  path: string
  mode: WebhookMode
  definitions: WebhookDefinition[]
}

/** Groups definitions by path; a path serving both modes is a definition bug, caught at start. */
export function groupByPath(webhooks: readonly WebhookDefinition[]): PathGroup[] {
  const groups = new Map<string, PathGroup>()
  for (const definition of webhooks) {
    const group = groups.get(definition.path)
    if (!group) {
      groups.set(definition.path, { path: definition.path, mode: definition.mode, definitions: [definition] })
    } else if (group.mode !== definition.mode) {
      throw new Error(`webhook ${definition.name}: path ${definition.path} already serves ${group.mode} webhooks`)
    } else {
      group.definitions.push(definition)
    }
  }
  return [...groups.values()]
}

/** W3C trace context when the caller sent one, so our log line joins the API server's trace. */
function traceId(request: FastifyRequest): string {
  const header = request.headers.traceparent
  const parts = typeof header === 'string' ? header.split('-') : []
  return parts.length >= 4 && /^[0-9a-f]{32}$/.test(parts[1] ?? '') ? (parts[1] as string) : randomBytes(16).toString('hex')
}

function eventTarget(request: AdmissionRequest): EventTarget {
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

export async function buildWebhookApp(options: WebhookAppOptions): Promise<FastifyInstance> {
  const { config, metrics, webhooks } = options
  const logger = options.logger
  const now = options.now ?? (() => new Date())
  const app: FastifyInstance = Fastify({
    // Our own logger writes the one line per decision; Fastify's per-request child loggers and
    // request/response lines would cost on every admission call and double the output.
    logger: false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key } } : {}),
    return503OnClosing: true,
  })

  // The API server always sends application/json; anything else is a client mistake (415).
  app.removeContentTypeParser(['text/plain'])

  // Malformed bodies (bad JSON, wrong content type, too large) get a JSON 4xx and one log line.
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const statusCode = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    const webhook = request.routeOptions.url ?? request.url
    metrics.webhookRequests.inc({ webhook, code: String(statusCode) })
    if (statusCode >= 500) logger.error({ err, webhook }, 'admission request failed')
    else logger.warn({ webhook, statusCode, reason: err.code, error: err.message }, 'admission request rejected before review')
    void reply.code(statusCode).send({ message: err.message, code: err.code ?? 'Error' })
  })

  app.get('/livez', async () => 'ok')
  app.get('/readyz', async (_request, reply) => {
    if (options.isReady && !options.isReady()) return reply.code(503).send('not ready')
    return 'ok'
  })

  for (const group of groupByPath(webhooks)) {
    const routes = group.definitions.flatMap((d) => d.routes)
    const webhookOf = new Map(group.definitions.flatMap((d) => d.routes.map((r) => [r, d.name] as const)))
    // Labelled children resolved once per path: every admission call touches these.
    const answered = metrics.webhookRequests.labels({ webhook: group.path, code: '200' })
    const latency = metrics.webhookLatency.labels({ webhook: group.path })
    const inFlight = metrics.webhookInFlight.labels({ webhook: group.path })
    const decisions = new Map<string, { inc: () => void }>()
    const countDecision = (labels: { kind: string; operation: string; allowed: string; reason: string }) => {
      const key = `${labels.kind}|${labels.operation}|${labels.allowed}|${labels.reason}`
      let child = decisions.get(key)
      if (!child) {
        child = metrics.admissionDecisions.labels({ webhook: group.path, ...labels })
        decisions.set(key, child)
      }
      child.inc()
    }
    answered.inc(0)

    app.post(group.path, async (request: FastifyRequest, reply: FastifyReply) => {
      const started = process.hrtime.bigint()
      const endTimer = latency.startTimer()
      inFlight.inc()
      try {
        const decoded = decodeReview(request.body)
        if ('error' in decoded) {
          metrics.webhookRequests.inc({ webhook: group.path, code: '400' })
          logger.warn({ webhook: group.path, trace: traceId(request), error: decoded.error }, 'malformed admission review')
          return reply.code(400).send({ message: decoded.error, code: 'BadRequest' })
        }
        const outcome = reviewAdmission(routes, group.mode, decoded.request, config, now())
        const { decision } = outcome
        const req = decoded.request
        emitEvents(options, req, decision)
        answered.inc()
        countDecision({
          kind: req.kind.kind,
          operation: req.operation,
          allowed: String(decision.allowed),
          reason: decision.reason,
        })
        if (decision.bypassedBy) metrics.breakGlassBypasses.inc({ kind: req.kind.kind, user: decision.bypassedBy })
        if (decision.repairs) {
          const { writer, repairs } = decision.repairs
          for (const { field, action } of repairs) metrics.statusRepairs.inc({ kind: req.kind.kind, field, action, writer })
        }
        logDecision(logger, {
          webhook: (outcome.route && webhookOf.get(outcome.route)) ?? 'unhandled',
          request: req,
          decision,
          trace: () => traceId(request),
          micros: Number((process.hrtime.bigint() - started) / 1000n),
        })
        return reply.code(200).send(outcome.review)
      } finally {
        inFlight.dec()
        endTimer()
      }
    })
  }
  return app
}

function emitEvents(options: WebhookAppOptions, request: AdmissionRequest, decision: Decision): void {
  // Dry runs promise no side effects (sideEffects: NoneOnDryRun), so they never emit Events.
  if (!options.events || request.dryRun) return
  if (decision.invalidSpec.length > 0) {
    options.events.warning(eventTarget(request), 'InvalidSpec', formatFieldErrors(decision.invalidSpec), { action: 'Admission' })
  }
  if (decision.repairs) {
    const message = `status write by ${decision.repairs.writer} repaired: ${decision.repairs.repairs.map(repairWarning).join('; ')}`
    options.events.warning(eventTarget(request), 'StatusRepaired', message, { action: 'Admission' })
  }
}

interface DecisionLog {
  webhook: string
  request: AdmissionRequest
  decision: Decision
  /** Computed only when a line is written: a random id per allowed request would be wasted. */
  trace: () => string
  micros: number
}

function logDecision(logger: Logger, { webhook, request, decision, trace, micros }: DecisionLog): void {
  const level = decision.bypassedBy || decision.reason === 'UnhandledResource' ? 'warn' : decision.allowed && !decision.repairs ? 'debug' : 'info'
  if (!logger.isLevelEnabled(level)) return
  const fields = {
    webhook,
    uid: request.uid,
    trace: trace(),
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
    warnings: decision.warnings.length > 0 ? decision.warnings : undefined,
    patchOps: decision.patch?.length,
    micros,
  }
  if (decision.bypassedBy) logger.warn({ ...fields, bypassedBy: decision.bypassedBy }, 'status rules bypassed by break-glass identity')
  else if (decision.reason === 'UnhandledResource') logger.warn(fields, 'admission request for a resource no webhook route handles; admitted')
  else if (!decision.allowed) logger.info(fields, 'admission denied')
  else if (decision.repairs) logger.info({ ...fields, writer: decision.repairs.writer, repairs: decision.repairs.repairs }, 'controller status write repaired')
  else logger.debug(fields, 'admission allowed')
}
