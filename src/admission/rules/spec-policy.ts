/**
 * Validating — spec policy (CREATE, UPDATE of the main resource of all three run kinds).
 * Implements SPEC §2 rule 5: upstream's reconcile-time checks moved to admission (SPEC §1),
 * grouped in rule sets whose enforcement (`deny` | `warn`) is configured per set:
 *
 *   parameters  spec.parameters ≤ 100 entries, string values ≤ 2048 bytes UTF-8, no key `prompt`
 *               (trimmed, any case, as upstream); on a workflow-runtime AgentRun also each named
 *               step's string parameters (upstream's validateWorkflowSteps)
 *               ParametersTooLarge, ParameterNotString, ParameterValueTooLarge, ForbiddenParameterKey
 *   labels      metadata.labels against the required / allowed / denied policy
 *               MissingRequiredLabels, LabelNotAllowed, LabelBlocked
 *   images      the image a run will use against the allowed / denied globs: on an AgentRun the
 *               job runtime's spec.workload.image, and for the workflow runtime each named step's
 *               own workload image or else spec.workload.image (upstream checks no other runtime);
 *               on the other kinds spec.workload.image and every step image
 *                                                           ImageNotAllowed, ImageBlocked
 *   workflow    spec.workflow.steps[].name non-empty and unique (trimmed)   MissingStepName, DuplicateStepName
 *   ttl         spec.ttlSecondsAfterFinished an integer ≥ 0       InvalidTTL
 *
 * Rule 5 per kind: upstream applies its parameter limits and label/image policy to AgentRuns it
 * submits only (agent-run-reconciler.ts). Its orchestration controller hands an orchestration's
 * parameters on to child ToolRuns and OrchestrationRuns (orchestration-controller.ts, a `prompt`
 * key and long values included), and never checks AgentRun templates (annotation
 * `agents.proompteng.ai/template: "true"`). On those the parameters, labels and images findings
 * are always warnings; workflow and ttl (runguard's own rules) follow their enforcement everywhere.
 *
 * Every violation, denied or warned, is also an InvalidSpec Event (SPEC §4), so
 * evaluateSpecPolicy() hands the caller both lists; validateSpecPolicy() is the same decision
 * as a plain RuleResult.
 *
 * Ratcheting (ratchet.ts): on UPDATE a violation the stored object already had is neither denied
 * nor warned.
 *
 * Semantics follow upstream's primitives-policy: label policy looks at label keys whose value
 * is a non-empty string; a required label needs a non-empty value; globs per src/admission/glob.ts.
 */
import { Buffer } from 'node:buffer'

import type { Config, Enforcement, RuleSet } from '../../config.ts'
import { fieldError, formatFieldError } from '../field-errors.ts'
import { firstMatch } from '../glob.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import { isJsonObject, type JsonObject, type KubeObject } from '../../kube/objects.ts'
import type { RunKindName } from '../../kube/run-kinds.ts'
import { ratchet } from './ratchet.ts'
import { runKindOf, upstreamString, upstreamValidatesAsAgentRun } from './upstream-read.ts'

export const MAX_PARAMETERS = 100
export const MAX_PARAMETER_VALUE_BYTES = 2048
/** Compared with the key trimmed and lower-cased, as upstream's validateParameters does. */
export const FORBIDDEN_PARAMETER_KEYS: readonly string[] = ['prompt']
const MAX_TTL_SECONDS = 2 ** 31 - 1
/** Per rule set; a 10 000-key map of numbers must not become a 10 000-line denial. */
export const MAX_ERRORS_PER_RULE_SET = 20
export const MAX_WARNING_LENGTH = 120

/** Rule sets upstream enforces on (non-template) AgentRuns only; warnings on everything else. */
export const AGENTRUN_ONLY_RULE_SETS: readonly RuleSet[] = ['parameters', 'labels', 'images']

