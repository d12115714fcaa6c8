/**
 * manifests/crds/ must be a strict superset of the upstream Agents CRDs (SPEC §1 "Never lose upstream
 * data"): every node listed in test/fixtures/upstream-crds-fields.txt (a verbatim copy of the shared
 * UPSTREAM_CRDS.md) with the same type, required-ness, enum, format, limits, map shape,
 * preserve-unknown-fields and CEL rules, the same printer columns, and no other node or constraint
 * except runguard's documented additions (spec.cancel, spec.desiredState and the CEL backstops).
 * The same check, without the additions, keeps the upstream-only fixture of crds-patch.test.ts honest.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import YAML from 'yaml'

import { RUN_KINDS } from '../../src/kube/run-kinds.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The type of the `t` a subtest callback receives. */
type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

// ---------------------------------------------------------------------------------------------
// The field list: `path — type [required] [details]`, `[]` an array item, `{}` a map value.

interface Column {
  name: string
  type: string
  jsonPath: string
}

interface Field {
  path: string
  type: string
  required: boolean
  enum?: string[]
  format?: string
  pattern?: string
  limits: Record<string, number>
  map: boolean
  preserveUnknown: boolean
  rules: string[]
}

interface UpstreamKind {
  kind: string
  crdName: string
  columns: Column[]
  fields: Field[]
}

const LIMIT_KEYS = ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'maxProperties'] as const

function parseField(line: string): Field {
  const m = /^(\S+) — (object|string|integer|boolean|array|number)( required)?(?: {2}(.*))?$/.exec(line)
  if (!m) throw new Error(`unparseable field line: ${line}`)
  const field: Field = {
    path: m[1]!,
    type: m[2]!,
    required: m[3] !== undefined,
    limits: {},
    map: false,
    preserveUnknown: false,
    rules: [],
  }
  let details = m[4] ?? ''
  const cel = details.indexOf('CEL: ')
  if (cel >= 0) {
    field.rules = details
      .slice(cel + 'CEL: '.length)
      .split(' ; ')
      .map((r) => r.trim())
    details = details.slice(0, cel)
  }
  for (const part of details.split(';').map((p) => p.trim()).filter(Boolean)) {
    const space = part.indexOf(' ')
    const key = space < 0 ? part : part.slice(0, space)
    const value = space < 0 ? '' : part.slice(space + 1)
    if (key === 'map') field.map = true
    else if (key === 'preserve-unknown-fields') field.preserveUnknown = true
    else if (key === 'enum') field.enum = value.split('|')
    else if (key === 'format') field.format = value
    else if (key === 'pattern') field.pattern = value
    else if ((LIMIT_KEYS as readonly string[]).includes(key) && /^-?\d+$/.test(value)) field.limits[key] = Number(value)
    else throw new Error(`unknown detail "${part}" in: ${line}`)
  }
  return field
}

