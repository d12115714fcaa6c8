/**
 * Issue 14, generated inputs: the admission handler (decodeReview → reviewAdmission on every path
 * of webhooks/index.ts, as the server's route runs it) never throws, always answers a well-formed
 * AdmissionReview carrying the request's uid, never fails inside a rule, and stays within a CPU
 * bound per case — over valid, near-valid and hostile run objects, old/new pairs written by people
 * and controllers, and hostile envelopes.
 */
import fc from 'fast-check'
import t from 'tap'
import { CONFIGS, anyPair, hostileEnvelope, nested, requestFor, type Json } from './arbitraries.ts'
import { apiServerRequest, runHandler } from './oracle.ts'
import { checkProperty, cpuBoundMs, preview, steadyCpuMs } from './property.ts'

const FILE = 'test/property/handler.test.ts'

// Warm up: ajv compiles its guards on first use; that is start-up, not per-request cost.
runHandler({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: apiServerRequest(requestFor(fc.sample(anyPair('valid'), { seed: 1, numRuns: 1 })[0]!)) }, CONFIGS.default!)

let slowest = { cpuMs: 0, bytes: 0, body: undefined as unknown }
/** Cases over the bound: flagged in a comment. Only a case over 4× the bound fails the test — a
 * quadratic path or a backtracking regex is orders of magnitude over, while a busy shared CI core
 * can stretch an honest case a few times even after re-measuring. */
const flagged: string[] = []

/** The handler property on one body: no violation, and the CPU of the slowest path within the bound. */
function handles(body: Json, configName: string): void {
  const config = CONFIGS[configName]!
  const run = runHandler(body, config)
  if (run.violations.length > 0) throw new Error(run.violations.join('\n'))
  const bytes = JSON.stringify(body).length
  const bound = cpuBoundMs(bytes)
  const cpuMs = steadyCpuMs(() => runHandler(body, config), bound, Math.max(...run.cpuMs), 5)
  if (cpuMs > slowest.cpuMs) slowest = { cpuMs, bytes, body }
  if (cpuMs > bound) flagged.push(`${cpuMs.toFixed(1)} ms for ${bytes} bytes (bound ${bound.toFixed(1)} ms): ${preview(body, 300)}`)
  if (cpuMs > 4 * bound) throw new Error(`${cpuMs.toFixed(1)} ms of CPU for a ${bytes}-byte review (bound ${bound.toFixed(1)} ms, failing at 4×)`)
}

const reviewOf = (request: unknown): Json => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: request as Json })

t.test('run objects and old/new pairs of every kind, flavour, writer and setting', async (t) => {
  checkProperty(
    t,
    'the handler answers every generated write',
    fc.property(anyPair(), (pair) => handles(reviewOf(apiServerRequest(requestFor(pair))), pair.configName)),
    700,
    FILE,
  )
  t.comment(`slowest case: ${slowest.cpuMs.toFixed(2)} ms CPU for ${slowest.bytes} bytes`)
  for (const line of flagged) t.comment(`over the CPU bound: ${line}`)
})

t.test('hostile AdmissionReview envelopes', async (t) => {
  checkProperty(
    t,
    'the handler answers or refuses (400) every envelope, never throws',
    fc.property(hostileEnvelope, fc.constantFrom(...Object.keys(CONFIGS)), (body, configName) => handles(body, configName)),
    500,
    FILE,
  )
})

t.test('bodies that are not AdmissionReviews at all', async (t) => {
  checkProperty(
    t,
    'decodeReview refuses them with a message',
    fc.property(fc.jsonValue({ maxDepth: 4 }), (body) => {
      const run = runHandler(body as Json, CONFIGS.default!)
      if (run.violations.length > 0) throw new Error(run.violations.join('\n'))
      if (run.answers.some((a) => a.outcome && typeof (body as { request?: unknown })?.request !== 'object')) throw new Error('a review without a request object was judged')
    }),
    300,
    FILE,
  )
})

t.test('values nested as deep as the API server decodes (10 000 levels)', async (t) => {
  const base = { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name: 'deep', namespace: 'agents', generation: 1, resourceVersion: '1' } }
  const spec = { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } }
  const stored = { ...base, spec, status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z', specHash: '0'.repeat(64) } }
  const deep = nested(10_000, 'mixed')
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown> | null, string]> = [
    ['CREATE, deep spec.runtime.config', { ...base, spec: { ...spec, runtime: { type: 'job', config: deep } } }, null, ''],
    ['CREATE, deep parameter value', { ...base, spec: { ...spec, parameters: { a: deep } } }, null, ''],
    ['UPDATE, deep runtime on an accepted run', { ...base, spec: { ...spec, runtime: { type: 'job', config: deep } }, status: stored.status }, stored, ''],
    ['status write, deep stepStatuses', { ...stored, status: { ...stored.status, stepStatuses: deep } }, stored, 'status'],
    ['status write, deep startedAt', { ...stored, status: { ...stored.status, startedAt: deep } }, stored, 'status'],
  ]
  const kind = { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' }
  const resource = { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' }
  for (const [name, object, oldObject, subResource] of cases) {
    const request = { uid: `deep-${name}`, kind, resource, ...(subResource ? { subResource } : {}), namespace: 'agents', operation: oldObject ? 'UPDATE' : 'CREATE', userInfo: { username: 'alice' }, object, oldObject }
    const run = runHandler(reviewOf(request), CONFIGS.default!)
    const validate = run.violations.filter((v) => v.startsWith('/validate'))
    const mutate = run.violations.filter((v) => v.startsWith('/mutate'))
    t.same(validate, [], `${name}: /validate judges it`)
    t.same(mutate, [], `${name}: /mutate judges it`)
  }
})