/** Which rule set, and so which enforcement, each reason belongs to. */
export const RULE_SET_OF_REASON: Readonly<Record<string, RuleSet>> = {
  InvalidParameters: 'parameters',
  ParametersTooLarge: 'parameters',
  ParameterNotString: 'parameters',
  ParameterValueTooLarge: 'parameters',
  ForbiddenParameterKey: 'parameters',
  InvalidLabels: 'labels',
  MissingRequiredLabels: 'labels',
  LabelBlocked: 'labels',
  LabelNotAllowed: 'labels',
  InvalidImage: 'images',
  ImageBlocked: 'images',
  ImageNotAllowed: 'images',
  InvalidWorkflow: 'workflow',
  MissingStepName: 'workflow',
  DuplicateStepName: 'workflow',
  InvalidTTL: 'ttl',
}

export interface SpecPolicyResult {
  /** Violations in rule sets enforced with `deny`: the request is refused. */
  denied: FieldError[]
  /** Violations in rule sets enforced with `warn`, or not enforced on this kind: admitted with a warning. */
  warned: FieldError[]
  /** Violations the stored object already had (UPDATE only): neither denied nor warned; for logs. */
  ratcheted: FieldError[]
}

// --- parameters -----------------------------------------------------------------------------

const MAX_SHOWN_KEY = 128

/** Line breaks and other control characters: shown as escapes so a key cannot split the one-line message. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/**
 * `path[key]` as apimachinery writes map keys; a key can be any size, so the path shows at most
 * 128 characters of it, and any text (a parameter key is free-form), so control characters are escaped.
 */
