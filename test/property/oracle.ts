/**
 * What the properties of issue 14 say about one admission request, as functions that return the
 * violations they find (empty = the property holds). Shared by the tap properties in this folder
 * and the fuzz benchmark (bench/fuzz.ts), so both judge exactly the same way.
 *
 * Uses only the stable entry points: reviewAdmission / decodeReview (src/admission/review.ts),
 * findRoute (src/admission/dispatch.ts), WEBHOOKS (webhooks/index.ts), src/check.ts.
 */
import { isDeepStrictEqual } from 'node:util'
import jsonpatch from 'fast-json-patch'
import type { Route, WebhookDefinition, WebhookMode } from '../../src/admission/definition.ts'
import { findRoute } from '../../src/admission/dispatch.ts'
import { decodeReview, reviewAdmission, type ReviewOutcome } from '../../src/admission/review.ts'
import type { AdmissionRequest, AdmissionReview, JsonPatchOperation, RuleContext } from '../../src/admission/types.ts'
import { checkObjects, registryStrategy, InputError } from '../../src/check.ts'
import type { Config } from '../../src/config.ts'
import type { KubeObject } from '../../src/kube/objects.ts'
import { WEBHOOKS } from '../../webhooks/index.ts'
import { CONFIGS, deepCopy, type Json, type JsonObject, type Pair } from './arbitraries.ts'

/** A fixed instant, so a failing case replays with the same stamps. */
export const NOW = new Date('2026-11-23T11:00:00.123Z')

export interface PathGroup {
  path: string
  mode: WebhookMode
  definitions: WebhookDefinition[]
  routes: Route[]
}

/** The webhooks as the server serves them: one dispatch per path over every definition sharing it. */
export const PATH_GROUPS: readonly PathGroup[] = (() => {
  const groups = new Map<string, PathGroup>()
  for (const definition of WEBHOOKS) {
    const group = groups.get(definition.path) ?? { path: definition.path, mode: definition.mode, definitions: [], routes: [] }
    group.definitions.push(definition)
    group.routes.push(...definition.routes)
    groups.set(definition.path, group)
  }
  return [...groups.values()]
})()

export const groupOf = (mode: WebhookMode): PathGroup => PATH_GROUPS.find((g) => g.mode === mode) as PathGroup

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// --- 1. the handler: never throws, a well-formed AdmissionReview with the uid, within a CPU bound --

/** What is wrong with `review` as an answer to a request with `uid` on a webhook of `mode`. */
export function malformedReview(review: unknown, uid: string, mode: WebhookMode): string[] {
  const problems: string[] = []
  let text: string
  try {
    text = JSON.stringify(review)
  } catch (err) {
    return [`the review cannot be serialised: ${(err as Error).message}`]
  }
  const parsed = JSON.parse(text) as AdmissionReview
  if (!isDeepStrictEqual(parsed, review)) problems.push('the review does not survive a JSON round trip')
  if (parsed.apiVersion !== 'admission.k8s.io/v1') problems.push(`apiVersion ${JSON.stringify(parsed.apiVersion)}`)
  if (parsed.kind !== 'AdmissionReview') problems.push(`kind ${JSON.stringify(parsed.kind)}`)
  const r = parsed.response
  if (!isObject(r)) return [...problems, 'no response object']
  if (r.uid !== uid) problems.push(`response.uid ${JSON.stringify(r.uid)} is not the request's ${JSON.stringify(uid)}`)
  if (typeof r.allowed !== 'boolean') problems.push('response.allowed is not a boolean')
  if (r.allowed === false) {
    const s = r.status
    if (!isObject(s)) problems.push('a denial without status')
    else {
      if (!Number.isInteger(s.code) || (s.code as number) < 400 || (s.code as number) > 599) problems.push(`status.code ${JSON.stringify(s.code)}`)
      if (typeof s.message !== 'string' || s.message.trim() === '') problems.push('a denial without a message')
      // \r and \n: JSON.stringify escapes them in quoted values, so one here came from elsewhere.
      // (U+2028/U+2029 in a quoted value pass through JSON.stringify raw; reported, not judged here.)
      else if (/[\r\n]/.test(s.message)) problems.push(`the denial message is not one line: ${JSON.stringify(s.message.slice(0, 200))}`)
    }
  }
  if (r.allowed === true && r.status !== undefined) problems.push('an allowed answer carries a status')
  if (r.warnings !== undefined) {
    if (!Array.isArray(r.warnings)) problems.push('warnings is not a list')
    else {
      for (const w of r.warnings) if (typeof w !== 'string' || w.length > 120 || /[\r\n]/.test(w)) problems.push(`bad warning ${JSON.stringify(w).slice(0, 200)}`)
    }
  }
  if (r.patch !== undefined || r.patchType !== undefined) {
    if (mode !== 'mutating') problems.push('a validating answer carries a patch')
    if (r.allowed !== true) problems.push('a denial carries a patch')
    if (r.patchType !== 'JSONPatch') problems.push(`patchType ${JSON.stringify(r.patchType)}`)
    try {
      const ops = JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString('utf8')) as unknown
      if (!Array.isArray(ops) || ops.length === 0) problems.push('the patch is not a non-empty list')
      else for (const op of ops) if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string' || !op.path.startsWith('/')) problems.push(`bad patch operation ${JSON.stringify(op).slice(0, 200)}`)
    } catch (err) {
      problems.push(`the patch is not base64 JSON: ${(err as Error).message}`)
    }
  }
  return problems
}

