/**
 * Issue 14, "secrets never leaked", by generated inputs: secret-looking values (tokens, keys,
 * `password=`, bearer and basic credentials, base64 blobs, JWTs, PEM blocks, URL credentials, env
 * assignments) placed in every string field an admission message can quote must not reach an Event
 * note, a log line or a metric label — not even a 12-character piece of one.
 *
 * In-process here: the sanitiser itself, and the admission webhook's messages through the one
 * EventRecorder (fake API transport, captured pino logger, real metrics registry). The same through
 * a real webhook process (Events to a fake API server, its stdout, its /metrics) is in
 * sanitize-process.test.ts.
 */
import fc from 'fast-check'
import t from 'tap'
import { formatFieldErrors } from '../../src/admission/field-errors.ts'
import { repairWarning } from '../../src/admission/mutators/status.ts'
import type { AdmissionRequest } from '../../src/admission/types.ts'
import { sanitizeMessage } from '../../src/events/sanitize.ts'
import { CONFIGS, leaks, secret, validRun, type Json, type JsonObject, type Secret } from './arbitraries.ts'
import { eventHarness } from './event-harness.ts'
import { groupOf, NOW } from './oracle.ts'
import { reviewAdmission } from '../../src/admission/review.ts'
import { checkProperty, metered } from './property.ts'

const FILE = 'test/property/sanitize.test.ts'

// --- the sanitiser on its own -------------------------------------------------------------------

const filler = fc.array(fc.constantFrom('admission', 'spec.parameters[x]:', 'Invalid value:', 'failed', 'with', 'the', 'run', '[', ']', ',', '"', 'spec.cancel:', 'must be a string', '…', '...'), { maxLength: 8 }).map((w) => w.join(' '))

/** How a message shows a value: as is, as JSON, or as a field error does (JSON cut to 64 characters). */
const showings = ['raw', 'json', 'field-error', 'in-object', 'in-list', 'after-text'] as const
function shown(value: string, how: (typeof showings)[number], before: string): string {
  const cut = (v: unknown) => {
    const text = JSON.stringify(v)
    return text.length > 64 ? `${text.slice(0, 61)}...` : text
  }
  switch (how) {
    case 'raw':
      return value
    case 'json':
      return JSON.stringify(value)
    case 'field-error':
      return cut(value)
    case 'in-object':
      return cut({ token: value })
    case 'in-list':
      return cut([value])
    case 'after-text':
      return cut(`${before} ${value}`)
  }
}

t.test('sanitizeMessage hides every generated secret, however a message shows it', async (t) => {
  let slowest = 0
  checkProperty(
    t,
    'no piece of a secret survives',
    fc.property(secret, filler, filler, fc.constantFrom(...showings), fc.constantFrom('', ' ', ':', '=', '"'), (s: Secret, before: string, after: string, how, glue) => {
      const message = `${before} ${shown(glue + s.text, how, before)} ${after}`
      const { result, cpuMs } = metered(() => sanitizeMessage(message))
      slowest = Math.max(slowest, cpuMs)
      const leak = leaks(result, s.core)
      if (leak) throw new Error(`${s.shape} leaked ${JSON.stringify(leak)}\n  in:  ${message}\n  out: ${result}`)
    }),
    4_000,
    FILE,
  )
  t.comment(`slowest sanitisation: ${slowest.toFixed(2)} ms`)
})

t.test('sanitizeMessage stays linear on hostile text (16 KiB in ≤ 50 ms)', async (t) => {
  const hostile = fc.tuple(fc.constantFrom('token=', 'a', '...', '\\"', 'eyJ', 'Bearer ', 'https://u:', '@', 'Aa1', '-----BEGIN A-----', 'password: "'), fc.integer({ min: 1_000, max: 16_384 })).map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)))
  checkProperty(
    t,
    'repeated fragments of every rule',
    fc.property(hostile, (text) => {
      const best = Math.min(...[0, 1, 2].map(() => metered(() => sanitizeMessage(text)).cpuMs))
      if (best > 50) throw new Error(`${best.toFixed(1)} ms for ${text.length} characters`)
    }),
    60,
    FILE,
  )
})

// --- admission messages through the EventRecorder -----------------------------------------------

/** Where a value can be quoted by an admission message, and how to put a secret there. */
const PLACES: Record<string, (obj: JsonObject, s: string) => void> = {
  'spec.cancel': (o, s) => (spec(o).cancel = s),
  'spec.desiredState': (o, s) => (spec(o).desiredState = s),
  'parameter value (not a string)': (o, s) => (spec(o).parameters = { apiToken: { value: s } }),
  'parameter value (a list)': (o, s) => (spec(o).parameters = { token: [s] }),
  'parameter key': (o, s) => (spec(o).parameters = { [s]: 42 }),
  'parameter value too long': (o, s) => (spec(o).parameters = { note: `${s} ${'x'.repeat(2_100)}` }),
  'spec.workload.image': (o, s) => {
    spec(o).runtime = { type: 'job' }
    spec(o).workload = { image: s }
  },
  'workflow step name (duplicate)': (o, s) => {
    spec(o).runtime = { type: 'workflow' }
    spec(o).workflow = { steps: [{ name: s }, { name: s }] }
  },
  'spec.ttlSecondsAfterFinished': (o, s) => (spec(o).ttlSecondsAfterFinished = s),
  'reference name (not a string)': (o, s) => (spec(o).agentRef = { name: [s] }),
  // The API server admits only [A-Za-z0-9._-]{1,63} as a label name: a secret of that form, else the same key as a parameter.
  'label key': (o, s) => (/^[A-Za-z0-9._-]{1,63}$/.test(s) ? ((o.metadata as JsonObject).labels = { [`x.internal/${s}`]: 'v' }) : (spec(o).parameters = { [s]: 42 })),
}

