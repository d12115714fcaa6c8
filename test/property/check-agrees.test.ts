/**
 * Issue 14, generated inputs: `runguard check` (src/check.ts, its pure functions) and the webhook
 * give the same verdict, the same messages (as kubectl prints them) and the same warnings for the
 * same write. The webhook side is the API server's chain around the real handler — every mutating
 * path, the patch applied, the registry's status/spec split, every validating path — in-process for
 * the many cases, and through a real `runguard webhook` process over HTTPS for a handful per setting.
 */
import fc from 'fast-check'
import t from 'tap'
import type { AdmissionReview } from '../../src/admission/types.ts'
import { CONFIGS, CONFIG_ENVS, anyPair, requestFor, type Pair } from './arbitraries.ts'
import { apiServerRequest, compareCheck, inProcess, webhookChain, type Send } from './oracle.ts'
import { checkProperty, preview, SEED } from './property.ts'
import { keepAlive, makeCertificates, post, startWebhook } from './webhook-process.ts'

const FILE = 'test/property/check-agrees.test.ts'

let compared = 0
let skipped = 0

async function agrees(pair: Pair, send: Send): Promise<void> {
  const config = CONFIGS[pair.configName]!
  const request = apiServerRequest(requestFor(pair))
  const webhook = await webhookChain(request, pair.writer.kind, send)
  const result = compareCheck(pair, request, config, webhook)
  if ('skipped' in result) {
    skipped++
    return
  }
  compared++
  if (result.violations.length > 0) throw new Error(result.violations.join('\n'))
}

t.test('check and the webhook agree on generated writes (in-process)', async (t) => {
  const details = await fc.check(
    fc.asyncProperty(anyPair(), (pair) => agrees(pair, inProcess(CONFIGS[pair.configName]!))),
    { seed: SEED, numRuns: Number(process.env.PROPERTY_RUNS ?? 1) * 1_500, ...(process.env.PROPERTY_PATH ? { path: process.env.PROPERTY_PATH, endOnFailure: true } : {}) },
  )
  if (details.failed) {
    t.fail(
      [
        `check vs webhook: failed after ${details.numRuns} cases`,
        `seed ${details.seed}, path ${details.counterexamplePath}`,
        `replay: PROPERTY_SEED=${details.seed} PROPERTY_PATH=${details.counterexamplePath} npx tap --grep=${JSON.stringify(t.name)} ${FILE}`,
        `error: ${(details.errorInstance as Error)?.message}`,
        `counterexample: ${preview(details.counterexample)}`,
      ].join('\n'),
    )
  } else {
    t.pass(`${details.numRuns} cases, seed ${details.seed}: ${compared} compared, ${skipped} not judgeable by check (objects a kubectl apply could not send)`)
  }
  t.ok(compared > details.numRuns / 2, 'most generated writes are comparable')
})

t.test('check and a real webhook process agree over HTTPS', async (t) => {
  const certificates = makeCertificates()
  for (const [configName, env] of Object.entries(CONFIG_ENVS)) {
    const server = await startWebhook({ certificates, env })
    t.teardown(() => server.stop())
    const agent = keepAlive(server.ca)
    t.teardown(() => agent.destroy())
    const overHttps: Send = async (mode, request) => {
      const answer = await post(server, mode === 'mutating' ? '/mutate' : '/validate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }), { agent })
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 300)}`)
      return answer.json as AdmissionReview
    }
    const pairs = fc.sample(
      anyPair().map((p) => ({ ...p, configName })),
      { seed: SEED, numRuns: 40 },
    )
    let failures = 0
    for (const [i, pair] of pairs.entries()) {
      try {
        await agrees(pair, overHttps)
      } catch (err) {
        failures++
        t.fail(`${configName} case ${i}: ${(err as Error).message}\n${preview(pair, 1_500)}`)
      }
    }
    if (failures === 0) t.pass(`${configName}: ${pairs.length} writes, check = webhook over HTTPS`)
    t.equal(server.exitCode(), null, `${configName}: the server is still running`)
    await server.stop()
  }
})