export interface HandlerRun {
  /** Per path: the outcome, or the decode error (a 400 from the server). */
  answers: Array<{ path: string; outcome?: ReviewOutcome; decodeError?: string }>
  violations: string[]
  /** CPU milliseconds of decode → review → JSON encode, per path (the work the server's route does). */
  cpuMs: number[]
}

function threadCpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/**
 * An AdmissionReview body through decode → review → encode on every path, as the server's route
 * does it. Nothing may throw, every answer must be well formed with the request's uid, and no rule
 * may fail internally (an InternalError answer means a rule threw).
 */
export function runHandler(body: unknown, config: Config): HandlerRun {
  const run: HandlerRun = { answers: [], violations: [], cpuMs: [] }
  for (const group of PATH_GROUPS) {
    let decoded: ReturnType<typeof decodeReview>
    const copy = deepCopy(body)
    const started = threadCpuMs()
    try {
      decoded = decodeReview(copy)
    } catch (err) {
      run.violations.push(`${group.path}: decodeReview threw: ${(err as Error).stack ?? String(err)}`)
      continue
    }
    if ('error' in decoded) {
      if (typeof decoded.error !== 'string' || decoded.error === '') run.violations.push(`${group.path}: a decode error without a message`)
      run.answers.push({ path: group.path, decodeError: decoded.error })
      run.cpuMs.push(threadCpuMs() - started)
      continue
    }
    let outcome: ReviewOutcome
    try {
      outcome = reviewAdmission(group.routes, group.mode, decoded.request, config, NOW)
      JSON.stringify(outcome.review)
    } catch (err) {
      run.violations.push(`${group.path}: reviewAdmission threw: ${(err as Error).stack ?? String(err)}`)
      continue
    } finally {
      run.cpuMs.push(threadCpuMs() - started)
    }
    run.answers.push({ path: group.path, outcome })
    for (const p of malformedReview(outcome.review, decoded.request.uid, group.mode)) run.violations.push(`${group.path}: ${p}`)
    if (outcome.decision.reason === 'InternalError') run.violations.push(`${group.path}: a rule threw: ${outcome.decision.message}`)
  }
  return run
}

// --- requests as the API server sends them --------------------------------------------------------

/** The request for `pair`, with what the API server fills in before admission (metadata.namespace). */
export function apiServerRequest(request: AdmissionRequest): AdmissionRequest {
  const copy = structuredClone(request)
  for (const key of ['object', 'oldObject'] as const) {
    const obj = copy[key]
    if (isObject(obj) && isObject(obj.metadata) && obj.metadata.namespace === undefined && copy.namespace !== undefined) obj.metadata.namespace = copy.namespace
  }
  return copy
}

