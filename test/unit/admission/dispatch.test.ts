import t from 'tap'
import type { Route } from '../../../src/admission/definition.ts'
import { dispatch, findRoute } from '../../../src/admission/dispatch.ts'
import { breakGlassIdentity } from '../../../src/admission/writers.ts'
import { fieldError } from '../../../src/admission/field-errors.ts'
import { clampWarnings, denied, MAX_WARNING_LENGTH, toAdmissionResponse } from '../../../src/admission/response.ts'
import { decodeReview, reviewAdmission } from '../../../src/admission/review.ts'
import type { AdmissionRequest, Mutator, ValidationRule } from '../../../src/admission/types.ts'
import { loadConfig } from '../../../src/config.ts'
import { runObjectSchema } from '../../../webhooks/schemas.ts'

const config = loadConfig({ RUNGUARD_BREAK_GLASS_USERS: 'oncall', RUNGUARD_BREAK_GLASS_GROUPS: 'sre' })
const now = new Date('2026-11-23T12:00:00Z')

const denyCancel: ValidationRule = (ctx) =>
  ctx.newObject?.spec?.cancel === 'yes'
    ? { errors: [fieldError.invalid('spec.cancel', 'yes', 'InvalidCancel', 'must be a boolean')], warnings: [] }
    : { errors: [], warnings: ['looked at it'] }
const warnOnly: ValidationRule = () => ({ errors: [], warnings: [], warned: [fieldError.invalid('spec.workload.image', 'x', 'ImageNotAllowed', 'not allowed')] })
const stampLabel: Mutator = (_ctx, draft) => {
  draft.metadata = { ...draft.metadata, labels: { ...draft.metadata?.labels, seen: 'yes' } }
  return { warnings: ['labelled'] }
}
const noop: Mutator = () => ({ warnings: [] })

function route(overrides: Partial<Route>): Route {
  return {
    name: 'test',
    groups: ['agents.proompteng.ai'],
    versions: ['v1alpha1'],
    resources: ['agentruns'],
    subResource: '',
    operations: ['CREATE', 'UPDATE'],
    validators: [],
    mutators: [],
    mutates: ['metadata', 'spec'],
    objectSchema: runObjectSchema,
    breakGlass: false,
    reportsInvalidSpec: false,
    ...overrides,
  }
}

