/**
 * The bugs the generated inputs of issue 14 found, each as the smallest example that failed before
 * its fix (the properties in this folder found them; these keep them found without a seed).
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import type { AdmissionRequest } from '../../src/admission/types.ts'
import { immutableSpecHash, immutableSpecSnapshot } from '../../src/admission/rules/spec-immutable.ts'
import { sanitizeMessage } from '../../src/events/sanitize.ts'
import { CONFIGS, anyJson, nested, type Json, type JsonObject } from './arbitraries.ts'
import { checkDenialPaths, runHandler } from './oracle.ts'
import fc from 'fast-check'
import { checkProperty } from './property.ts'

const FILE = 'test/property/regressions.test.ts'

function request(kind: 'AgentRun' | 'ToolRun', parts: Partial<AdmissionRequest>): AdmissionRequest {
  const group = kind === 'AgentRun' ? 'agents.proompteng.ai' : 'tools.proompteng.ai'
  return {
    uid: 'regression-1',
    kind: { group, version: 'v1alpha1', kind },
    resource: { group, version: 'v1alpha1', resource: `${kind.toLowerCase()}s` },
    namespace: 'agents',
    operation: 'CREATE',
    userInfo: { username: 'alice@example.com' },
    ...parts,
  }
}

const review = (req: AdmissionRequest) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req })
const agentRun = (spec: Json, status?: Json): JsonObject => ({
  apiVersion: 'agents.proompteng.ai/v1alpha1',
  kind: 'AgentRun',
  metadata: { name: 'run-1', namespace: 'agents', generation: 1, resourceVersion: '7' },
  spec,
  ...(status === undefined ? {} : { status }),
})
const validSpec = { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } }

t.test('a request whose kind is named like an Object.prototype member is judged, not answered with an internal error', async (t) => {
  // phasesOf(request.kind.kind) looked the kind up in a plain object: `constructor` found
  // Object(), and spreading it threw "own is not iterable" in rule 9 and in the status mutator.
  for (const kindName of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const old = agentRun(validSpec, { phase: 'Pending' })
    const req = request('AgentRun', { operation: 'UPDATE', subResource: 'status', object: { ...old, status: { phase: 'Bogus' } }, oldObject: old })
    req.kind.kind = kindName
    const run = runHandler(review(req), CONFIGS.default!)
    t.same(run.violations, [], `kind ${kindName}: no internal error, a well-formed answer`)
    const validate = run.answers.find((a) => a.path === '/validate')?.outcome?.decision
    t.equal(validate?.reason, 'InvalidPhase', `kind ${kindName}: rule 9 judges the phase`)
  }
})

t.test('a reference name that is set but not a string is "Invalid value", not "Required value"', async (t) => {
  // spec-required said `spec.toolRef.name: Required value` for `name: 42`, denying a field that is there.
  const req = request('ToolRun', { object: { apiVersion: 'tools.proompteng.ai/v1alpha1', kind: 'ToolRun', metadata: { name: 't', namespace: 'agents' }, spec: { toolRef: { name: 42 } } } })
  const run = runHandler(review(req), CONFIGS.default!)
  const outcome = run.answers.find((a) => a.path === '/validate')?.outcome
  t.equal(outcome?.decision.reason, 'MissingTool')
  t.match(outcome?.decision.message, /^spec\.toolRef\.name: Invalid value: 42: must be a string/)
  t.same(checkDenialPaths(req, outcome!), [])

  const agent = request('AgentRun', { object: agentRun({ agentRef: { name: ['codex'] }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'temporal', config: { workflowType: true, taskQueue: ' ' } } }) })
  const message = runHandler(review(agent), CONFIGS.default!).answers.find((a) => a.path === '/validate')?.outcome?.decision.message ?? ''
  t.match(message, /spec\.agentRef\.name: Invalid value: \["codex"\]: must be a string/)
  t.match(message, /spec\.runtime\.config\.workflowType: Invalid value: true: must be a string/)
  t.match(message, /spec\.runtime\.config\.taskQueue: Required value/, 'a blank string is still missing')

  const workflow = request('AgentRun', { object: agentRun({ ...validSpec, runtime: { type: 'workflow' }, workflow: { steps: { plan: { name: 'plan' } } } }) })
  const stepsMessage = runHandler(review(workflow), CONFIGS.default!).answers.find((a) => a.path === '/validate')?.outcome?.decision.message ?? ''
  t.match(stepsMessage, /spec\.workflow\.steps: Invalid value: \{"plan":\{"name":"plan"\}\}: must be a list/, 'steps that are not a list are not "required"')
  t.notMatch(stepsMessage, /spec\.workflow\.steps: Required value/)
})

t.test('a parameter key with a line break does not break the one-line denial message', async (t) => {
  const req = request('AgentRun', { object: agentRun({ ...validSpec, parameters: { 'line\nbreak': 1, 'tab\there': 2, 'sep\u2028x': 3 } }) })
  const run = runHandler(review(req), CONFIGS.default!)
  t.same(run.violations, [])
  const outcome = run.answers.find((a) => a.path === '/validate')?.outcome
  t.equal(outcome?.decision.allowed, false)
  t.notMatch(outcome?.decision.message, /[\n\r\t\u2028]/)
  t.match(outcome?.decision.message, /spec\.parameters\[line\\nbreak\]: Invalid value: 1/)
  t.same(checkDenialPaths(req, outcome!), [], 'the escaped key still names the field')
})

t.test('spec immutability (rule 5a) judges a spec nested 10 000 levels deep (the API server decodes that deep)', async (t) => {
  // The canonical JSON of the snapshot was built recursively: ~5 000 levels overflowed the stack.
  const accepted = { phase: 'Running', specHash: '0'.repeat(64), startedAt: '2026-11-23T10:00:00Z' }
  const old = agentRun({ ...validSpec, runtime: { type: 'job', config: nested(10_000, 'mixed') } }, accepted)
  const cancel = agentRun({ ...validSpec, runtime: { type: 'job', config: nested(10_000, 'mixed') }, cancel: true }, accepted)
  const edit = agentRun({ ...validSpec, runtime: { type: 'job', config: nested(9_999, 'object') } }, accepted)
  for (const [name, object, allowed] of [
    ['a cancel leaves the deep runtime as it was', cancel, true],
    ['a change deep inside the runtime', edit, false],
  ] as const) {
    const req = request('AgentRun', { operation: 'UPDATE', object, oldObject: old })
    const run = runHandler(review(req), CONFIGS.default!)
    const validate = run.answers.find((a) => a.path === '/validate')?.outcome?.decision
    t.not(validate?.reason, 'InternalError', `${name}: ${validate?.message}`)
    t.equal(validate?.allowed, allowed, `${name}: ${validate?.message}`)
    if (!allowed) t.match(validate?.message, /^spec\.runtime: Forbidden/)
  }
})

/** The recursive canonical JSON the hash was computed with before (upstream's canonicalizeForJsonHash). */
function canonicalBefore(value: unknown): unknown {
  if (value === null || value === undefined) return null
  if (Array.isArray(value)) return value.map(canonicalBefore)
  if (typeof value !== 'object') return value
  const output: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) output[key] = canonicalBefore(v)
  }
  return output
}