function review(mode: WebhookMode, request: AdmissionRequest, config: Config, now = NOW): ReviewOutcome {
  return reviewAdmission(groupOf(mode).routes, mode, structuredClone(request), config, now)
}

function applyOps(doc: unknown, ops: readonly JsonPatchOperation[]): unknown {
  return jsonpatch.applyPatch(structuredClone(doc), structuredClone(ops) as jsonpatch.Operation[], true, false).newDocument
}

/** The decision's patch decoded from the answer the server would send (not the in-memory list). */
function patchOf(outcome: ReviewOutcome): JsonPatchOperation[] {
  const patch = outcome.review.response?.patch
  return patch ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as JsonPatchOperation[]) : []
}

// --- 2. mutation: idempotent, and the patch is what the mutators meant -----------------------------

/**
 * The object the route's mutators intend, computed independently of the adapter's diff: the
 * mutable fields cloned, every mutator run on the draft (as STYLE §5 says a mutator works).
 */
export function intendedObject(route: Route, request: AdmissionRequest, config: Config, now = NOW): KubeObject {
  const original = request.object as KubeObject
  const draft: KubeObject = { ...original }
  for (const field of route.mutates) if (original[field] !== undefined) draft[field] = structuredClone(original[field])
  const ctx: RuleContext = { request, oldObject: isObject(request.oldObject) ? (request.oldObject as KubeObject) : undefined, newObject: original, config, now }
  for (const mutator of route.mutators) mutator(ctx, draft)
  return draft
}

/** Reasons the mutating webhook admits a request untouched by design (no mutator ran). */
const UNTOUCHED = new Set(['StaleWrite', 'BreakGlass', 'UnhandledResource'])

export interface MutationCheck {
  violations: string[]
  /** The object after the patch, when the mutating webhook admitted the request. */
  mutated?: unknown
  outcome: ReviewOutcome
}

/**
 * Mutating webhook properties on one request:
 *  - the JSON Patch, applied with fast-json-patch (validating every operation), yields exactly the
 *    object the mutators intended;
 *  - mutating that output again (same stored object, same instant) is admitted without a patch.
 */
export function checkMutation(request: AdmissionRequest, config: Config): MutationCheck {
  const violations: string[] = []
  const outcome = review('mutating', request, config)
  if (!outcome.decision.allowed) return { violations, outcome }
  const ops = patchOf(outcome)
  let mutated: unknown
  try {
    mutated = applyOps(request.object, ops)
  } catch (err) {
    violations.push(`the patch does not apply to the request object: ${(err as Error).message}; patch ${JSON.stringify(ops).slice(0, 400)}`)
    return { violations, outcome }
  }
  if (outcome.route && !UNTOUCHED.has(outcome.decision.reason)) {
    const intended = intendedObject(outcome.route, structuredClone(request), config)
    if (!isDeepStrictEqual(roundTripSafe(mutated), roundTripSafe(intended))) {
      violations.push(`patched object differs from the mutators' intent: patch ${JSON.stringify(ops).slice(0, 400)}`)
    }
  }
  if (ops.length > 0) {
    const again = review('mutating', { ...request, object: mutated as KubeObject }, config)
    if (!again.decision.allowed) violations.push(`not idempotent: its own output is denied: ${again.decision.message}`)
    else if (patchOf(again).length > 0) violations.push(`not idempotent: its own output is patched again: ${JSON.stringify(patchOf(again)).slice(0, 400)}`)
  }
  return { violations, outcome, mutated }
}

function roundTripSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value))
  } catch {
    return value
  }
}

// --- 3. the validator never undoes the mutator (rules 10–12), never refuses controllers (6–9) ------

/** Reasons of rules 6–9 that must never refuse a controller identity's status write. */
export const CONTROLLER_NEVER_REFUSED = ['ImmutableTimestamp', 'PhaseResurrection', 'ObservedGenerationAhead', 'ObservedGenerationDecreased', 'FinishedBeforeStarted', 'InvalidPhase']

