/**
 * /metrics on its own plain-HTTP port (SPEC §5), so scraping never competes with admission
 * traffic and needs no TLS. Health endpoints are served here too for probes that prefer HTTP.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics.ts'
import { health } from './health.ts'

export function buildMetricsApp(metrics: Metrics, isReady: () => boolean): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(body)
  })
  // Loaded with the app (listen, ready or inject), so callers keep a synchronous factory.
  void app.register(health, { isReady })
  return app
}
