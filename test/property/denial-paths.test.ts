/**
 * Issue 14, generated inputs: every denial names at least one field path, and every path it names
 * exists in the object or in its old version (a `Required value` path must really be missing or
 * blank there) — so a user can always find what the message is about. Both webhooks, every kind,
 * flavour, writer and setting.
 */
import fc from 'fast-check'
import t from 'tap'
import { CONFIGS, anyPair, requestFor } from './arbitraries.ts'
import { apiServerRequest, checkDenialPaths, namedPaths, resolves, runHandler } from './oracle.ts'
import { checkProperty } from './property.ts'

const FILE = 'test/property/denial-paths.test.ts'

let denials = 0

t.test('denials name fields that exist', async (t) => {
  checkProperty(
    t,
    'every path a denial names resolves in the object or its old version',
    fc.property(anyPair(), (pair) => {
      const request = apiServerRequest(requestFor(pair))
      const run = runHandler({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: request as never }, CONFIGS[pair.configName]!)
      const violations = run.answers.flatMap((a) => (a.outcome ? checkDenialPaths(request, a.outcome).map((v) => `${a.path}: ${v}`) : []))
      denials += run.answers.filter((a) => a.outcome && !a.outcome.decision.allowed).length
      if (violations.length > 0) throw new Error(violations.join('\n'))
    }),
    2_000,
    FILE,
  )
  t.ok(denials > 300, `enough denials were judged (${denials})`)
})

t.test('the path reader itself', async (t) => {
  const obj = { spec: { parameters: { 'a.b': 1, 'x]y': 2, 'line\nbreak': 3 }, workflow: { steps: [{ name: 'n' }] } }, metadata: { labels: { 'app.kubernetes.io/name': 'x' } } }
  t.ok(resolves(obj, 'spec.parameters[a.b]').found)
  t.ok(resolves(obj, 'spec.parameters[x]y]').found, 'a key holding ]')
  t.ok(resolves(obj, 'spec.parameters[line\\nbreak]').found, 'an escaped control character')
  t.ok(resolves(obj, 'spec.workflow.steps[0].name').found)
  t.ok(resolves(obj, 'metadata.labels.app.kubernetes.io/name').found, 'a dotted key in a dotted path')
  t.notOk(resolves(obj, 'spec.parameters[nope]').found)
  t.same(namedPaths('[spec.cancel: Invalid value: "x": must be a boolean, status.phase: Unsupported value: "y": supported values: "a"]').map((p) => p.path), ['spec.cancel', 'status.phase'])
})
