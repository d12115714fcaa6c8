/**
 * Dispatch (STYLE §6): find the route for a request among the routes the webhook definitions
 * declare, guard the object's shape, and run that route's validators or mutators. Pure: a request
 * in, a Decision out — no HTTP, no network, no clock of its own.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import jsonpatch from 'fast-json-patch'
import type { Config } from '../config.ts'
import { isJsonObject, type KubeObject } from '../kube/objects.ts'
import type { MutableField, Route, WebhookMode } from './definition.ts'
import { fieldError, merge } from './field-errors.ts'
import { allowed, denied, errored, patched, withWarnings } from './response.ts'
import { breakGlassIdentity, controllerIdentity } from './writers.ts'
import type { AdmissionRequest, Decision, FieldError, JsonPatchOperation, RuleContext } from './types.ts'

export interface DispatchInput {
  request: AdmissionRequest
  config: Config
  now: Date
  mode: WebhookMode
}

/** Compiled shape guards, one per schema object (compiled on first use, never at import). */
const ajv = new Ajv({ allErrors: true, strict: false })
const guards = new WeakMap<object, ValidateFunction>()

function guardFor(schema: object): ValidateFunction {
  let guard = guards.get(schema)
  if (!guard) {
    guard = ajv.compile(schema)
    guards.set(schema, guard)
  }
  return guard
}

function toFieldErrors(prefix: string, errors: ErrorObject[] | null | undefined): FieldError[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath.split('/').filter(Boolean).join('.')
    const field = [prefix, path].filter(Boolean).join('.') || prefix
    return fieldError.invalid(field, undefined, 'MalformedObject', e.message ?? 'has the wrong shape')
  })
}

export function findRoute(routes: readonly Route[], request: AdmissionRequest): Route | undefined {
  const sub = request.subResource ?? ''
  return routes.find(
    (route) =>
      route.groups.includes(request.resource.group) &&
      route.resources.includes(request.resource.resource) &&
      route.subResource === sub &&
      route.operations.includes(request.operation),
  )
}

/**
 * An UPDATE written against an older version than the stored one. The API server refuses it with
 * 409 Conflict after the mutating webhooks (before the validating ones), and the writer re-reads;
 * judging its stale content would turn that conflict into a misleading 422 — the answer a
 * controller does not retry.
 */
export function isStaleWrite(request: AdmissionRequest): boolean {
  return request.operation === 'UPDATE' && writtenAgainstOlderVersion(request.object, request.oldObject)
}

/** `object` names a resourceVersion, and it is not the stored object's: the API server answers 409. */
export function writtenAgainstOlderVersion(object: KubeObject | null | undefined, stored: KubeObject | null | undefined): boolean {
  const written = object?.metadata?.resourceVersion
  const current = stored?.metadata?.resourceVersion
  return typeof written === 'string' && written !== '' && typeof current === 'string' && written !== current
}

export function dispatch(routes: readonly Route[], input: DispatchInput): Decision {
  return decide(findRoute(routes, input.request), input)
}

/** The decision for a request whose route is already known (undefined: no route claims it). */
export function decide(route: Route | undefined, { request, config, now, mode }: DispatchInput): Decision {
  // A resource no route claims means the webhook configuration sends more than we own; refusing
  // it would break unrelated workloads, so it is admitted (the caller logs and counts it).
  if (!route) return allowed('UnhandledResource')

  const newObject = request.object ?? undefined
  const oldObject = request.oldObject ?? undefined
  if (!isJsonObject(newObject)) {
    return errored(400, `request.object is missing or not an object (${request.operation} ${request.resource.resource})`, 'MalformedObject')
  }
  const guard = guardFor(route.objectSchema)
  const malformed = guard(newObject) ? [] : toFieldErrors('', guard.errors)
  if (request.operation === 'UPDATE') {
    if (!isJsonObject(oldObject)) return errored(400, 'request.oldObject is missing or not an object for UPDATE', 'MalformedObject')
    if (!guard(oldObject)) malformed.push(...toFieldErrors('oldObject', guard.errors))
  }
  if (malformed.length > 0) return { ...denied(malformed, 400), reason: 'MalformedObject' }
  if (isStaleWrite(request)) return allowed('StaleWrite')

  if (route.breakGlass) {
    const bypassedBy = breakGlassIdentity(request, config)
    if (bypassedBy) return { ...allowed('BreakGlass'), bypassedBy }
  }

  const ctx: RuleContext = { request, oldObject: isJsonObject(oldObject) ? oldObject : undefined, newObject, config, now }
  return mode === 'validating' ? validate(route, ctx) : mutate(route, ctx)
}

