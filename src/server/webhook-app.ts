/**
 * The webhook's Fastify app: the health routes and, per path declared in `webhooks/`, one route
 * that is the HTTP adapter alone (STYLE §2) — decode the AdmissionReview, call the path's
 * AdmissionHandler, send the review it returns. Policy and decision reporting (metrics, Events,
 * the log line per decision) live in src/admission. What stays here is HTTP: body limit, content
 * type, malformed bodies (a JSON 4xx and one log line) and the request metrics by HTTP code.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { WebhookDefinition } from '../admission/definition.ts'
import { admissionHandlers, type AdmissionHandler } from '../admission/handler.ts'
import { reportDecisions, type AdmissionEventSink, type AdmissionObserver } from '../admission/observer.ts'
import { decodeReview } from '../admission/review.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { health } from './health.ts'
import { copyJsonBodiesIntoOneBuffer } from './json-body.ts'
import { DEFAULT_BODY_LIMIT } from './limits.ts'

export interface WebhookAppOptions {
  config: Config
  logger: Logger
  metrics: Metrics
  webhooks: readonly WebhookDefinition[]
  /** Where decisions are reported; default reportDecisions() with `events`, `metrics` and `logger`. */
  observer?: AdmissionObserver
  /** The event recorder for the default observer; undefined: Events are off. */
  events?: AdmissionEventSink | undefined
  /** Serving pair; without it the app serves plain HTTP, which only inject() uses (tests, bench). */
  https?: { cert: string; key: string }
  /** Largest AdmissionReview accepted; default DEFAULT_BODY_LIMIT. */
  bodyLimit?: number
  now?: () => Date
  /** Readiness beyond "the server is listening", e.g. false while draining. */
  isReady?: () => boolean
  /** True while shutting down: every answer carries `Connection: close` (see cmd/webhook.ts close()). */
  closesConnections?: () => boolean
}


export async function buildWebhookApp(options: WebhookAppOptions): Promise<FastifyInstance> {
  const { metrics, logger } = options
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  const app: FastifyInstance = Fastify({
    // Decisions are logged by the observer, one line each; Fastify's per-request child loggers
    // and request/response lines would cost on every admission call and double the output.
    logger: false,
    bodyLimit,
    // Slow or silent clients (slowloris) must not hold sockets: a whole request within 10 s, its
    // headers within 5 s, a TLS handshake within 5 s, checked every second. No idle-socket
    // timeout: closing an idle keep-alive connection races the API server writing into it.
    requestTimeout: 10_000,
    ...(options.https
      ? { https: { cert: options.https.cert, key: options.https.key, handshakeTimeout: 5_000, headersTimeout: 5_000, connectionsCheckingInterval: 1_000 } }
      : {}),
    return503OnClosing: true,
  })
  const closesConnections = options.closesConnections
  if (closesConnections) {
    app.addHook('onSend', async (_request, reply, payload) => {
      if (closesConnections()) reply.header('connection', 'close')
      return payload
    })
  }
  copyJsonBodiesIntoOneBuffer(app, bodyLimit)
  await app.register(health, { isReady: options.isReady })
  const handlers = admissionHandlers(options.webhooks, {
    config: options.config,
    observer: options.observer ?? reportDecisions({ metrics, logger, events: options.events }),
    now: options.now ?? (() => new Date()),
  })
  await app.register(admissionRoutes, { handlers, metrics, logger })
  return app
}

interface AdmissionRoutesOptions {
  handlers: readonly AdmissionHandler[]
  metrics: Metrics
  logger: Logger
}

async function admissionRoutes(app: FastifyInstance, { handlers, metrics, logger }: AdmissionRoutesOptions): Promise<void> {
  // The API server always sends application/json; anything else is a client mistake (415).
  app.removeContentTypeParser(['text/plain'])

  // Bodies refused before the route runs (bad JSON, wrong content type, too large) get a JSON 4xx
  // and one log line; a throw from the route is a 5xx with its stack.
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const statusCode = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    const webhook = request.routeOptions.url ?? request.url
    metrics.webhookRequests.inc({ webhook, code: String(statusCode) })
    if (statusCode >= 500) logger.error({ err, webhook }, 'admission request failed')
    else logger.warn({ webhook, statusCode, reason: err.code, error: err.message }, 'admission request rejected before review')
    void reply.code(statusCode).send({ message: err.message, code: err.code ?? 'Error' })
  })

  for (const handler of handlers) {
    app.post(
      handler.path,
      instrumented(metrics, handler.path, (request, reply) => {
        const trace = { started: process.hrtime.bigint(), id: () => traceId(request) }
        const decoded = decodeReview(request.body)
        if ('error' in decoded) {
          logger.warn({ webhook: handler.path, trace: trace.id(), error: decoded.error }, 'malformed admission review')
          reply.code(400)
          return { message: decoded.error, code: 'BadRequest' }
        }
        return handler.handle(decoded.request, trace)
      }),
    )
  }
}

/** Admission answers from memory, so a route is synchronous: no promise per request. */
type Route = (request: FastifyRequest, reply: FastifyReply) => unknown

/**
 * controller-runtime's webhook request metrics around one path's route: answers by HTTP code,
 * latency, requests in flight. A throw is counted by the error handler instead.
 */
function instrumented(metrics: Metrics, path: string, route: Route): Route {
  // Labelled children resolved once per path: every admission call touches these.
  const answered = metrics.webhookRequests.labels({ webhook: path, code: '200' })
  const latency = metrics.webhookLatency.labels({ webhook: path })
  const inFlight = metrics.webhookInFlight.labels({ webhook: path })
  answered.inc(0)
  return (request, reply) => {
    const endTimer = latency.startTimer()
    inFlight.inc()
    try {
      const answer = route(request, reply)
      if (reply.statusCode === 200) answered.inc()
      else metrics.webhookRequests.inc({ webhook: path, code: String(reply.statusCode) })
      return answer
    } finally {
      inFlight.dec()
      endTimer()
    }
  }
}

/** W3C trace context when the caller sent one, so our log line joins the API server's trace. */
function traceId(request: FastifyRequest): string {
  const header = request.headers.traceparent
  const parts = typeof header === 'string' ? header.split('-') : []
  return parts.length >= 4 && /^[0-9a-f]{32}$/.test(parts[1] ?? '') ? (parts[1] as string) : randomBytes(16).toString('hex')
}