t.test('the depth-safe spec hash equals the recursive one upstream computes (status.specHash stays comparable)', async (t) => {
  const spec = fc.record({ agentRef: anyJson, runtime: anyJson, workflow: anyJson, secrets: anyJson, systemPrompt: anyJson, goal: anyJson, implementation: anyJson, vcsRef: anyJson }, { requiredKeys: [] })
  checkProperty(
    t,
    'immutableSpecHash = sha256(JSON.stringify(canonical(snapshot)))',
    fc.property(spec, (s) => {
      const obj = { spec: JSON.parse(JSON.stringify(s)) as JsonObject }
      const expected = createHash('sha256').update(JSON.stringify(canonicalBefore(immutableSpecSnapshot(obj)))).digest('hex')
      return immutableSpecHash(obj) === expected
    }),
    2_000,
    FILE,
  )
  // `__proto__` as an own key (JSON.parse makes one): the recursive version's assignment set a prototype and dropped it.
  const odd = JSON.parse('{"spec":{"runtime":{"__proto__":{"a":1},"type":"job"}}}') as JsonObject
  t.equal(immutableSpecHash(odd), createHash('sha256').update(JSON.stringify(canonicalBefore(immutableSpecSnapshot(odd)))).digest('hex'))
})

t.test('the sanitiser: four ways a secret got through (found by sanitize.test.ts)', async (t) => {
  const token = ['ghp', 'Xq7Rk2Lm9Np4Ts6Vw8Yz1Ab3Cd5Ef7Gh9Jk2L'].join('_')
  const blob = Buffer.from('a secret value long enough to be a base64 blob: 0123456789').toString('base64')
  const cases: Array<[string, string, string]> = [
    // A field error quotes a string value as JSON, so `password="x"` arrives with escaped quotes.
    ['a quoted value inside a JSON string', 'spec.cancel: Invalid value: "password=\\"Hunter2Hunter2\\"": must be a boolean', 'Hunter2Hunter2'],
    // A password may hold `@`; the credentials run to the last `@` before the host.
    ['a URL password with @ in it', 'git fetch https://deploy:p@ssW0rd-x9@github.com/o/r failed', 'ssW0rd-x9'],
    // `data=<blob>`: the `=` before the blob stopped the blob rule.
    ['a base64 blob after =', `data=${blob} end`, blob.slice(0, 20)],
    // Field errors show 64 characters of a value: a token after some text is cut below every token rule.
    ['a token cut short by a field error', `spec.cancel: Invalid value: "see the deploy notes for the runner token ${token.slice(0, 16)}...: must be a boolean`, token.slice(4, 16)],
  ]
  for (const [name, message, secretPart] of cases) t.notMatch(sanitizeMessage(message), secretPart, name)
})
