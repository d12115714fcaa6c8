/**
 * /livez and /readyz (SPEC §6), the same on the webhook's HTTPS app and on every plain-HTTP
 * metrics app. A route group, so an ordinary encapsulated plugin.
 */
import type { FastifyInstance } from 'fastify'

export interface HealthOptions {
  /** Readiness beyond "the server is listening", e.g. false while draining; default always ready. */
  isReady?: () => boolean
}

export async function health(app: FastifyInstance, options: HealthOptions): Promise<void> {
  app.get('/livez', async () => 'ok')
  app.get('/readyz', async (_request, reply) => {
    if (!options.isReady || options.isReady()) return 'ok'
    reply.code(503)
    return 'not ready'
  })
}
