/**
 * /metrics on its own plain-HTTP port (SPEC §5), so scraping never competes with admission
 * traffic and needs no TLS. Health endpoints are served here too for probes that prefer HTTP.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics.ts'

export function buildMetricsApp(metrics: Metrics, isReady: () => boolean): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(body)
  })
  app.get('/livez', async () => 'ok')
  app.get('/readyz', async (_request, reply) => (isReady() ? 'ok' : reply.code(503).send('not ready')))
  return app
}
