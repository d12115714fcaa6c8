/**
 * The status-write matchConditions (webhooks/status-skip.ts) as rendered into the webhook
 * configurations: on every run webhook, for both writers, within the API server's limits, naming
 * every protected field — and the one piece of the CEL whose correctness is arithmetic rather
 * than rule-by-rule, the canonical timestamp pattern and its string ordering, checked against
 * runguard's own RFC 3339 parser. What the API server does with the expressions is tested on a
 * real one in test/integration/match-conditions.test.ts.
 */
import fc from 'fast-check'
import t from 'tap'
import { renderAdmission, writerIdentities } from '../../../src/admission/manifests.ts'
import { loadConfig } from '../../../src/config.ts'
import { compareInstants, formatRfc3339, parseRfc3339 } from '../../../src/status/rfc3339.ts'
import { WEBHOOKS } from '../../../webhooks/index.ts'
import { CANONICAL_TIMESTAMP_PATTERN, settledStatusWrite, statusWriteCondition } from '../../../webhooks/status-skip.ts'

interface Entry {
  name: string
  rules: Array<{ resources: string[] }>
  matchConditions?: Array<{ name: string; expression: string }>
}

const config = loadConfig({ RUNGUARD_BREAK_GLASS_USERS: 'oncall' })
const docs = renderAdmission(WEBHOOKS, { target: { url: 'https://127.0.0.1:8443' }, excludedNamespaces: ['kube-system'], ...writerIdentities(config) })
const entries = docs.flatMap((d) => ((d as { webhooks?: Entry[] }).webhooks ?? []) as Entry[])
const canonical = new RegExp(CANONICAL_TIMESTAMP_PATTERN)

t.test('every run webhook that receives status writes carries its stage\'s status condition', async (t) => {
  const expected: Record<string, string> = {
    'mutate.runguard.proompteng.ai': 'not-a-controller.status-write-runguard-could-change',
    'controllers.mutate.runguard.proompteng.ai': 'controller-identity.status-write-runguard-could-change',
    'validate.runguard.proompteng.ai': 'not-a-controller.status-write-runguard-could-refuse',
  }
  for (const [name, condition] of Object.entries(expected)) {
    const entry = entries.find((e) => e.name === name)
    const own = WEBHOOKS.find((w) => name.endsWith(w.name))?.matchConditions?.[0]
    t.ok(entry?.rules.some((r) => r.resources.includes('agentruns/status')), `${name} receives status writes`)
    const rendered = entry?.matchConditions?.filter((c) => c.name === condition) ?? []
    t.equal(rendered.length, 1, `${name}: ${condition}`)
    t.ok(rendered[0]?.expression.endsWith(`&& (${own?.expression})`), `${name}: the whole status condition, after the identity test`)
    t.ok((entry?.matchConditions?.length ?? 0) <= 64, `${name}: within the API server's 64 matchConditions`)
  }
  const controllersValidate = entries.find((e) => e.name === 'controllers.validate.runguard.proompteng.ai')
  t.notOk(controllersValidate?.rules.some((r) => r.resources.some((resource) => resource.endsWith('/status'))), "controllers' status writes are not sent for validation")
  const jobs = entries.find((e) => e.name === 'jobs.mutate.runguard.proompteng.ai')
  t.same(jobs?.matchConditions?.map((c) => c.name), ['run-owned-job'], 'the Job webhook has no status condition')
  const names = entries.flatMap((e) => e.matchConditions ?? []).map((c) => c.name)
  t.ok(names.every((n) => /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(n)), 'names the API server accepts')
})

t.test('only status writes can be skipped; the identities play no part', async (t) => {
  for (const stage of ['mutating', 'validating'] as const) {
    const { expression } = statusWriteCondition(stage)
    // matchConditions are ANDed: the condition is "not a status write, or not settled".
    t.ok(expression.startsWith("!has(request.subResource) || request.subResource != 'status' || !("), `${stage}: every other request is sent`)
    t.notMatch(expression, /userInfo/, `${stage}: no identity in the skip (break-glass and controller writes that need runguard are not settled)`)
    t.notMatch(expression, /\\/, `${stage}: no backslash escapes inside CEL string literals`)
  }
})