/** `status.x: Type` field errors named in a denial message (status fields have plain names). */
function statusFieldsNamed(message: string): Array<{ field: string; text: string }> {
  const found: Array<{ field: string; text: string }> = []
  const re = /(?:^|\[|, )status\.([A-Za-z]+): ((?:Forbidden|Invalid value|Unsupported value|Required value)[^,\]]*)/g
  for (const m of message.matchAll(re)) found.push({ field: m[1] as string, text: m[2] as string })
  return found
}

/**
 * The mutating webhook, then what the API server does between the phases, then the validating
 * webhook, for a status write:
 *  - no refusal may name a field the mutating webhook just wrote (a stamp of rule 10/11, a
 *    restore of rule 12 or a controller repair), and no refusal may complain that startedAt or
 *    finishedAt was removed (rule 12 restores those);
 *  - for a controller identity, the validator never refuses for rules 6–9.
 */
export function checkMutatorThenValidator(request: AdmissionRequest, config: Config, writer: Pair['writer']['kind']): string[] {
  if (request.subResource !== 'status' || request.operation !== 'UPDATE') return []
  const first = checkMutation(request, config)
  if (!first.outcome.decision.allowed) {
    // The mutating webhook judges rules 6–7 itself (CEL backstops): it must not refuse a timestamp
    // it should have restored either.
    return statusFieldsNamed(first.outcome.decision.message ?? '')
      .filter(({ field, text }) => (field === 'startedAt' || field === 'finishedAt') && /now removed\)/.test(text))
      .map(({ field, text }) => `mutating webhook refuses a removed status.${field}, which rule 12 restores: ${text}`)
  }
  if (first.mutated === undefined || !isObject(request.oldObject)) return []
  const stamped = UNTOUCHED.has(first.outcome.decision.reason) ? [] : stampRuleViolations(request, first.mutated)
  if (stamped.length > 0) return stamped
  const ops = patchOf(first.outcome)
  const written = new Set(ops.map((op) => op.path.split('/')[2]).filter((f): f is string => f !== undefined))
  const stored = registryStrategy('UPDATE', 'status', first.mutated as KubeObject, request.oldObject as KubeObject)
  const validated = review('validating', { ...request, object: stored }, config)
  if (validated.decision.allowed) return []
  const message = validated.decision.message ?? ''
  const violations: string[] = []
  for (const { field, text } of statusFieldsNamed(message)) {
    if (written.has(field)) violations.push(`validator refuses status.${field}, which the mutating webhook wrote: ${text}`)
    if ((field === 'startedAt' || field === 'finishedAt') && /now removed\)/.test(text)) violations.push(`validator refuses a removed status.${field}, which rule 12 restores: ${text}`)
  }
  if (writer === 'controller' && CONTROLLER_NEVER_REFUSED.some((reason) => validated.decision.reason === reason || message.includes(reasonText(reason)))) {
    violations.push(`a controller identity's status write refused for rules 6–9: ${message}`)
  }
  return violations
}

/**
 * What rules 10–12 promise about the status the mutating webhook lets through (against the stored one):
 *  10  a write that changes the status carries an updatedAt that is the stamp or a newer writer's
 *      value, never older than the stored one; an identical write is left alone;
 *  11  the first transition into Running has a startedAt, into a terminal phase a finishedAt, and
 *      a stamped finishedAt is not before startedAt;
 *  12  a startedAt/finishedAt the stored status had is still there.
 */
