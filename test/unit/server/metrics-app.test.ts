/** The plain-HTTP metrics app: Prometheus text on /metrics, and the same health routes as the webhook. */
import t from 'tap'
import { createMetrics } from '../../../src/metrics.ts'
import { buildMetricsApp } from '../../../src/server/metrics-app.ts'

t.test('/metrics in the Prometheus text format; /livez; /readyz follows isReady', async (t) => {
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  let ready = false
  const app = buildMetricsApp(metrics, () => ready)
  t.teardown(() => app.close())

  const scrape = await app.inject('/metrics')
  t.equal(scrape.statusCode, 200)
  t.match(scrape.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(scrape.body, /runguard_build_info\{version="test",node_version="v24[^"]*",component="reconciler"\} 1/)

  t.equal((await app.inject('/livez')).body, 'ok')
  t.equal((await app.inject('/readyz')).statusCode, 503, 'not ready yet')
  ready = true
  t.equal((await app.inject('/readyz')).body, 'ok')
})
