/**
 * Issue 14, "memory back to its baseline afterwards", on a real `runguard webhook` process run
 * with the image's node flags and environment: a burst of the API server's largest reviews grows
 * its RSS; once it has idled for RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS, one memory-reducing
 * collection (src/idle-memory.ts) gives the pages back, and a second idle stretch with nothing new
 * causes no second one. Without the release, RSS stayed at its peak for as long as the process
 * idled (BENCHMARKS.md, "Malformed HTTP at volume").
 */
import t from 'tap'
import { imageEnv, imageNodeFlags } from '../harness/image-runtime.ts'
import { waitUntil } from '../harness/pods.ts'
import { largeAgentRun, reviewFor } from '../helpers/reviews.ts'
import { getMetricsPort, keepAlive, post, rssOf, startWebhook } from './webhook-process.ts'

const MiB = 2 ** 20
const IDLE_SECONDS = 2

async function metric(server: Parameters<typeof getMetricsPort>[0], name: string): Promise<number> {
  const text = (await getMetricsPort(server, '/metrics')).body
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN)
}

t.test('after a burst of large reviews the idle webhook gives its memory back, once', async (t) => {
  const server = await startWebhook({ nodeArgs: imageNodeFlags(), env: { ...imageEnv(), RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: String(IDLE_SECONDS) } })
  t.teardown(() => server.stop())
  // Start-up itself may grow past the first mark: let that settle before the burst.
  await new Promise((resolve) => setTimeout(resolve, (IDLE_SECONDS + 4) * 1000))
  const collectionsBefore = await metric(server, 'runguard_idle_memory_collections_total')
  const releasedBefore = await metric(server, 'runguard_idle_memory_released_bytes_total')
  const rssBefore = await rssOf(server)

  // 3 MiB objects, object and oldObject: ~6 MiB bodies, 4 at a time.
  const object = largeAgentRun('large', 3 * MiB)
  const body = JSON.stringify(reviewFor(object, { operation: 'UPDATE', oldObject: object }))
  const agent = keepAlive(server.ca, 4)
  t.teardown(() => agent.destroy())
  let peak = rssBefore
  for (let round = 0; round < 10; round++) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(server, '/validate', body, { agent, timeoutMs: 30_000 })))
    t.same(
      answers.map((a) => a.status),
      [200, 200, 200, 200],
      `round ${round}: answered`,
    )
    peak = Math.max(peak, await rssOf(server))
  }
  t.ok(peak - rssBefore > 20 * MiB, `the burst grew RSS: ${Math.round(rssBefore / MiB)} → ${Math.round(peak / MiB)} MiB`)

  await waitUntil('an idle memory collection', { timeoutMs: 60_000, intervalMs: 250 }, async () => ((await metric(server, 'runguard_idle_memory_collections_total')) > collectionsBefore ? true : undefined))
  const released = (await metric(server, 'runguard_idle_memory_released_bytes_total')) - releasedBefore
  const rssAfter = await rssOf(server)
  t.ok(released > 10 * MiB, `released ${Math.round(released / MiB)} MiB`)
  t.ok(rssAfter < peak - 10 * MiB, `RSS ${Math.round(peak / MiB)} → ${Math.round(rssAfter / MiB)} MiB (before the burst: ${Math.round(rssBefore / MiB)})`)
  t.equal(await metric(server, 'runguard_idle_memory_collection_seconds_count'), (await metric(server, 'runguard_idle_memory_collections_total')), 'each collection timed')

  // Idle on, nothing new: no second collection.
  const collections = await metric(server, 'runguard_idle_memory_collections_total')
  await new Promise((resolve) => setTimeout(resolve, (IDLE_SECONDS * 3 + 2) * 1000))
  t.equal(await metric(server, 'runguard_idle_memory_collections_total'), collections, 'one collection per burst')
})
