/**
 * Fuzz benchmark (`npm run bench:fuzz`, issue 14): FUZZ_CASES (default 100 000) generated admission
 * cases through every property of test/property/oracle.ts — the handler on both paths (never
 * throws, a well-formed review with the uid, no rule failing inside, CPU per case), denials naming
 * fields that exist, the mutating webhook's patch = intent and idempotence, rules 10–12 and the
 * controller repairs against the validating webhook, and `runguard check` = the webhook — over
 * valid, near-valid and hostile AgentRun / OrchestrationRun / ToolRun writes by people and
 * controllers, hostile AdmissionReview envelopes and bodies that are no review at all.
 *
 * Prints the figures and a Markdown section for BENCHMARKS.md. A violation prints its case index:
 * `FUZZ_SEED=<seed> FUZZ_REPLAY=<case> npm run bench:fuzz` runs that one case again and prints it.
 *
 * Env: FUZZ_CASES (default 100000), FUZZ_SEED (default 20261123), FUZZ_REPLAY.
 * The floor per case is what the server's body parser does before any handler runs: JSON.parse of
 * the review's text.
 */
import { cpus } from 'node:os'
import fc from 'fast-check'
import { CONFIGS, anyPair, hostileEnvelope, requestFor, type Json, type Pair } from '../test/property/arbitraries.ts'
import { apiServerRequest, checkDenialPaths, checkMutation, checkMutatorThenValidator, compareCheck, inProcess, runHandler, webhookChain } from '../test/property/oracle.ts'
import { cpuBoundMs, steadyCpuMs, threadCpuMs } from '../test/property/property.ts'

const CASES = Number(process.env.FUZZ_CASES ?? 100_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_123)
/** FUZZ_REPLAY=<case index>: run only that case (same seed) and print it with what was found. */
const REPLAY = process.env.FUZZ_REPLAY === undefined ? undefined : Number(process.env.FUZZ_REPLAY)

type Case = { pair: Pair } | { envelope: Json } | { junk: Json }

const cases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 7, arbitrary: anyPair().map((pair) => ({ pair })) },
  { weight: 2, arbitrary: hostileEnvelope.map((envelope) => ({ envelope })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((junk) => ({ junk: junk as Json })) },
)

interface Violation {
  property: string
  index: number
  message: string
}

const violations: Violation[] = []
const counts = { handler: 0, denialPaths: 0, mutation: 0, stampRules: 0, check: 0, checkSkipped: 0, denials: 0, patched: 0 }
const handlerCpu: number[] = []
const floorCpu: number[] = []
const overBound: Array<{ index: number; cpuMs: number; bytes: number }> = []
let slowest = { index: -1, cpuMs: 0, bytes: 0 }
const pending: Array<Promise<void>> = []

function note(property: string, index: number, found: string[]): void {
  for (const message of found) violations.push({ property, index, message: message.slice(0, 400) })
}