export function stampRuleViolations(request: AdmissionRequest, mutated: unknown): string[] {
  const stored = isObject(request.oldObject) && isObject(request.oldObject.status) ? (request.oldObject.status as JsonObject) : {}
  const written = isObject(request.object) && isObject(request.object.status) ? (request.object.status as JsonObject) : undefined
  const after = isObject(mutated) && isObject(mutated.status) ? (mutated.status as JsonObject) : undefined
  if (written !== undefined && !isObject(written)) return []
  const violations: string[] = []
  const set = (v: unknown) => v !== undefined && v !== null
  const stamp = NOW.toISOString()
  for (const field of ['startedAt', 'finishedAt'] as const) {
    if (set(stored[field]) && !set(after?.[field])) violations.push(`rule 12: stored status.${field} ${JSON.stringify(stored[field])} is gone after mutation`)
  }
  if (!after) return violations
  if (isDeepStrictEqual(after, stored)) return violations
  if (isDeepStrictEqual(written, stored)) violations.push('rule 10: an identical status write was changed')
  const updated = after.updatedAt
  const storedAt = typeof stored.updatedAt === 'string' ? Date.parse(stored.updatedAt) : NaN
  const writerNewer = typeof written?.updatedAt === 'string' && updated === written.updatedAt && /^\d{4}-\d\d-\d\dT/.test(updated) && !(Date.parse(updated) <= storedAt)
  if (updated !== stamp && !writerNewer) violations.push(`rule 10: status.updatedAt is ${JSON.stringify(updated)}, not the stamp ${stamp} or a newer value of the writer's`)
  const terminal = ['Succeeded', 'Failed', 'Cancelled']
  if (after.phase === 'Running' && stored.phase !== 'Running' && !set(after.startedAt)) violations.push('rule 11: entered Running without a startedAt')
  if (terminal.includes(after.phase as string) && !terminal.includes(stored.phase as string) && !set(after.finishedAt)) violations.push(`rule 11: entered ${String(after.phase)} without a finishedAt`)
  if (after.finishedAt === stamp && typeof after.startedAt === 'string' && Date.parse(after.startedAt) > NOW.getTime()) violations.push('rule 12: a stamped finishedAt precedes startedAt')
  return violations
}

/** How each rule 6–9 reason reads in a message (the decision carries only the first reason). */
function reasonText(reason: string): string {
  switch (reason) {
    case 'ImmutableTimestamp':
      return 'is immutable once set'
    case 'PhaseResurrection':
      return 'a terminal phase may not change'
    case 'ObservedGenerationAhead':
      return 'may not exceed metadata.generation'
    case 'ObservedGenerationDecreased':
      return 'may not decrease'
    case 'FinishedBeforeStarted':
      return 'may not precede status.startedAt'
    default:
      return 'status.phase: Unsupported value'
  }
}

// --- 4. `runguard check` and the webhook agree --------------------------------------------------

export interface Verdict {
  allowed: boolean
  messages: string[]
  warnings: string[]
}

/** The webhook's name as kubectl shows it (`controllers.<name>` for the controllers' copy). */
function webhookName(route: Route | undefined, writer: Pair['writer']['kind']): string {
  const definition = WEBHOOKS.find((d) => route && d.routes.includes(route))
  if (!definition) return '<unknown>'
  return definition.splitByWriter && writer === 'controller' ? `controllers.${definition.name}` : definition.name
}

/** Sends one AdmissionRequest to the webhook path of `mode` and returns its AdmissionReview. */
export type Send = (mode: WebhookMode, request: AdmissionRequest) => AdmissionReview | Promise<AdmissionReview>

/**
 * The API server's admission chain around the real handler: every mutating path, the patch
 * applied, the registry's status/spec split, every validating path; the first refusal ends it.
 * Which webhook answered (for kubectl's `admission webhook "<name>"`) is the route findRoute picks,
 * the same pure lookup the handler makes.
 */
export async function webhookChain(request: AdmissionRequest, writer: Pair['writer']['kind'], send: Send): Promise<Verdict> {
  const verdict: Verdict = { allowed: true, messages: [], warnings: [] }
  let object = request.object as KubeObject
  for (const mode of ['mutating', 'validating'] as const) {
    if (mode === 'validating') {
      const written = object.metadata?.resourceVersion
      const storedVersion = (request.oldObject as KubeObject | null)?.metadata?.resourceVersion
      if (request.operation === 'UPDATE' && typeof written === 'string' && written !== '' && typeof storedVersion === 'string' && written !== storedVersion) {
        return { allowed: false, messages: ['<409 Conflict>'], warnings: verdict.warnings }
      }
      object = registryStrategy(request.operation as 'CREATE' | 'UPDATE', request.subResource as 'status' | undefined, object, (request.oldObject as KubeObject | null) ?? undefined)
    }
    const sent = { ...request, object }
    const route = findRoute(groupOf(mode).routes, sent)
    const response = (await send(mode, sent)).response
    if (!route) continue
    verdict.warnings.push(...(response?.warnings ?? []))
    if (!response?.allowed) {
      return { allowed: false, messages: [`admission webhook "${webhookName(route, writer)}" denied the request: ${response?.status?.message || 'without explanation'}`], warnings: verdict.warnings }
    }
    const patch = response.patch ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as JsonPatchOperation[]) : []
    if (patch.length > 0) object = applyOps(object, patch) as KubeObject
  }
  return verdict
}