function request(overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind: { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' },
    resource: { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' },
    operation: 'CREATE',
    userInfo: { username: 'alice', groups: ['dev'] },
    namespace: 'team',
    name: 'run-1',
    object: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', metadata: { name: 'run-1' }, spec: { cancel: true } },
    ...overrides,
  }
}

t.test('routes match on group, resource, subresource and operation', async (t) => {
  const spec = route({ name: 'spec' })
  const status = route({ name: 'status', subResource: 'status', operations: ['UPDATE'] })
  t.equal(findRoute([spec, status], request())?.name, 'spec')
  t.equal(findRoute([spec, status], request({ subResource: 'status', operation: 'UPDATE' }))?.name, 'status')
  t.equal(findRoute([spec, status], request({ subResource: 'status', operation: 'CREATE' })), undefined)
  t.equal(findRoute([spec, status], request({ resource: { group: 'apps', version: 'v1', resource: 'deployments' } })), undefined)
  t.equal(findRoute([spec, status], request({ operation: 'DELETE' })), undefined)
})

t.test('unknown resources are admitted, not denied', async (t) => {
  const d = dispatch([route({ validators: [denyCancel] })], { request: request({ resource: { group: 'apps', version: 'v1', resource: 'deployments' } }), config, now, mode: 'validating' })
  t.equal(d.allowed, true)
  t.equal(d.reason, 'UnhandledResource')
})

t.test('validation: errors deny with 422 and the field message; warnings pass through', async (t) => {
  const routes = [route({ validators: [denyCancel], reportsInvalidSpec: true })]
  const bad = request({ object: { metadata: { name: 'r' }, spec: { cancel: 'yes' } } })
  const d = dispatch(routes, { request: bad, config, now, mode: 'validating' })
  t.equal(d.allowed, false)
  t.equal(d.code, 422)
  t.equal(d.reason, 'InvalidCancel')
  t.equal(d.message, 'spec.cancel: Invalid value: "yes": must be a boolean')
  t.equal(d.invalidSpec.length, 1)
  const good = dispatch(routes, { request: request(), config, now, mode: 'validating' })
  t.equal(good.allowed, true)
  t.same(good.warnings, ['looked at it'])
  t.same(good.invalidSpec, [])
})

t.test('rule 5 warn: violations in warn enforcement are admitted but still reported', async (t) => {
  const d = dispatch([route({ validators: [warnOnly], reportsInvalidSpec: true })], { request: request(), config, now, mode: 'validating' })
  t.equal(d.allowed, true)
  t.equal(d.invalidSpec.length, 1)
  t.equal(d.invalidSpec[0]?.reason, 'ImageNotAllowed')
  const quiet = dispatch([route({ validators: [warnOnly], reportsInvalidSpec: false })], { request: request(), config, now, mode: 'validating' })
  t.same(quiet.invalidSpec, [])
})

t.test('mutation: the patch is the diff of the edited copy; a no-op makes no patch', async (t) => {
  const req = request()
  const before = JSON.stringify(req.object)
  const d = dispatch([route({ mutators: [stampLabel] })], { request: req, config, now, mode: 'mutating' })
  t.equal(d.allowed, true)
  t.same(d.patch, [{ op: 'add', path: '/metadata/labels', value: { seen: 'yes' } }])
  t.same(d.warnings, ['labelled'])
  t.equal(JSON.stringify(req.object), before, 'the request object itself is never edited')
  const none = dispatch([route({ mutators: [noop] })], { request: request(), config, now, mode: 'mutating' })
  t.equal(none.patch, undefined)
  const response = toAdmissionResponse('u', none, 'mutating')
  t.equal(response.patch, undefined)
  t.equal(response.patchType, undefined)
})

t.test('malformed objects are denied with 400, never thrown', async (t) => {
  const routes = [route({ validators: [denyCancel], operations: ['CREATE', 'UPDATE'] })]
  const cases: Array<[string, Partial<AdmissionRequest>, RegExp]> = [
    ['no object', { object: undefined }, /request.object is missing/],
    ['object is an array', { object: [] as never }, /request.object is missing or not an object/],
    ['no metadata', { object: { spec: {} } }, /must have required property 'metadata'/],
    ['spec is a string', { object: { metadata: {}, spec: 'x' as never } }, /spec: Invalid value.*must be object/],
    ['labels not strings', { object: { metadata: { labels: { a: 1 as never } } } }, /metadata.labels.a/],
    ['UPDATE without oldObject', { operation: 'UPDATE', oldObject: null }, /oldObject is missing/],
    ['UPDATE with malformed oldObject', { operation: 'UPDATE', oldObject: { metadata: {}, status: [] as never } }, /oldObject.status/],
  ]
  for (const [name, overrides, message] of cases) {
    const d = dispatch(routes, { request: request(overrides), config, now, mode: 'validating' })
    t.equal(d.allowed, false, name)
    t.equal(d.code, 400, name)
    t.match(d.message, message, name)
  }
})

t.test('break-glass identities skip routes that allow it, and only those', async (t) => {
  t.equal(breakGlassIdentity(request({ userInfo: { username: 'oncall' } }), config), 'oncall')
  t.equal(breakGlassIdentity(request({ userInfo: { username: 'bob', groups: ['sre'] } }), config), 'bob (group sre)')
  t.equal(breakGlassIdentity(request(), config), undefined)
  const bad = { metadata: { name: 'r' }, spec: { cancel: 'yes' } }
  const open = dispatch([route({ validators: [denyCancel], breakGlass: true })], { request: request({ object: bad, userInfo: { username: 'oncall' } }), config, now, mode: 'validating' })
  t.equal(open.allowed, true)
  t.equal(open.bypassedBy, 'oncall')
  const closed = dispatch([route({ validators: [denyCancel], breakGlass: false })], { request: request({ object: bad, userInfo: { username: 'oncall' } }), config, now, mode: 'validating' })
  t.equal(closed.allowed, false)
})

t.test('a rule that throws yields a 500 answer, not a crash', async (t) => {
  const boom: ValidationRule = () => {
    throw new Error('kaboom')
  }
  const outcome = reviewAdmission([route({ validators: [boom] })], 'validating', request(), config, now)
  t.equal(outcome.review.response?.allowed, false)
  t.equal(outcome.review.response?.status?.code, 500)
  t.match(outcome.review.response?.status?.message, /internal error.*kaboom/)
  t.equal(outcome.review.response?.uid, 'uid-1')
})

t.test('decodeReview names what is wrong with the envelope', async (t) => {
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: request() }
  t.ok('request' in decodeReview(structuredClone(base)))
  const cases: Array<[unknown, RegExp]> = [
    [null, /body must be object/],
    ['text', /body must be object/],
    [{ ...base, apiVersion: 'admission.k8s.io/v1beta1' }, /apiVersion must be equal to constant/],
    [{ ...base, kind: 'Review' }, /kind must be equal to constant/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /must have required property 'request'/],
    [{ ...base, request: { ...request(), uid: '' } }, /request.uid must NOT have fewer than 1 characters/],
    [{ ...base, request: { ...request(), uid: undefined } }, /must have required property 'uid'/],
    [{ ...base, request: { ...request(), operation: 'PATCH' } }, /request.operation must be equal to one of the allowed values/],
  ]
  for (const [body, message] of cases) {
    const decoded = decodeReview(body)
    t.ok('error' in decoded && message.test(decoded.error), `${JSON.stringify(decoded)} ~ ${message}`)
  }
})

