/**
 * Issue 14, malformed HTTP at volume — the CI-sized run of bench/malformed-http.ts: 2,000 malformed
 * and hostile requests (truncated JSON, wrong content types, oversize bodies, broken framing,
 * smuggling, pipelining, TLS garbage, slowloris) against a real `runguard webhook` process on
 * loopback while valid reviews keep flowing. 0 crashes, 0 valid reviews failed, every bad request
 * answered 4xx or closed, no 5xx, bounded metric series, memory not running away.
 */
import t from 'tap'
import { runCampaign, totals } from './malformed-campaign.ts'
import { SEED } from './property.ts'
import { startWebhook } from './webhook-process.ts'

t.test('2,000 hostile requests while valid reviews flow', async (t) => {
  const server = await startWebhook()
  t.teardown(() => server.stop())
  const result = await runCampaign(server, {
    requests: 2_000,
    attackers: 6,
    validClients: 2,
    slowloris: 10,
    // The server's limits: headers and TLS handshake 5 s, a whole request 10 s, checked every second.
    slowWaitMs: 12_000,
    answerTimeoutMs: 15_000,
    deadlineMs: 90_000,
    oversizeStreams: 1,
    settleMs: 4_000,
    seed: SEED,
  })
  const sum = totals(result)
  t.comment(`hostile ${result.hostileRequests}: ${sum.answered4xx} answered 4xx, ${sum.answered2xx} answered 200 (well-formed JSON), ${sum.closed} closed, ${sum.timeouts} unanswered; valid ${result.valid.ok}/${result.valid.sent} (p99 ${result.valid.p99ms.toFixed(1)} ms); RSS ${result.rss.beforeMiB.toFixed(1)} → peak ${result.rss.peakMiB.toFixed(1)} → ${result.rss.settledMiB.toFixed(1)} MiB; heap used ${result.rss.heapBeforeMiB.toFixed(1)} → ${result.rss.heapSettledMiB.toFixed(1)} MiB; ${(result.durationMs / 1000).toFixed(1)} s`)

  t.equal(result.serverAlive, true, 'the server never crashed and still answers')
  t.equal(result.stoppedByDeadline, false, 'the campaign finished within its deadline')
  t.ok(result.hostileRequests >= 2_000, `${result.hostileRequests} hostile requests sent`)
  t.equal(result.valid.failed, 0, `valid reviews: ${result.valid.ok} answered correctly, none failed ${JSON.stringify(result.valid.failures)}`)
  t.ok(result.valid.ok > 100, 'valid reviews kept flowing throughout')
  t.equal(sum.answered5xx, 0, 'no bad request got a 5xx')
  t.equal(sum.timeouts, 0, 'every bad request was answered or its connection closed')
  const wrong = Object.entries(result.byScenario).filter(([, s]) => s.wrong > 0)
  t.same(
    wrong.map(([name, s]) => `${name}: ${s.examples.join(' | ')}`),
    [],
    'every bad request got the answer it should (a 4xx, a review for well-formed JSON, or a close)',
  )
  t.ok(result.requestMetricSeries <= 20, `request metric series stay bounded (${result.requestMetricSeries}); a path or query from the request never becomes a label`)
  // RSS does not drop back after a burst (V8 keeps the heap it grew); a leak shows as heap in use.
  t.ok(result.rss.heapSettledMiB <= result.rss.heapBeforeMiB + 40, `heap in use back near its baseline (${result.rss.heapBeforeMiB.toFixed(1)} → ${result.rss.heapSettledMiB.toFixed(1)} MiB)`)
  t.ok(result.rss.settledMiB <= result.rss.beforeMiB + 150, `RSS bounded (${result.rss.beforeMiB.toFixed(1)} → ${result.rss.settledMiB.toFixed(1)} MiB)`)

  // Slow or silent connections are closed by the server's request, header and handshake timeouts.
  const open = result.slow.map((s) => `${s.kind}: ${s.closedAfterMs.filter((ms) => ms === undefined).length}/${s.closedAfterMs.length} open after 12 s`)
  const allClosed = result.slow.every((s) => s.closedAfterMs.every((ms) => ms !== undefined))
  t.ok(allClosed, `slowloris connections are closed within the server’s timeouts (${open.join('; ')})`)
})