function keyPath(path: string, key: string): string {
  const shown = key.length > MAX_SHOWN_KEY ? `${key.slice(0, MAX_SHOWN_KEY - 3)}...` : key
  const escaped = shown.replace(CONTROL_CHARACTER, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return `${path}[${escaped}]`
}

/** Upstream's forbidden-key test: `key.trim().toLowerCase()` is a forbidden key. */
export function isForbiddenParameterKey(key: string): boolean {
  return FORBIDDEN_PARAMETER_KEYS.includes(key.trim().toLowerCase())
}

/**
 * The parameters checks on one `parameters` map at `path`. `stringsOnly` judges only the string
 * entries, as upstream does for workflow steps (parseWorkflowSteps drops the others).
 */
export function checkParameters(value: unknown, path = 'spec.parameters', options: { stringsOnly?: boolean } = {}): FieldError[] {
  if (value === undefined || value === null) return []
  if (!isJsonObject(value)) return [fieldError.invalid(path, value, 'InvalidParameters', 'must be a map of string keys to string values')]
  const errors: FieldError[] = []
  const entries = Object.entries(value).filter(([, entry]) => !options.stringsOnly || typeof entry === 'string')
  if (entries.length > MAX_PARAMETERS) {
    errors.push(fieldError.tooMany(path, 'ParametersTooLarge', `has ${entries.length} entries, may have at most ${MAX_PARAMETERS}`))
  }
  for (const [key, entry] of entries) {
    const field = keyPath(path, key)
    if (isForbiddenParameterKey(key)) {
      errors.push(fieldError.forbidden(field, 'ForbiddenParameterKey', `the key ${JSON.stringify(key)} is reserved (any case): use ImplementationSpec.spec.text`))
    }
    if (typeof entry !== 'string') {
      errors.push(fieldError.invalid(field, entry, 'ParameterNotString', 'must be a string (quote numbers and booleans)'))
      continue
    }
    const bytes = Buffer.byteLength(entry, 'utf8')
    if (bytes > MAX_PARAMETER_VALUE_BYTES) {
      errors.push(fieldError.tooLong(field, 'ParameterValueTooLarge', `may not be more than ${MAX_PARAMETER_VALUE_BYTES} bytes (UTF-8), is ${bytes} bytes`))
    }
  }
  return errors
}

/** The runtime type as upstream reads it (`asString(spec.runtime.type)`), or undefined. */
function runtimeType(spec: JsonObject): string | undefined {
  return upstreamString(isJsonObject(spec.runtime) ? spec.runtime.type : undefined)
}

/** Steps upstream runs: objects with a non-blank name, with their index in spec.workflow.steps. */
function namedSteps(spec: JsonObject): Array<{ step: JsonObject; index: number }> {
  return (workflowSteps(spec) ?? []).flatMap((step, index) => (isJsonObject(step) && upstreamString(step.name) !== undefined ? [{ step, index }] : []))
}

/** Upstream's validateWorkflowSteps on each named step's parameters (workflow runtime only). */
function checkStepParameters(spec: JsonObject): FieldError[] {
  if (runtimeType(spec) !== 'workflow') return []
  return namedSteps(spec).flatMap(({ step, index }) =>
    isJsonObject(step.parameters) ? checkParameters(step.parameters, `spec.workflow.steps[${index}].parameters`, { stringsOnly: true }) : [],
  )
}

// --- labels ---------------------------------------------------------------------------------

/** A short, bounded rendering of a pattern list for messages. */
function describePatterns(patterns: readonly string[]): string {
  const shown = patterns.slice(0, 5).map((p) => JSON.stringify(p))
  return patterns.length > 5 ? `${shown.join(', ')}, … (${patterns.length} in all)` : shown.join(', ')
}

export function checkLabels(metadata: unknown, config: Pick<Config, 'labelsRequired' | 'labelsAllowed' | 'labelsDenied'>): FieldError[] {
  const raw: unknown = isJsonObject(metadata) ? metadata.labels : undefined
  if (raw !== undefined && raw !== null && !isJsonObject(raw)) {
    return [fieldError.invalid('metadata.labels', raw, 'InvalidLabels', 'must be a map of string keys to string values')]
  }
  const labels: JsonObject = isJsonObject(raw) ? raw : {}
  // Upstream's normalizeLabelMap: only non-empty string values count as carrying a label.
  const present = Object.keys(labels).filter((key) => key !== '' && typeof labels[key] === 'string' && (labels[key] as string).trim() !== '')

  const errors: FieldError[] = []
  for (const key of config.labelsRequired) {
    if (!present.includes(key)) {
      errors.push(fieldError.required(keyPath('metadata.labels', key), 'MissingRequiredLabels', 'label required by the label policy (with a non-empty value)'))
    }
  }
  for (const key of present) {
    const denied = firstMatch(key, config.labelsDenied)
    if (denied !== undefined) {
      errors.push(fieldError.forbidden(keyPath('metadata.labels', key), 'LabelBlocked', `label key matches denied pattern ${JSON.stringify(denied)}`))
    } else if (config.labelsAllowed.length > 0 && firstMatch(key, config.labelsAllowed) === undefined) {
      errors.push(fieldError.forbidden(keyPath('metadata.labels', key), 'LabelNotAllowed', `label key is not in the allowed list (${describePatterns(config.labelsAllowed)})`))
    }
  }
  return errors
}

// --- images ---------------------------------------------------------------------------------

function checkImage(value: unknown, field: string, config: Pick<Config, 'imagesAllowed' | 'imagesDenied'>): FieldError[] {
  if (value === undefined || value === null) return []
  if (typeof value !== 'string') return [fieldError.invalid(field, value, 'InvalidImage', 'must be a string')]
  const image = value.trim()
  if (image === '') return []
  const denied = firstMatch(image, config.imagesDenied)
  if (denied !== undefined) return [fieldError.invalid(field, value, 'ImageBlocked', `matches denied pattern ${JSON.stringify(denied)}`)]
  if (config.imagesAllowed.length > 0 && firstMatch(image, config.imagesAllowed) === undefined) {
    return [fieldError.invalid(field, value, 'ImageNotAllowed', `matches no allowed pattern (${describePatterns(config.imagesAllowed)})`)]
  }
  return []
}

/** The workflow steps as a list, or undefined when spec.workflow has none / is malformed. */
function workflowSteps(spec: JsonObject): unknown[] | undefined {
  const workflow = spec.workflow
  if (!isJsonObject(workflow)) return undefined
  return Array.isArray(workflow.steps) ? workflow.steps : undefined
}

function imageOf(workload: unknown): unknown {
  return isJsonObject(workload) ? workload.image : undefined
}

/**
 * The images an AgentRun will run, as upstream resolves them before its image policy:
 * job runtime → spec.workload.image; workflow runtime → for each named step its own
 * `workload.image` when the step has a workload, else spec.workload.image (reported once).
 */
function agentRunImages(spec: JsonObject): Array<{ value: unknown; field: string }> {
  const type = runtimeType(spec)
  if (type === 'job') return [{ value: imageOf(spec.workload), field: 'spec.workload.image' }]
  if (type !== 'workflow') return []
  const images: Array<{ value: unknown; field: string }> = []
  let baseUsed = false
  for (const { step, index } of namedSteps(spec)) {
    if (isJsonObject(step.workload)) images.push({ value: step.workload.image, field: `spec.workflow.steps[${index}].workload.image` })
    else baseUsed = true
  }
  if (baseUsed) images.unshift({ value: imageOf(spec.workload), field: 'spec.workload.image' })
  return images
}

/** Every image field of a run of another kind (no runtime semantics to follow there). */
function allImages(spec: JsonObject): Array<{ value: unknown; field: string }> {
  const images = [{ value: imageOf(spec.workload), field: 'spec.workload.image' }]
  workflowSteps(spec)?.forEach((step, i) => {
    images.push({ value: imageOf(isJsonObject(step) ? step.workload : undefined), field: `spec.workflow.steps[${i}].workload.image` })
  })
  return images
}

export function checkImages(spec: JsonObject, config: Pick<Config, 'imagesAllowed' | 'imagesDenied'>, kind?: RunKindName): FieldError[] {
  const images = kind === 'AgentRun' ? agentRunImages(spec) : allImages(spec)
  return images.flatMap(({ value, field }) => checkImage(value, field, config))
}

// --- workflow -------------------------------------------------------------------------------

export function checkWorkflow(spec: JsonObject): FieldError[] {
  const workflow = spec.workflow
  if (workflow === undefined || workflow === null) return []
  if (!isJsonObject(workflow)) return [fieldError.invalid('spec.workflow', workflow, 'InvalidWorkflow', 'must be an object')]
  const steps = workflow.steps
  if (steps === undefined || steps === null) return []
  if (!Array.isArray(steps)) return [fieldError.invalid('spec.workflow.steps', steps, 'InvalidWorkflow', 'must be a list of steps')]

  const errors: FieldError[] = []
  const firstIndex = new Map<string, number>()
  steps.forEach((step: unknown, i) => {
    const field = `spec.workflow.steps[${i}].name`
    if (!isJsonObject(step)) {
      errors.push(fieldError.invalid(`spec.workflow.steps[${i}]`, step, 'InvalidWorkflow', 'must be an object'))
      return
    }
    const name = step.name
    if (typeof name !== 'string' || name.trim() === '') {
      errors.push(
        name === undefined || name === null || name === ''
          ? fieldError.required(field, 'MissingStepName', 'every workflow step needs a name')
          : fieldError.invalid(field, name, 'MissingStepName', 'must be a non-empty string'),
      )
      return
    }
    // Upstream compares step names trimmed (asString), so " plan" and "plan" are the same step.
    const key = name.trim()
    const earlier = firstIndex.get(key)
    if (earlier === undefined) firstIndex.set(key, i)
    else errors.push(fieldError.duplicate(field, name, 'DuplicateStepName', `also the name of spec.workflow.steps[${earlier}]; step names must be unique`))
  })
  return errors
}

// --- ttl ------------------------------------------------------------------------------------

export function checkTtl(spec: JsonObject): FieldError[] {
  const ttl = spec.ttlSecondsAfterFinished
  if (ttl === undefined || ttl === null) return []
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS) {
    return [fieldError.invalid('spec.ttlSecondsAfterFinished', ttl, 'InvalidTTL', 'must be an integer number of seconds, 0 or more')]
  }
  return []
}