t.test('responses: uid echoed, status on denial, no patch from validating, warnings clamped', async (t) => {
  const d = denied([fieldError.forbidden('status.startedAt', 'ImmutableTimestamp', 'is immutable')])
  const r = toAdmissionResponse('abc', { ...d, patch: [{ op: 'add', path: '/x', value: 1 }] }, 'validating')
  t.equal(r.uid, 'abc')
  t.equal(r.allowed, false)
  t.same(r.status, { code: 422, message: 'status.startedAt: Forbidden: is immutable', reason: 'Invalid', status: 'Failure' })
  t.equal(r.patch, undefined)
  const long = 'x'.repeat(300)
  const clamped = clampWarnings([long, 'a\nb', 'a b', ''])
  t.equal(clamped[0]?.length, MAX_WARNING_LENGTH)
  t.same(clamped.slice(1), ['a b'])
})

t.test('mutating routes deny on their validators, judged on the mutated object, without doubling warnings', async (t) => {
  const restoreCancel: Mutator = (_ctx, draft) => {
    if (draft.spec?.cancel === 'yes') draft.spec.cancel = true
    return { warnings: [] }
  }
  const routes = [route({ validators: [denyCancel], mutators: [restoreCancel], reportsInvalidSpec: true })]
  const fixed = dispatch(routes, { request: request({ object: { metadata: { name: 'r' }, spec: { cancel: 'yes' } } }), config, now, mode: 'mutating' })
  t.equal(fixed.allowed, true, 'the validator sees what the mutators made of the object')
  t.same(fixed.patch, [{ op: 'replace', path: '/spec/cancel', value: true }])
  t.same(fixed.warnings, [], 'rule warnings are left to the validating webhook')
  const deny = dispatch([route({ validators: [denyCancel], mutators: [noop], reportsInvalidSpec: true })], {
    request: request({ object: { metadata: { name: 'r' }, spec: { cancel: 'yes' } } }),
    config,
    now,
    mode: 'mutating',
  })
  t.equal(deny.allowed, false)
  t.equal(deny.code, 422)
  t.equal(deny.patch, undefined)
  t.equal(deny.invalidSpec.length, 1, 'a mutating denial still reports InvalidSpec')
})

t.test('patches cover only the fields a route mutates, with paths from the root', async (t) => {
  const setStatus: Mutator = (_ctx, draft) => {
    draft.status = { ...draft.status, phase: 'Running' }
    return { warnings: [] }
  }
  const dropStatus: Mutator = (_ctx, draft) => {
    delete draft.status
    return { warnings: [] }
  }
  const object = { metadata: { name: 'r' }, spec: { big: 'x'.repeat(1000) }, status: { phase: 'Pending' } }
  const replaced = dispatch([route({ mutators: [setStatus], mutates: ['status'] })], { request: request({ object }), config, now, mode: 'mutating' })
  t.same(replaced.patch, [{ op: 'replace', path: '/status/phase', value: 'Running' }])
  const added = dispatch([route({ mutators: [setStatus], mutates: ['status'] })], { request: request({ object: { metadata: { name: 'r' } } }), config, now, mode: 'mutating' })
  t.same(added.patch, [{ op: 'add', path: '/status', value: { phase: 'Running' } }])
  const removed = dispatch([route({ mutators: [dropStatus], mutates: ['status'] })], { request: request({ object }), config, now, mode: 'mutating' })
  t.same(removed.patch, [{ op: 'remove', path: '/status' }])
  t.equal(object.status.phase, 'Pending', 'the request object is untouched')
})

t.test('stale writes: an UPDATE against an older resourceVersion is admitted untouched', async (t) => {
  const routes = [route({ validators: [denyCancel], mutators: [stampLabel] })]
  const stale = request({
    operation: 'UPDATE',
    object: { metadata: { name: 'r', resourceVersion: '41' }, spec: { cancel: 'yes' } },
    oldObject: { metadata: { name: 'r', resourceVersion: '42' }, spec: {} },
  })
  for (const mode of ['validating', 'mutating'] as const) {
    const decision = dispatch(routes, { request: stale, config, now, mode })
    t.equal(decision.allowed, true, `${mode}: the API server answers 409 after admission`)
    t.equal(decision.reason, 'StaleWrite')
    t.equal(decision.patch, undefined, `${mode}: no patch`)
  }
  const current = request({
    operation: 'UPDATE',
    object: { metadata: { name: 'r', resourceVersion: '42' }, spec: { cancel: 'yes' } },
    oldObject: { metadata: { name: 'r', resourceVersion: '42' }, spec: {} },
  })
  t.equal(dispatch(routes, { request: current, config, now, mode: 'validating' }).allowed, false, 'the same write at the stored version is judged')
  const unversioned = request({ operation: 'UPDATE', object: { metadata: { name: 'r' }, spec: { cancel: 'yes' } }, oldObject: { metadata: { name: 'r', resourceVersion: '42' }, spec: {} } })
  t.equal(dispatch(routes, { request: unversioned, config, now, mode: 'validating' }).allowed, false, 'an unconditional update is judged')
})