let index = -1
const started = performance.now()
const cpuStarted = threadCpuMs()
fc.check(
  fc.property(cases, (c) => {
    index++
    const body: Json = 'pair' in c ? { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: apiServerRequest(requestFor(c.pair, `fuzz-${index}`)) as unknown as Json } : 'envelope' in c ? c.envelope : c.junk
    const config = 'pair' in c ? CONFIGS[c.pair.configName]! : CONFIGS.default!
    const bytes = JSON.stringify(body).length

    // 1. the handler, metered (the slowest path of the two; a case over the bound is measured again)
    const run = runHandler(body, config)
    counts.handler++
    note('handler', index, run.violations)
    const bound = cpuBoundMs(bytes)
    const cpuMs = steadyCpuMs(() => runHandler(body, config), bound, Math.max(...run.cpuMs))
    handlerCpu.push(cpuMs)
    if (cpuMs > slowest.cpuMs) slowest = { index, cpuMs, bytes }
    if (cpuMs > bound) overBound.push({ index, cpuMs, bytes })
    const text = JSON.stringify(body)
    const floor = () => JSON.parse(text) as unknown
    const f0 = threadCpuMs()
    floor()
    floorCpu.push(steadyCpuMs(floor, 1, threadCpuMs() - f0))
    if (REPLAY !== undefined) {
      process.stdout.write(`case ${REPLAY}: ${bytes} bytes, handler ${cpuMs.toFixed(3)} ms CPU (bound ${bound.toFixed(1)} ms), violations ${JSON.stringify(run.violations)}\n`)
      process.stdout.write(`${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 80)}…<${v.length} chars>` : v)).slice(0, 5_000)}\n`)
    }
    if (!('pair' in c)) return true

    // 2. denials name fields that exist
    const request = (body as unknown as { request: Parameters<typeof checkDenialPaths>[0] }).request
    for (const answer of run.answers) {
      if (!answer.outcome) continue
      if (!answer.outcome.decision.allowed) counts.denials++
      if (answer.outcome.decision.patch) counts.patched++
      counts.denialPaths++
      note('denial paths', index, checkDenialPaths(request, answer.outcome))
    }
    // 3. patch = intent, idempotence; rules 10–12 and controllers against the validator
    if (index % 2 === 0) {
      counts.mutation++
      note('mutation', index, checkMutation(request, config).violations)
      if (request.subResource === 'status') {
        counts.stampRules++
        note('mutating → validating', index, checkMutatorThenValidator(request, config, c.pair.writer.kind))
      }
    }
    // 4. runguard check = the webhook chain
    if (index % 4 === 1) {
      const i = index
      const pair = c.pair
      pending.push(
        webhookChain(request, pair.writer.kind, inProcess(config)).then((webhook) => {
          const result = compareCheck(pair, request, config, webhook)
          if ('skipped' in result) counts.checkSkipped++
          else {
            counts.check++
            note('check = webhook', i, result.violations)
          }
        }),
      )
    }
    return true
  }),
  { seed: SEED, ...(REPLAY === undefined ? { numRuns: CASES } : { numRuns: 1, path: String(REPLAY) }) },
)
if (REPLAY !== undefined) {
  process.stdout.write(`${JSON.stringify(violations, null, 2)}\n`)
  process.exit(0)
}
await Promise.all(pending)
const seconds = (performance.now() - started) / 1000
const cpuSeconds = (threadCpuMs() - cpuStarted) / 1000

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}
const fmt = (n: number, digits = 3) => n.toFixed(digits)
const byProperty = new Map<string, Violation[]>()
for (const v of violations) byProperty.set(v.property, [...(byProperty.get(v.property) ?? []), v])

const lines = [
  `## Fuzz: generated admission cases (issue 14)`,
  '',
  `Measured by \`npm run bench:fuzz\` (bench/fuzz.ts) on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, seed ${SEED}.`,
  '',
  `${CASES.toLocaleString('en')} generated cases (70 % writes by people, controllers and break-glass users — valid, near-valid and hostile AgentRun / OrchestrationRun / ToolRun objects and old/new pairs under three settings; 20 % hostile AdmissionReview envelopes; 10 % JSON that is no review), in one process, in ${fmt(seconds, 1)} s (${fmt(cpuSeconds, 1)} s CPU): **${Math.round(CASES / seconds).toLocaleString('en')} cases/s** with every property checked.`,
  '',
  '| property | cases checked | violations |',
  '|---|---|---|',
  `| handler never throws, well-formed review with the uid, no rule fails inside (both paths) | ${counts.handler.toLocaleString('en')} | ${byProperty.get('handler')?.length ?? 0} |`,
  `| every denial names a field that exists (${counts.denials.toLocaleString('en')} denials) | ${counts.denialPaths.toLocaleString('en')} | ${byProperty.get('denial paths')?.length ?? 0} |`,
  `| patch = the mutators' intent (fast-json-patch, validated), idempotent (${counts.patched.toLocaleString('en')} patches) | ${counts.mutation.toLocaleString('en')} | ${byProperty.get('mutation')?.length ?? 0} |`,
  `| rules 10–12 hold after mutation; validator never undoes it; controllers never refused for rules 6–9 | ${counts.stampRules.toLocaleString('en')} | ${byProperty.get('mutating → validating')?.length ?? 0} |`,
  `| \`runguard check\` = the webhook chain (verdict, messages, warnings) | ${counts.check.toLocaleString('en')} (+${counts.checkSkipped} not judgeable by check) | ${byProperty.get('check = webhook')?.length ?? 0} |`,
  '',
  'CPU per case for the handler (decode → review → encode, slowest of the two paths; process CPU time), beside its floor',
  '(JSON.parse of the same review text, which the server’s body parser does before any handler runs):',
  '',
  '| | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) |',
  '|---|---|---|---|---|',
  `| runguard handler | ${fmt(quantile(handlerCpu, 0.5))} | ${fmt(quantile(handlerCpu, 0.99))} | ${fmt(quantile(handlerCpu, 0.999))} | ${fmt(slowest.cpuMs)} (case ${slowest.index}, ${slowest.bytes.toLocaleString('en')} bytes) |`,
  `| floor: JSON.parse of the body | ${fmt(quantile(floorCpu, 0.5))} | ${fmt(quantile(floorCpu, 0.99))} | ${fmt(quantile(floorCpu, 0.999))} | ${fmt(Math.max(...floorCpu))} |`,
  '',
  `Cases over the CPU bound (5 ms + 1 ms per 15 KB of review, re-measured up to 3 times): ${overBound.length}${overBound.length > 0 ? ` — ${overBound.slice(0, 5).map((o) => `case ${o.index}: ${fmt(o.cpuMs, 1)} ms for ${o.bytes.toLocaleString('en')} bytes`).join('; ')}` : ''}.`,
  '',
]
if (violations.length > 0) {
  lines.push(`Violations (replay one: \`FUZZ_SEED=${SEED} FUZZ_REPLAY=<case> npm run bench:fuzz\`):`, '')
  for (const [property, list] of byProperty) lines.push(`- ${property}: ${list.length}, first at case ${list[0]?.index}: ${list[0]?.message}`)
  lines.push('')
}
lines.push(`Reproduce: \`npm run bench:fuzz\` (FUZZ_CASES, FUZZ_SEED to change the run).`)
process.stdout.write(`${lines.join('\n')}\n`)
process.exitCode = violations.length > 0 || overBound.length > 0 ? 1 : 0