// --- putting it together --------------------------------------------------------------------

/** Every rule-5 violation of one object of `kind`, before enforcement and ratcheting. */
export function specPolicyViolations(obj: KubeObject | undefined, config: Config, kind?: RunKindName): FieldError[] {
  if (!obj) return []
  // A spec that is not an object is reported by validateCancel (rule 1's shape guard); here it
  // simply has nothing to check.
  const spec: JsonObject | undefined = isJsonObject(obj.spec) ? obj.spec : undefined
  return [
    ...(spec ? checkParameters(spec.parameters) : []),
    ...(spec && kind === 'AgentRun' ? checkStepParameters(spec) : []),
    ...checkLabels(obj.metadata, config),
    ...(spec ? [...checkImages(spec, config, kind), ...checkWorkflow(spec), ...checkTtl(spec)] : []),
  ]
}

function capPerRuleSet(errors: FieldError[]): FieldError[] {
  const counts = new Map<RuleSet, number>()
  return errors.filter((err) => {
    const set = ruleSetOf(err)
    const count = (counts.get(set) ?? 0) + 1
    counts.set(set, count)
    return count <= MAX_ERRORS_PER_RULE_SET
  })
}

export function ruleSetOf(err: FieldError): RuleSet {
  return RULE_SET_OF_REASON[err.reason] ?? 'parameters'
}