function parseUpstream(text: string): UpstreamKind[] {
  const kinds: UpstreamKind[] = []
  let current: UpstreamKind | undefined
  let inBlock = false
  for (const line of text.split('\n')) {
    const heading = /^## (\w+) — `([^`]+)` `v1alpha1`/.exec(line)
    if (heading) {
      current = { kind: heading[1]!, crdName: heading[2]!, columns: [], fields: [] }
      kinds.push(current)
    } else if (line.startsWith('```')) {
      inBlock = !inBlock
    } else if (current && inBlock && line.trim() !== '') {
      current.fields.push(parseField(line))
    } else if (current && line.startsWith('Printer columns:')) {
      for (const c of line.matchAll(/(\w+) \((\w+): `([^`]+)`\)/g)) {
        current.columns.push({ name: c[1]!, type: c[2]!, jsonPath: c[3]! })
      }
    }
  }
  return kinds
}

/** `spec.workflow.steps[].parameters{}` → ['spec', 'workflow', 'steps', '[]', 'parameters', '{}'] */
function tokens(path: string): string[] {
  return [...path.matchAll(/\[\]|\{\}|[^.[\]{}]+/g)].map((m) => m[0])
}

// ---------------------------------------------------------------------------------------------
// Schemas.

interface Rule {
  rule: string
  message?: string
  messageExpression?: string
  fieldPath?: string
  reason?: string
}

interface Schema {
  type?: string
  description?: string
  required?: string[]
  properties?: Record<string, Schema>
  items?: Schema
  additionalProperties?: Schema | boolean
  'x-kubernetes-validations'?: Rule[]
  [key: string]: unknown
}

interface Crd {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  spec: {
    group: string
    names: Record<string, unknown>
    scope: string
    versions: Array<{
      name: string
      served: boolean
      storage: boolean
      subresources?: Record<string, unknown>
      additionalPrinterColumns?: Column[]
      schema: { openAPIV3Schema: Schema }
    }>
  }
}

function child(node: Schema, token: string): Schema | undefined {
  if (token === '[]') return node.items
  if (token === '{}') return typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined
  return node.properties?.[token]
}

function lookup(schema: Schema, path: string): Schema | undefined {
  let node: Schema | undefined = schema
  for (const tok of tokens(path)) node = node && child(node, tok)
  return node
}

/** Every schema node below the root, by field-list path (typeless free-form map values excluded). */
function walk(node: Schema, prefix: string, out: string[]): string[] {
  for (const [name, sub] of Object.entries(node.properties ?? {})) {
    const p = prefix ? `${prefix}.${name}` : name
    out.push(p)
    walk(sub, p, out)
  }
  if (node.items) {
    out.push(`${prefix}[]`)
    walk(node.items, `${prefix}[]`, out)
  }
  if (typeof node.additionalProperties === 'object' && node.additionalProperties.type !== undefined) {
    out.push(`${prefix}{}`)
    walk(node.additionalProperties, `${prefix}{}`, out)
  }
  return out
}

const FREE_FORM_VALUE = { 'x-kubernetes-preserve-unknown-fields': true }
/** Keys a node may carry; anything else (a default, a new limit, nullable...) would be a difference. */
const SUMMARISED = new Set([
  'type', 'description', 'required', 'properties', 'items', 'additionalProperties', 'enum', 'format', 'pattern',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations', ...LIMIT_KEYS,
])

/** The facts the field list states about a node, in one comparable shape. */
interface Summary {
  type: string | undefined
  requiredChildren: string[]
  enum: unknown[] | undefined
  format: unknown
  pattern: unknown
  limits: Record<string, unknown>
  map: 'typed' | 'free-form' | 'other' | false
  preserveUnknown: boolean
  rules: string[]
  otherKeys: string[]
}

function summarise(node: Schema): Summary {
  const ap = node.additionalProperties
  const limits: Record<string, unknown> = {}
  for (const k of LIMIT_KEYS) if (node[k] !== undefined) limits[k] = node[k]
  return {
    type: node.type,
    requiredChildren: [...(node.required ?? [])].sort(),
    enum: node.enum as unknown[] | undefined,
    format: node.format,
    pattern: node.pattern,
    limits,
    map:
      ap === undefined
        ? false
        : typeof ap === 'object' && ap.type !== undefined
          ? 'typed'
          : JSON.stringify(ap) === JSON.stringify(FREE_FORM_VALUE)
            ? 'free-form'
            : 'other',
    preserveUnknown: node['x-kubernetes-preserve-unknown-fields'] === true,
    rules: (node['x-kubernetes-validations'] ?? []).map((r) => r.rule),
    otherKeys: Object.keys(node).filter((k) => !SUMMARISED.has(k)),
  }
}

function expected(field: Field | undefined, children: Field[], extraRules: string[]): Summary {
  const hasValueLine = field !== undefined && children.some((c) => c.path === `${field.path}{}`)
  return {
    type: field ? field.type : 'object',
    requiredChildren: children
      .filter((c) => c.required && !c.path.endsWith('[]') && !c.path.endsWith('{}'))
      .map((c) => tokens(c.path).at(-1)!)
      .sort(),
    enum: field?.enum,
    format: field?.format,
    pattern: field?.pattern,
    limits: field?.limits ?? {},
    map: field?.map ? (hasValueLine ? 'typed' : 'free-form') : false,
    preserveUnknown: field?.preserveUnknown ?? false,
    rules: [...(field?.rules ?? []), ...extraRules],
    otherKeys: [],
  }
}

function directChildren(fields: Field[], parentPath: string): Field[] {
  const parent = tokens(parentPath).join('\u0000')
  return fields.filter((f) => tokens(f.path).slice(0, -1).join('\u0000') === parent)
}

// ---------------------------------------------------------------------------------------------
// runguard's documented additions.

const SPEC_RULES = [
  '!(has(oldSelf.cancel) && oldSelf.cancel == true) || (has(self.cancel) && self.cancel == true)',
  "!(has(oldSelf.desiredState) && oldSelf.desiredState == 'Cancelled') || (has(self.desiredState) && self.desiredState == 'Cancelled')",
  "!has(self.cancel) || !has(self.desiredState) || self.cancel == (self.desiredState == 'Cancelled')",
]
const ADDED_FIELDS: Record<string, Summary> = {
  'spec.cancel': { ...expected(undefined, [], []), type: 'boolean' },
  'spec.desiredState': { ...expected(undefined, [], []), type: 'string', enum: ['Running', 'Cancelled'] },
}

const upstream = parseUpstream(readFileSync(`${root}test/fixtures/upstream-crds-fields.txt`, 'utf8'))

function loadCrd(dir: string, crdName: string): Crd {
  const [plural, ...group] = crdName.split('.')
  return YAML.parse(readFileSync(`${root}${dir}/${group.join('.')}_${plural}.yaml`, 'utf8')) as Crd
}

/** The field-list comparison, shared by our CRDs (withAdditions) and the upstream-only fixture. */
function checkAgainstFieldList(t: SubTest, up: UpstreamKind, crd: Crd, withAdditions: boolean): void {
  const schema = crd.spec.versions[0]!.schema.openAPIV3Schema
  const extraRules = (path: string) => (withAdditions && path === 'spec' ? SPEC_RULES : [])

  // The root: type object, `spec` required where upstream requires it, no rules.
  const rootChildren = directChildren(up.fields, '')
  t.strictSame(summarise(schema), expected(undefined, rootChildren, []), 'root node')
  for (const base of ['apiVersion', 'kind']) t.same(schema.properties?.[base]?.type, 'string', `${base} is a string`)
  t.same(schema.properties?.metadata, { type: 'object' }, 'metadata is left to the API server')

  for (const field of up.fields) {
    const node = lookup(schema, field.path)
    if (!node) {
      t.fail(`${field.path} is missing`)
      continue
    }
    t.strictSame(summarise(node), expected(field, directChildren(up.fields, field.path), extraRules(field.path)), field.path)
  }

  // No node beyond the field list, apart from the documented additions.
  const listed = up.fields.map((f) => f.path)
  const allowed = new Set([...listed, 'apiVersion', 'kind', 'metadata', ...(withAdditions ? Object.keys(ADDED_FIELDS) : [])])
  const actual = walk(schema, '', [])
  t.same(actual.filter((p) => !allowed.has(p)), [], 'no schema node beyond the upstream field list and our additions')
  t.same(listed.filter((p) => !actual.includes(p)), [], 'every listed node exists')

  for (const [path, want] of Object.entries(ADDED_FIELDS)) {
    const node = lookup(schema, path)
    if (withAdditions) {
      t.ok(node, `${path} added`)
      if (node) t.strictSame(summarise(node), want, `${path} has the documented shape`)
      t.match(node?.description, /^runguard: /, `${path} is described as runguard's`)
    } else {
      t.equal(node, undefined, `${path} absent upstream`)
    }
  }

  // Every rule has a human message.
  for (const path of ['', ...listed]) {
    const node = path === '' ? schema : lookup(schema, path)
    for (const r of node?.['x-kubernetes-validations'] ?? []) {
      t.ok(typeof r.message === 'string' && r.message.length > 10, `rule on ${path || 'root'} has a message: ${r.rule}`)
    }
  }

  const version = crd.spec.versions[0]!
  t.same(version.additionalPrinterColumns, up.columns, 'printer columns exactly as upstream')
}

// ---------------------------------------------------------------------------------------------

t.test('the field list fixture parses completely', async (t) => {
  t.same(
    upstream.map((u) => u.crdName),
    ['agentruns.agents.proompteng.ai', 'orchestrationruns.orchestration.proompteng.ai', 'toolruns.tools.proompteng.ai'],
  )
  const agentRun = upstream[0]!
  t.ok(agentRun.fields.length > 200, `AgentRun has ${agentRun.fields.length} listed nodes`)
  t.same(agentRun.columns.map((c) => c.name), ['Phase', 'Agent', 'Succeeded', 'Reason', 'StartTime', 'CompletionTime', 'Runtime'])
  t.same(agentRun.fields[0]!.rules.length, 4, 'the four upstream CEL rules on AgentRun spec')
  const steps = agentRun.fields.find((f) => f.path === 'spec.workflow.steps[].parameters')!
  t.same(steps, { path: steps.path, type: 'object', required: false, limits: { maxProperties: 100 }, map: true, preserveUnknown: false, rules: ["!('prompt' in self)"] })
  const reason = agentRun.fields.find((f) => f.path === 'status.conditions[].reason')!
  t.same(reason.limits, { maxLength: 1024, minLength: 1 })
  t.equal(reason.pattern, '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$')
  for (const u of upstream) {
    for (const f of u.fields) {
      const parent = tokens(f.path).slice(0, -1)
      if (parent.length) t.ok(lookupField(u, parent), `${u.kind}: parent of ${f.path} is listed`)
    }
  }
})

function lookupField(u: UpstreamKind, toks: string[]): Field | undefined {
  return u.fields.find((f) => tokens(f.path).join('\u0000') === toks.join('\u0000'))
}

for (const up of upstream) {
  const runKind = RUN_KINDS.find((k) => k.kind === up.kind)

  t.test(`${up.kind}: manifests/crds is upstream's schema plus runguard's additions`, async (t) => {
    t.ok(runKind, `${up.kind} is one of the run kinds`)
    const crd = loadCrd('manifests/crds', up.crdName)
    t.equal(crd.apiVersion, 'apiextensions.k8s.io/v1')
    t.equal(crd.kind, 'CustomResourceDefinition')
    t.equal(crd.metadata.name, `${runKind?.plural}.${runKind?.group}`)
    t.equal(crd.metadata.name, up.crdName)
    t.same(crd.metadata.labels, { 'app.kubernetes.io/part-of': 'runguard' })
    t.equal(crd.spec.group, runKind?.group)
    t.same(crd.spec.names, {
      kind: up.kind,
      listKind: `${up.kind}List`,
      plural: runKind?.plural,
      singular: up.kind.toLowerCase(),
    })
    t.equal(crd.spec.scope, 'Namespaced')
    t.equal(crd.spec.versions.length, 1)
    const v = crd.spec.versions[0]!
    t.same({ name: v.name, served: v.served, storage: v.storage }, { name: 'v1alpha1', served: true, storage: true })
    t.same(v.subresources, { status: {} })
    checkAgainstFieldList(t, up, crd, true)

    const schema = v.schema.openAPIV3Schema
    const specRules = schema.properties?.spec?.['x-kubernetes-validations'] ?? []
    const statusRules = schema.properties?.status?.['x-kubernetes-validations'] ?? []
    t.same(specRules.slice(-SPEC_RULES.length).map((r) => r.rule), SPEC_RULES, 'our spec rules come after upstream rules')
    // CRD CEL cannot see who writes; status rules here refused upstream's own controller writes
    // (issue 9). The status backstop is the ValidatingAdmissionPolicy, which exempts controllers.
    t.same(statusRules, [], 'no CEL rules on status')
    t.match(specRules.slice(-SPEC_RULES.length).map((r) => r.message), [/cancel is one-way/, /desiredState is one-way/, /disagree/])
    t.notOk(
      [...specRules, ...statusRules].some((r) => r.messageExpression !== undefined),
      'no messageExpression (its cost estimate over unbounded strings exceeds the CRD budget)',
    )
    t.same(lookup(schema, 'status.phase'), { type: 'string' }, 'status.phase stays a free string, as upstream')
  })

  t.test(`${up.kind}: the upstream-only fixture matches the field list exactly`, async (t) => {
    const crd = loadCrd('test/fixtures/upstream-crds', up.crdName)
    t.equal(crd.metadata.name, up.crdName)
    checkAgainstFieldList(t, up, crd, false)
  })
}

t.test('AgentRun keeps the upstream systemPrompt quirk verbatim, and says so', async (t) => {
  const text = readFileSync(`${root}manifests/crds/agents.proompteng.ai_agentruns.yaml`, 'utf8')
  const crd = YAML.parse(text) as Crd
  const rules = crd.spec.versions[0]!.schema.openAPIV3Schema.properties?.spec?.['x-kubernetes-validations']?.map((r) => r.rule)
  t.ok(rules?.includes('!has(self.systemPrompt) && !has(self.systemPromptRef)'))
  t.match(text, /Upstream quirk, reproduced on purpose/)
})

t.test('manifests/crds/kustomization.yaml lists the three CRDs', async (t) => {
  const k = YAML.parse(readFileSync(`${root}manifests/crds/kustomization.yaml`, 'utf8')) as { kind: string; resources: string[] }
  t.equal(k.kind, 'Kustomization')
  t.same(k.resources, [
    'agents.proompteng.ai_agentruns.yaml',
    'orchestration.proompteng.ai_orchestrationruns.yaml',
    'tools.proompteng.ai_toolruns.yaml',
  ])
})