/** In-process transport for webhookChain: reviewAdmission on the path's routes. */
export function inProcess(config: Config): Send {
  return (mode, request) => review(mode, request, config).review
}

export type CheckComparison = { skipped: string } | { violations: string[]; check: Verdict; webhook: Verdict }

/** `runguard check`'s pure functions on the pair's objects, against the webhook chain on the same write. */
export function compareCheck(pair: Pair, request: AdmissionRequest, config: Config, webhook: Verdict): CheckComparison {
  const object = request.object as KubeObject
  const old = request.oldObject as KubeObject | null
  let report: ReturnType<typeof checkObjects>
  try {
    report = checkObjects(
      {
        newObjects: [{ object: structuredClone(object), source: 'new.yaml' }],
        oldObjects: old ? [{ object: structuredClone(old), source: 'old.yaml' }] : [],
        ...(request.subResource === 'status' ? { subResource: 'status' as const } : {}),
        operation: request.operation as 'CREATE' | 'UPDATE',
        userInfo: structuredClone(pair.writer.userInfo),
      },
      WEBHOOKS,
      config,
      NOW,
    )
  } catch (err) {
    if (err instanceof InputError) return { skipped: err.message }
    return { violations: [`runguard check threw: ${(err as Error).stack ?? String(err)}`], check: { allowed: false, messages: [], warnings: [] }, webhook }
  }
  const result = report.results[0]
  if (!result) return { skipped: 'check judged nothing' }
  const check: Verdict = { allowed: result.allowed, messages: result.messages, warnings: result.warnings }
  if (webhook.messages[0] === '<409 Conflict>') {
    return { violations: check.allowed || !/the object has been modified/.test(check.messages[0] ?? '') ? [`check does not report the stale write as a conflict: ${JSON.stringify(check)}`] : [], check, webhook }
  }
  const violations: string[] = []
  if (check.allowed !== webhook.allowed) violations.push(`verdicts differ: check ${check.allowed ? 'allows' : 'denies'}, webhook ${webhook.allowed ? 'allows' : 'denies'}`)
  if (!isDeepStrictEqual(check.messages, webhook.messages)) violations.push(`messages differ:\n  check:   ${JSON.stringify(check.messages).slice(0, 600)}\n  webhook: ${JSON.stringify(webhook.messages).slice(0, 600)}`)
  if (!isDeepStrictEqual(check.warnings, webhook.warnings)) violations.push(`warnings differ:\n  check:   ${JSON.stringify(check.warnings).slice(0, 600)}\n  webhook: ${JSON.stringify(webhook.warnings).slice(0, 600)}`)
  return { violations, check, webhook }
}

/** The request `runguard check` builds for the pair is the API server's (namespace filled in). */
export function checkableRequest(request: AdmissionRequest): AdmissionRequest {
  return apiServerRequest(request)
}

// --- 5. every denial names a field path that exists in the object or its old version --------------

const TYPE_TEXTS = ['Required value', 'Invalid value', 'Forbidden', 'Unsupported value', 'Duplicate value', 'Too long', 'Too many']
const ROOTS = ['spec', 'status', 'metadata', 'oldObject', 'request']

/** The field paths at the start of each field error in a denial message. */
export function namedPaths(message: string): Array<{ path: string; type: string }> {
  const found: Array<{ path: string; type: string }> = []
  const starts = [...message.matchAll(new RegExp(`(?:^|\\[|, )(${ROOTS.join('|')})\\b`, 'g'))].map((m) => (m.index ?? 0) + m[0].length - (m[1] as string).length)
  for (const start of starts) {
    // The path runs to the first `: <type text>` after it.
    let best: { end: number; type: string } | undefined
    for (const type of TYPE_TEXTS) {
      const end = message.indexOf(`: ${type}`, start)
      if (end >= 0 && (!best || end < best.end)) best = { end, type }
    }
    if (best) found.push({ path: message.slice(start, best.end), type: best.type })
  }
  return found
}