const STATUS_PLACES: Record<string, (status: JsonObject, s: string) => void> = {
  'status.startedAt (changed)': (st, s) => (st.startedAt = s),
  'status.finishedAt (changed)': (st, s) => (st.finishedAt = s),
  'status.updatedAt': (st, s) => (st.updatedAt = s),
  'status.phase': (st, s) => (st.phase = s),
  'status.observedGeneration': (st, s) => (st.observedGeneration = s),
}

function spec(o: JsonObject): JsonObject {
  if (typeof o.spec !== 'object' || o.spec === null || Array.isArray(o.spec)) o.spec = {}
  return o.spec as JsonObject
}

const kinds = [
  { kind: 'AgentRun', group: 'agents.proompteng.ai', plural: 'agentruns' },
  { kind: 'ToolRun', group: 'tools.proompteng.ai', plural: 'toolruns' },
] as const

function requestOf(kind: (typeof kinds)[number], object: Json, oldObject: Json | null, subResource: string, username: string): AdmissionRequest {
  return {
    uid: 'leak-1',
    kind: { group: kind.group, version: 'v1alpha1', kind: kind.kind },
    resource: { group: kind.group, version: 'v1alpha1', resource: kind.plural },
    ...(subResource ? { subResource } : {}),
    name: 'run-1',
    namespace: 'agents',
    operation: oldObject ? 'UPDATE' : 'CREATE',
    userInfo: { username },
    object: object as AdmissionRequest['object'],
    oldObject: oldObject as AdmissionRequest['oldObject'],
  }
}

t.test('admission messages quoting secrets: no Event, log line or metric label carries one', async (t) => {
  const h = eventHarness({ perMin: 1_000 })
  const seen = { events: 0, denials: 0, repairs: 0 }
  const writers = ['alice@example.com', 'system:serviceaccount:agents:agents-sa']
  const cases = fc.record({
    s: secret,
    kind: fc.constantFrom(...kinds),
    configName: fc.constantFrom(...Object.keys(CONFIGS)),
    place: fc.constantFrom(...Object.keys(PLACES), ...Object.keys(STATUS_PLACES)),
    writer: fc.constantFrom(...writers),
    base: validRun('AgentRun', true),
  })
  checkProperty(
    t,
    'Event notes, the recorder’s log lines and metric labels',
    fc.property(cases, ({ s, kind, configName, place, writer, base }) => {
      const config = CONFIGS[configName]!
      const old: JsonObject = { ...JSON.parse(JSON.stringify(base)), apiVersion: `${kind.group}/v1alpha1`, kind: kind.kind }
      const object: JsonObject = JSON.parse(JSON.stringify(old))
      let request: AdmissionRequest
      if (place in PLACES) {
        PLACES[place]!(object, s.text)
        request = requestOf(kind, object, null, '', writer)
      } else {
        const status = (object.status ?? {}) as JsonObject
        if (place.includes('changed') && !(place.replace(/ .*/, '').slice(7) in status)) ((old.status ??= {}) as JsonObject)[place.slice(7, place.indexOf(' '))] = '2026-11-23T10:00:00Z'
        STATUS_PLACES[place]!(status, s.text)
        object.status = status
        request = requestOf(kind, object, old, 'status', writer)
      }
      // What the webhook's decision observer sends as Events for each decision (SPEC §4).
      for (const mode of ['mutating', 'validating'] as const) {
        const { decision } = reviewAdmission(groupOf(mode).routes, mode, structuredClone(request), config, NOW)
        if (!decision.allowed) seen.denials++
        if (decision.invalidSpec.length > 0) {
          seen.events++
          h.recorder.warning({ apiVersion: `${kind.group}/v1alpha1`, kind: kind.kind, name: 'run-1', namespace: 'agents' }, 'InvalidSpec', formatFieldErrors(decision.invalidSpec), { action: 'Admission' })
        }
        if (decision.repairs) {
          seen.repairs++
          h.recorder.warning({ apiVersion: `${kind.group}/v1alpha1`, kind: kind.kind, name: 'run-1', namespace: 'agents' }, 'StatusRepaired', `status write by ${decision.repairs.writer} repaired: ${decision.repairs.repairs.map(repairWarning).join('; ')}`, { action: 'Admission' })
        }
        // A denial message as the webhook logs it.
        if (decision.message !== undefined) {
          const logged = sanitizeMessage(decision.message)
          const leak = leaks(logged, s.core)
          if (leak) throw new Error(`${s.shape} at ${place}: the logged denial message leaks ${JSON.stringify(leak)}: ${logged}`)
        }
      }
      const written = JSON.stringify(h.transport.calls)
      const leak = leaks(written, s.core) ?? leaks(h.rawLogs.join('\n'), s.core)
      h.transport.calls = []
      h.transport.eventsV1.clear()
      h.rawLogs.length = 0
      if (leak) throw new Error(`${s.shape} at ${place} leaked ${JSON.stringify(leak)}`)
    }),
    1_500,
    FILE,
  )
  await h.recorder.flush()
  const metricsText = await h.metrics.registry.metrics()
  t.equal(
    metricsText.split('\n').filter((line) => /["']/.test(line) && /REDACTED|ghp_|eyJ|Bearer|password/i.test(line)).length,
    0,
    'no metric label holds anything secret-looking',
  )
  t.ok(seen.events > 200 && seen.denials > 200, `the generated writes produced Events (${seen.events}), denials (${seen.denials}) and repairs (${seen.repairs})`)
})