function validate(route: Route, ctx: RuleContext): Decision {
  const result = merge(route.validators.map((rule) => rule(ctx)))
  // Every spec violation is reported, denied or warn-only: the Event is the trail operators
  // follow even when enforcement lets the object in.
  const invalidSpec = route.reportsInvalidSpec ? [...result.errors, ...(result.warned ?? [])] : []
  const decision = result.errors.length > 0 ? denied(result.errors) : allowed()
  return { ...withWarnings(decision, result.warnings), invalidSpec }
}

function mutate(route: Route, ctx: RuleContext): Decision {
  const original = ctx.newObject as KubeObject
  const draft: KubeObject = { ...original }
  // Mutators only ever set or delete a field's top-level keys (status.startedAt, spec.cancel,
  // metadata.annotations), so one level of copy keeps the request's object untouched. A deep
  // clone would overflow the stack on values nested as deep as the API server accepts.
  for (const field of route.mutates) draft[field] = copyTopLevel(original[field])
  const reports = route.mutators.map((mutator) => mutator(ctx, draft))
  const warnings = reports.flatMap((report) => report.warnings)
  const repairs = reports.flatMap((report) => report.repairs ?? [])
  // The API server runs CRD schema and CEL validation between the mutating and the validating
  // webhooks, so a rule the CRDs also enforce as a backstop must deny here — on the mutated
  // object, so a timestamp rule 12 restored is not mistaken for a removal — or users would only
  // ever see the terser CEL message. Rule warnings are left to the validating webhook.
  if (route.validators.length > 0) {
    const early = merge(route.validators.map((rule) => rule({ ...ctx, newObject: draft })))
    if (early.errors.length > 0) return { ...denied(early.errors), invalidSpec: route.reportsInvalidSpec ? early.errors : [] }
  }
  const decision = withWarnings(patched(route.mutates.flatMap((field) => diffField(original, draft, field))), warnings)
  if (repairs.length === 0) return decision
  return { ...decision, reason: 'Repaired', repairs: { writer: controllerIdentity(ctx.request, ctx.config) ?? '<unknown>', repairs } }
}

function copyTopLevel<T>(value: T): T {
  if (Array.isArray(value)) return [...value] as T
  return isJsonObject(value) ? { ...value } : value
}

/**
 * RFC 6902 operations turning `original[field]` into `draft[field]`, with paths from the root.
 * Only the top-level keys a mutator replaced are compared (by reference first): the rest is the
 * request's own value, shared with the draft, and walking it would cost time and stack for
 * nothing.
 */
function diffField(original: KubeObject, draft: KubeObject, field: MutableField): JsonPatchOperation[] {
  const before: unknown = original[field]
  const after: unknown = draft[field]
  if (before === after) return []
  if (after === undefined) return [{ op: 'remove', path: `/${field}` }]
  if (before === undefined) return [{ op: 'add', path: `/${field}`, value: after }]
  if (!isJsonObject(before) || !isJsonObject(after)) return [{ op: 'replace', path: `/${field}`, value: after }]
  const operations: JsonPatchOperation[] = []
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was: unknown = before[key]
    const now: unknown = after[key]
    if (was === now) continue
    const path = `/${field}/${jsonpatch.escapePathComponent(key)}`
    if (now === undefined) operations.push({ op: 'remove', path })
    else if (was === undefined) operations.push({ op: 'add', path, value: now })
    else if (isJsonObject(was) && isJsonObject(now)) operations.push(...(jsonpatch.compare(was, now) as JsonPatchOperation[]).map((op) => ({ ...op, path: `${path}${op.path}` })))
    else operations.push({ op: 'replace', path, value: now })
  }
  return operations
}