/** Whether `path` (apimachinery style: `a.b[key].c[0]`, or ajv's dotted `a.b.0`) names a value under `root`. */
export function resolves(root: unknown, path: string): { found: boolean; value?: unknown } {
  if (path === '') return { found: true, value: root }
  if (path.startsWith('.')) return resolves(root, path.slice(1))
  if (path.startsWith('[')) {
    // `[key]`: the key may itself hold `]`, so try every closing bracket followed by `.`, `[` or the end.
    for (let i = path.indexOf(']'); i >= 0; i = path.indexOf(']', i + 1)) {
      const next = path[i + 1]
      if (next !== undefined && next !== '.' && next !== '[') continue
      const key = path.slice(1, i)
      for (const candidate of keysMatching(root, key)) {
        const r = resolves((root as Record<string, unknown>)[candidate], path.slice(i + 1))
        if (r.found) return r
      }
    }
    return { found: false }
  }
  // A dotted name: a key may hold dots (labels like app.kubernetes.io/name), so try every split.
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== '.' && path[i] !== '[') continue
    const key = path.slice(0, i)
    for (const candidate of keysMatching(root, key)) {
      const r = resolves((root as Record<string, unknown>)[candidate], path.slice(i))
      if (r.found) return r
    }
  }
  return { found: false }
}

/** Own keys of `root` a path segment may stand for: the key itself, or a key a message shortened to `prefix...`. */
function keysMatching(root: unknown, key: string): string[] {
  if (typeof root !== 'object' || root === null) return []
  const candidates = new Set([key, unescapeKey(key)])
  const found: string[] = []
  for (const k of candidates) {
    if (Object.hasOwn(root, k)) found.push(k)
    else if (k.endsWith('...')) found.push(...Object.keys(root).filter((own) => own.startsWith(k.slice(0, -3))))
  }
  return found
}

/** Undoes the escapes a message shows control characters in map keys with (`\n`, `\u2028`). */
function unescapeKey(key: string): string {
  return key.replace(/\\(n|r|t|u[0-9a-f]{4})/g, (_, e: string) => (e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : String.fromCharCode(parseInt(e.slice(1), 16))))
}

/** Each denial of `outcome` must name at least one path, and every path it names must exist (Required: must be absent or blank). */
export function checkDenialPaths(request: AdmissionRequest, outcome: ReviewOutcome): string[] {
  const d = outcome.decision
  if (d.allowed) return []
  const message = d.message ?? ''
  const paths = namedPaths(message)
  if (paths.length === 0) {
    if (/^request\.(object|oldObject) is missing or not an object/.test(message)) return []
    return [`the denial names no field path: ${JSON.stringify(message.slice(0, 300))}`]
  }
  const violations: string[] = []
  const roots: Record<string, unknown[]> = {
    spec: [request.object, request.oldObject],
    status: [request.object, request.oldObject],
    metadata: [request.object, request.oldObject],
    oldObject: [{ oldObject: request.oldObject }],
    request: [{ request }],
  }
  for (const { path, type } of paths) {
    const top = path.split(/[.[]/)[0] as string
    const candidates = roots[top] ?? []
    if (type === 'Required value') {
      const r = resolves(request.object, path)
      // Absent, null, blank, or a list lacking the required entries ("at least one step with a name").
      if (r.found && !(r.value === undefined || r.value === null || Array.isArray(r.value) || (typeof r.value === 'string' && r.value.trim() === ''))) {
        violations.push(`"${path}: Required value" but the object has ${JSON.stringify(r.value).slice(0, 100)} there`)
      }
      continue
    }
    if (!candidates.some((root) => resolves(root, path).found)) violations.push(`the denial names ${JSON.stringify(path.slice(0, 200))}, which is in neither the object nor its old version`)
  }
  return violations
}

export { CONFIGS }
export type { Json }