/** The enforcement of one violation: its rule set's, except where upstream does not enforce that set at all. */
export function enforcementOf(err: FieldError, upstreamEnforces: boolean, config: Config): Enforcement {
  const set = ruleSetOf(err)
  if (!upstreamEnforces && AGENTRUN_ONLY_RULE_SETS.includes(set)) return 'warn'
  return config.enforcement[set]
}

/** A warn-mode violation as a kubectl warning: one line, at most 120 characters. */
export function warningFor(err: FieldError): string {
  const text = formatFieldError(err).replace(/\s+/g, ' ')
  return text.length > MAX_WARNING_LENGTH ? `${text.slice(0, MAX_WARNING_LENGTH - 3)}...` : text
}

/**
 * SPEC §2 rule 5 for one request, split by enforcement. The caller denies with `denied` (HTTP
 * 422), warns with `warned`, and sends an InvalidSpec Event for both unless the request is a
 * dry run. Non-CREATE/UPDATE requests and subresource writes yield nothing.
 */
export function evaluateSpecPolicy(ctx: RuleContext): SpecPolicyResult {
  const result: SpecPolicyResult = { denied: [], warned: [], ratcheted: [] }
  const { operation, subResource } = ctx.request
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || subResource || !ctx.newObject) return result

  const kind = runKindOf(ctx)
  const stored = operation === 'UPDATE' ? specPolicyViolations(ctx.oldObject, ctx.config, kind) : []
  const { fresh, ratcheted } = ratchet(specPolicyViolations(ctx.newObject, ctx.config, kind), stored)
  result.ratcheted = ratcheted
  const upstreamEnforces = upstreamValidatesAsAgentRun(ctx, ctx.newObject)
  for (const err of capPerRuleSet(fresh)) {
    if (enforcementOf(err, upstreamEnforces, ctx.config) === 'warn') result.warned.push(err)
    else result.denied.push(err)
  }
  return result
}

export const validateSpecPolicy: ValidationRule = (ctx: RuleContext): RuleResult => {
  const { denied, warned } = evaluateSpecPolicy(ctx)
  return { errors: denied, warnings: warned.map(warningFor), warned }
}