t.test('the settled-write test names every field rules 6–12 judge', async (t) => {
  const mutating = settledStatusWrite('mutating')
  const validating = settledStatusWrite('validating')
  for (const field of ['startedAt', 'finishedAt', 'phase', 'observedGeneration', 'updatedAt']) {
    t.match(mutating, new RegExp(`object\\.status\\.\\??${field}`), `mutating: ${field}`)
    t.match(validating, new RegExp(`object\\.status\\.\\??${field}`), `validating: ${field}`)
  }
  for (const field of ['startedAt', 'finishedAt', 'phase']) {
    // Optional selection: equal when both are absent, or both present with equal values.
    const asStored = ` && object.status.?${field} == oldObject.status.?${field} && `
    t.ok(mutating.includes(asStored) && validating.includes(asStored), `${field}: exactly as stored (rules 6, 7, 11, 12)`)
  }
  t.match(mutating, 'object.status.?observedGeneration == oldObject.status.?observedGeneration', 'rule 8: carried along unchanged')
  t.match(mutating, 'object.status.observedGeneration <= object.metadata.generation', 'rule 8: not ahead')
  t.match(mutating, 'object.status.observedGeneration >= oldObject.status.observedGeneration', 'rule 8: not decreasing')
  t.match(mutating, 'object.status.updatedAt.substring(0, 19) > oldObject.status.updatedAt.substring(0, 19)', 'rule 10: the writer advanced updatedAt')
  t.notMatch(validating, 'substring', 'the validating stage does not need updatedAt advanced: it never stamps')
  t.match(mutating, "request.operation == 'UPDATE'")
  t.ok(mutating.length < 4096 && validating.length < 4096, `compact expressions (${mutating.length} and ${validating.length} characters)`)
})

/** The ordering the mutating condition applies to two canonical timestamps (written > stored). */
function celLater(written: string, stored: string): boolean {
  return written.slice(0, 19) > stored.slice(0, 19) || (written.length === stored.length && written > stored)
}

const canonicalTimestamp = fc
  .record({
    date: fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fraction: fc.constantFrom('', '.5', '.123', '.000', '.123456', '.123456789'),
  })
  .map(({ date, fraction }) => `${date.toISOString().slice(0, 19)}${fraction}Z`)

t.test('canonical timestamps: every match is a date-time runguard reads', async (t) => {
  // Every UTC date-time in the canonical spelling matches, but 29 February; every match parses.
  fc.assert(
    fc.property(canonicalTimestamp, (text) => (canonical.test(text) ? parseRfc3339(text) !== undefined : /-02-29T/.test(text))),
    { numRuns: 2000, seed: 13 },
  )
  // Arbitrary strings from the timestamp alphabet: whatever matches, runguard's parser reads.
  const lookalike = fc.stringMatching(/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{0,10})?[Zz+0-9:]{0,6}$/)
  fc.assert(fc.property(lookalike, (text) => !canonical.test(text) || parseRfc3339(text) !== undefined), { numRuns: 5000, seed: 13 })
  const rejected = ['2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00:00+01:00', '2026-01-01t00:00:00z', '2026-01-01T00:00:00.Z', '2026-01-01T00:00:00.1234567890Z', '2026-01-01 00:00:00Z', ' 2026-01-01T00:00:00Z']
  for (const text of rejected) t.notOk(canonical.test(text), `not canonical: ${JSON.stringify(text)}`)
  t.ok(canonical.test(formatRfc3339(new Date('2026-11-28T11:25:06.417Z'))), "runguard's and upstream's own stamps (toISOString) are canonical")
})

t.test('canonical timestamps: the string order the CEL uses never calls an earlier or equal instant later', async (t) => {
  const pair = fc.tuple(canonicalTimestamp, canonicalTimestamp).filter(([a, b]) => canonical.test(a) && canonical.test(b))
  let later = 0
  fc.assert(
    fc.property(pair, ([written, stored]) => {
      const claimed = celLater(written, stored)
      const truth = compareInstants(parseRfc3339(written)!, parseRfc3339(stored)!) > 0
      if (claimed) later++
      return !claimed || truth
    }),
    { numRuns: 2000, seed: 13 },
  )
  t.ok(later > 100, `the property saw writes it calls later (${later})`)
  // Close calls, where string order and time order part ways.
  t.ok(celLater('2026-01-01T00:00:00.500Z', '2026-01-01T00:00:00.499Z'))
  t.notOk(celLater('2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.499Z'), 'different fraction widths in one second: left to runguard')
  t.notOk(celLater('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00Z'), 'the same instant is not later')
  t.notOk(celLater('2026-01-01T00:00:00Z', '2026-01-01T00:00:00.100Z'), 'earlier, shorter')
  t.ok(celLater('2026-01-01T00:00:01Z', '2026-01-01T00:00:00.999Z'), 'a later second is later whatever the fraction')
})
