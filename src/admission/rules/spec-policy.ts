/**
 * Validating — spec policy (CREATE, UPDATE of the main resource of all three run kinds).
 * Implements SPEC §2 rule 5: upstream's reconcile-time checks moved to admission (SPEC §1),
 * grouped in rule sets whose enforcement (`deny` | `warn`) is configured per set:
 *
 *   parameters  spec.parameters ≤ 100 entries, string values ≤ 2048 bytes UTF-8, no key `prompt`
 *               ParametersTooLarge, ParameterNotString, ParameterValueTooLarge, ForbiddenParameterKey
 *   labels      metadata.labels against the required / allowed / denied policy
 *               MissingRequiredLabels, LabelNotAllowed, LabelBlocked
 *   images      spec.workload.image and spec.workflow.steps[].workload.image against the
 *               allowed / denied globs                      ImageNotAllowed, ImageBlocked
 *   workflow    spec.workflow.steps[].name non-empty and unique   MissingStepName, DuplicateStepName
 *   ttl         spec.ttlSecondsAfterFinished an integer ≥ 0       InvalidTTL
 *
 * Every violation, denied or warned, is also an InvalidSpec Event (SPEC §4), so
 * evaluateSpecPolicy() hands the caller both lists; validateSpecPolicy() is the same decision
 * as a plain RuleResult.
 *
 * Ratcheting: on UPDATE a violation the stored object already had (same field, reason and
 * value) is neither denied nor warned. A policy tightened after a run was created must not make
 * that run impossible to cancel, or block a controller adding a finalizer to it.
 *
 * Semantics follow upstream's primitives-policy: label policy looks at label keys whose value
 * is a non-empty string; a required label needs a non-empty value; globs per src/admission/glob.ts.
 */
import { Buffer } from 'node:buffer'

import type { Config, RuleSet } from '../../config.ts'
import { fieldError, formatFieldError } from '../field-errors.ts'
import { firstMatch } from '../glob.ts'
import type { FieldError, RuleContext, RuleResult, ValidationRule } from '../types.ts'
import { isJsonObject, type JsonObject, type KubeObject } from '../../kube/objects.ts'

export const MAX_PARAMETERS = 100
export const MAX_PARAMETER_VALUE_BYTES = 2048
export const FORBIDDEN_PARAMETER_KEYS: readonly string[] = ['prompt']
const MAX_TTL_SECONDS = 2 ** 31 - 1
/** Per rule set; a 10 000-key map of numbers must not become a 10 000-line denial. */
export const MAX_ERRORS_PER_RULE_SET = 20
export const MAX_WARNING_LENGTH = 120

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
  /** Violations in rule sets enforced with `warn`: admitted with a warning. */
  warned: FieldError[]
  /** Violations the stored object already had (UPDATE only): neither denied nor warned; for logs. */
  ratcheted: FieldError[]
}

// --- parameters -----------------------------------------------------------------------------

const MAX_SHOWN_KEY = 128

/** `path[key]` as apimachinery writes map keys; a key can be any size, so the path shows at most 128 characters of it. */
function keyPath(path: string, key: string): string {
  return `${path}[${key.length > MAX_SHOWN_KEY ? `${key.slice(0, MAX_SHOWN_KEY - 3)}...` : key}]`
}

/** The parameters checks on one `parameters` map at `path` (exported for `runguard check`). */
export function checkParameters(value: unknown, path = 'spec.parameters'): FieldError[] {
  if (value === undefined || value === null) return []
  if (!isJsonObject(value)) return [fieldError.invalid(path, value, 'InvalidParameters', 'must be a map of string keys to string values')]
  const errors: FieldError[] = []
  const entries = Object.entries(value)
  if (entries.length > MAX_PARAMETERS) {
    errors.push(fieldError.tooMany(path, 'ParametersTooLarge', `has ${entries.length} entries, may have at most ${MAX_PARAMETERS}`))
  }
  for (const [key, entry] of entries) {
    const field = keyPath(path, key)
    if (FORBIDDEN_PARAMETER_KEYS.includes(key)) {
      errors.push(fieldError.forbidden(field, 'ForbiddenParameterKey', `the key ${JSON.stringify(key)} is reserved and may not be passed as a parameter`))
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

export function checkImages(spec: JsonObject, config: Pick<Config, 'imagesAllowed' | 'imagesDenied'>): FieldError[] {
  const errors = checkImage(isJsonObject(spec.workload) ? spec.workload.image : undefined, 'spec.workload.image', config)
  workflowSteps(spec)?.forEach((step, i) => {
    const workload = isJsonObject(step) ? step.workload : undefined
    errors.push(...checkImage(isJsonObject(workload) ? workload.image : undefined, `spec.workflow.steps[${i}].workload.image`, config))
  })
  return errors
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
    const earlier = firstIndex.get(name)
    if (earlier === undefined) firstIndex.set(name, i)
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

/** Every rule-5 violation of one object, before enforcement and ratcheting. */
export function specPolicyViolations(obj: KubeObject | undefined, config: Config): FieldError[] {
  if (!obj) return []
  // A spec that is not an object is reported by validateCancel (rule 1's shape guard); here it
  // simply has nothing to check.
  const spec: JsonObject | undefined = isJsonObject(obj.spec) ? obj.spec : undefined
  return [
    ...(spec ? checkParameters(spec.parameters) : []),
    ...checkLabels(obj.metadata, config),
    ...(spec ? [...checkImages(spec, config), ...checkWorkflow(spec), ...checkTtl(spec)] : []),
  ]
}

/** Same violation = same field, reason and full value (not the shortened one messages show). */
function identity(err: FieldError): string {
  let value = ''
  if (err.hasValue) {
    try {
      value = JSON.stringify(err.value) ?? ''
    } catch {
      value = String(err.value)
    }
  }
  return `${err.field}\u0000${err.reason}\u0000${value}`
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

  const existing = operation === 'UPDATE' ? new Set(specPolicyViolations(ctx.oldObject, ctx.config).map(identity)) : new Set<string>()
  const fresh: FieldError[] = []
  for (const err of specPolicyViolations(ctx.newObject, ctx.config)) {
    if (existing.has(identity(err))) result.ratcheted.push(err)
    else fresh.push(err)
  }
  for (const err of capPerRuleSet(fresh)) {
    if (ctx.config.enforcement[ruleSetOf(err)] === 'warn') result.warned.push(err)
    else result.denied.push(err)
  }
  return result
}

export const validateSpecPolicy: ValidationRule = (ctx: RuleContext): RuleResult => {
  const { denied, warned } = evaluateSpecPolicy(ctx)
  return { errors: denied, warnings: warned.map(warningFor), warned }
}
