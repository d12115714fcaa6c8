/**
 * fast-check generators for the property tests (test/property/) and the fuzz benchmark
 * (bench/fuzz.ts): AgentRun / OrchestrationRun / ToolRun objects that are valid, near-valid or
 * hostile, old/new pairs (status writes and spec updates) written by people and by controller
 * identities, whole AdmissionRequests, hostile AdmissionReview envelopes, and settings.
 *
 * Everything generated is a JSON value (the API server sends JSON: no undefined, NaN, Infinity or
 * -0), normalised through a JSON round trip so objects have ordinary prototypes — a `__proto__`
 * key arrives as an own property, exactly as JSON.parse delivers it to the webhook.
 *
 * Imports only stable entry points: the config loader, and admission types (erased at run time).
 */
import fc from 'fast-check'
import type { AdmissionRequest, Operation } from '../../src/admission/types.ts'
import { loadConfig, type Config } from '../../src/config.ts'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

export function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/**
 * A copy of a JSON value at any depth (structuredClone and JSON.stringify overflow the stack a few
 * thousand levels down; the API server accepts 10 000). Own `__proto__` keys stay own keys.
 */
export function deepCopy<T>(value: T): T {
  const copyOf = (v: unknown): unknown => (v !== null && typeof v === 'object' ? (Array.isArray(v) ? new Array(v.length) : {}) : v)
  const root = copyOf(value)
  const work: Array<[unknown, unknown]> = [[value, root]]
  while (work.length > 0) {
    const [from, to] = work.pop() as [Record<string, unknown>, Record<string, unknown>]
    if (from === null || typeof from !== 'object') continue
    for (const key of Object.keys(from)) {
      const child = copyOf(from[key])
      Object.defineProperty(to, key, { value: child, enumerable: true, writable: true, configurable: true })
      if (child !== null && typeof child === 'object') work.push([from[key], child])
    }
  }
  return root as T
}

// --- the run kinds (spelled here so the tests do not depend on where src/kube moves) -----------

export type RunKindName = 'AgentRun' | 'OrchestrationRun' | 'ToolRun'

export interface RunKindInfo {
  kind: RunKindName
  group: string
  plural: string
}

export const RUN_KINDS: readonly RunKindInfo[] = [
  { kind: 'AgentRun', group: 'agents.proompteng.ai', plural: 'agentruns' },
  { kind: 'OrchestrationRun', group: 'orchestration.proompteng.ai', plural: 'orchestrationruns' },
  { kind: 'ToolRun', group: 'tools.proompteng.ai', plural: 'toolruns' },
]

export const kindInfo = (kind: RunKindName): RunKindInfo => RUN_KINDS.find((k) => k.kind === kind) as RunKindInfo

export const TERMINAL = ['Succeeded', 'Failed', 'Cancelled']
export const PHASES = ['Pending', 'Running', ...TERMINAL]

// --- writers ------------------------------------------------------------------------------------

/** The upstream chart's default ServiceAccount: a controller identity by default. */
export const CONTROLLER_SA = 'system:serviceaccount:agents:agents-sa'
/** runguard's own ServiceAccount (RUNGUARD_POD_NAMESPACE / RUNGUARD_SERVICE_ACCOUNT_NAME defaults). */
export const RUNGUARD_SA = 'system:serviceaccount:runguard-system:runguard'
export const BREAK_GLASS_USER = 'oncall-breakglass'

export type WriterKind = 'person' | 'controller' | 'break-glass'

export interface Writer {
  kind: WriterKind
  userInfo: { username?: string; groups?: string[] }
}

const person: fc.Arbitrary<Writer> = fc
  .constantFrom('alice@example.com', 'system:serviceaccount:agents:other-sa', 'system:serviceaccount:agents:agents-sa-impostor', 'kubernetes-admin', '')
  .map((username) => ({ kind: 'person' as const, userInfo: { username, groups: ['system:authenticated'] } }))

const controller: fc.Arbitrary<Writer> = fc
  .constantFrom(CONTROLLER_SA, RUNGUARD_SA)
  .map((username) => ({ kind: 'controller' as const, userInfo: { username, groups: ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated'] } }))

const breakGlass: fc.Arbitrary<Writer> = fc.constant({ kind: 'break-glass' as const, userInfo: { username: BREAK_GLASS_USER, groups: ['system:authenticated'] } })

export const writer: fc.Arbitrary<Writer> = fc.oneof({ weight: 4, arbitrary: person }, { weight: 4, arbitrary: controller }, { weight: 1, arbitrary: breakGlass })

// --- settings -----------------------------------------------------------------------------------

/** The settings the properties run under, as environment variables (a server process gets the same). */
export const CONFIG_ENVS: Readonly<Record<string, Record<string, string>>> = {
  default: {},
  policies: {
    AGENTS_CONTROLLER_LABELS_REQUIRED: 'team',
    AGENTS_CONTROLLER_LABELS_DENIED: 'evil*,*.internal/*',
    AGENTS_CONTROLLER_IMAGES_ALLOWED: 'registry.example/*,ghcr.io/proompteng/*,busybox*',
    AGENTS_CONTROLLER_IMAGES_DENIED: '*:latest,*a*a*a*a*a*b',
    AGENTS_CONTROLLER_BLOCKED_SECRETS: 'prod-db,root-token',
    RUNGUARD_BREAK_GLASS_USERS: BREAK_GLASS_USER,
  },
  lenient: {
    AGENTS_CONTROLLER_LABELS_ALLOWED: 'team,app.kubernetes.io/*',
    RUNGUARD_ENFORCEMENT: 'parameters=warn,labels=warn,images=warn,workflow=warn,ttl=warn',
    AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED: 'false',
    RUNGUARD_BREAK_GLASS_USERS: BREAK_GLASS_USER,
  },
}

/** The settings the properties run under: defaults, and policies that make every rule set bite. */
export const CONFIGS: Readonly<Record<string, Config>> = Object.fromEntries(Object.entries(CONFIG_ENVS).map(([name, env]) => [name, loadConfig(env)]))

export const configName: fc.Arbitrary<string> = fc.constantFrom(...Object.keys(CONFIGS))

// --- scalars ------------------------------------------------------------------------------------

const SPECIAL_STRINGS = [
  '',
  ' ',
  '  padded  ',
  '\u0000',
  '\n',
  'line\nbreak',
  'tab\there',
  '\u2028',
  '\ud800',
  '\udfff',
  '😀',
  'e\u0301',
  'ｆｕｌｌ',
  'prompt',
  ' PROMPT ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'Running',
  'Cancelled',
  'true',
  'null',
  '0',
  '-1',
  '*',
  '?',
  '[0]',
  'a.b',
  '~1',
  '/',
  '${x}',
  '\\',
  '"',
  "'",
  '<script>',
  'a'.repeat(253),
]

/** Kilobytes of text: every message path must cut or stream it, never copy it quadratically. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('x', 'ab', '😀', 'a*', 'a', '-', ' ', 'é', 'A1b2', 'token=', '\n'), fc.integer({ min: 2_000, max: 120_000 }))
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)))

export const validTimestamp: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom('ms', 's', 'ns', 'offset'))
  .map(([ms, style]) => {
    const iso = new Date(ms).toISOString()
    if (style === 's') return iso.replace(/\.\d{3}Z$/, 'Z')
    if (style === 'ns') return iso.replace(/Z$/, '123456Z')
    if (style === 'offset') return new Date(ms + 330 * 60_000).toISOString().replace(/Z$/, '+05:30')
    return iso
  })

export const invalidTimestamp: fc.Arbitrary<string> = fc.constantFrom(
  '2026-02-30T10:00:00Z',
  '2026-02-07 10:00:00Z',
  '2026-02-07',
  'yesterday',
  '2026-02-07T10:00:00',
  '2026-02-07T24:00:00Z',
  '2026-02-07T10:00:60Z',
  '2026-02-07t10:00:00z',
  '0000-00-00T00:00:00Z',
  '+002026-02-07T10:00:00Z',
  '2026-02-07T10:00:00.Z',
  '2026-02-07T10:00:00+25:00',
)

export const timestamp: fc.Arbitrary<string> = fc.oneof({ weight: 5, arbitrary: validTimestamp }, { weight: 1, arbitrary: invalidTimestamp })

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: timestamp },
  { weight: 1, arbitrary: hugeString },
)

export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 2 ** 64, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 0.5, -0.5, 1e21, 1e-7),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => Number.isFinite(n)),
)

/** Any JSON value, a few levels deep, with hostile strings and numbers in it. */
export const anyJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    edgeNumber,
    hostileString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString.filter((k) => k.length < 300), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value

/** A value nested `depth` levels deep (the API server decodes up to 10 000 levels). */
export function nested(depth: number, style: 'object' | 'array' | 'mixed'): Json {
  let value: Json = 'bottom'
  for (let i = 0; i < depth; i++) {
    const asArray = style === 'array' || (style === 'mixed' && i % 2 === 1)
    value = asArray ? [value] : { a: value }
  }
  return value
}

export const deepValue = (maxDepth: number): fc.Arbitrary<Json> =>
  fc.tuple(fc.integer({ min: 20, max: maxDepth }), fc.constantFrom('object', 'array', 'mixed')).map(([depth, style]) => nested(depth, style as 'object' | 'array' | 'mixed'))

// --- valid objects ------------------------------------------------------------------------------

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/)
const paramKey = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,16}$/), fc.constantFrom('repository', 'branch', 'issue', 'apiToken')).filter((k) => k.trim().toLowerCase() !== 'prompt')
const paramValue = fc.oneof(fc.string({ maxLength: 48 }), fc.constantFrom('proompteng/lab', 'main', '42'))
const parameters = fc.dictionary(paramKey, paramValue, { maxKeys: 6, noNullPrototype: true })
const image = fc.constantFrom('registry.example/agents/runner:1.2.3', 'ghcr.io/proompteng/codex:2026.1', 'busybox:1.36', 'docker.io/library/nginx:latest', 'quay.io/other/thing@sha256:' + 'a'.repeat(64))
const labelKey = fc.oneof(fc.constantFrom('team', 'app.kubernetes.io/name', 'evil-label', 'x.internal/owner'), fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}(\/[a-z][a-z0-9-]{0,8})?$/))
const labels = fc.dictionary(labelKey, fc.oneof(dnsLabel, fc.constant('')), { maxKeys: 4, noNullPrototype: true })

const cancelFields = fc.constantFrom<JsonObject>({}, {}, {}, { cancel: true }, { desiredState: 'Cancelled' }, { cancel: true, desiredState: 'Cancelled' }, { cancel: false }, { desiredState: 'Running' }, { cancel: false, desiredState: 'Running' })

const runtimeAndWorkflow: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.record({ ttl: fc.option(fc.nat(86_400), { nil: undefined }), image }).map(({ ttl, image }) => ({
    runtime: { type: 'job', ...(ttl === undefined ? {} : { config: { ttlSecondsAfterFinished: ttl } }) },
    workload: { image },
  })),
  fc
    .uniqueArray(fc.record({ name: dnsLabel, parameters: fc.option(parameters, { nil: undefined }), image: fc.option(image, { nil: undefined }) }), { minLength: 1, maxLength: 4, selector: (s) => s.name })
    .map((steps) => ({
      runtime: { type: 'workflow' },
      workflow: {
        steps: steps.map((s) => ({ name: s.name, ...(s.parameters ? { parameters: s.parameters } : {}), ...(s.image ? { workload: { image: s.image } } : {}) })),
      },
    })),
  fc.constant({ runtime: { type: 'temporal', config: { workflowType: 'agent', taskQueue: 'agents' } } }),
  fc.constant({ runtime: { type: 'custom', config: { endpoint: 'https://runner.example/run' } } }),
)

const agentRunSpec: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      agent: dnsLabel,
      runtime: runtimeAndWorkflow,
      implementation: fc.oneof(dnsLabel.map((name) => ({ implementationSpecRef: { name } })), fc.string({ maxLength: 80 }).map((text) => ({ implementation: { inline: { text } } }))),
      parameters: fc.option(parameters, { nil: undefined }),
      ttl: fc.option(fc.nat(2_592_000), { nil: undefined }),
      secrets: fc.option(fc.array(fc.oneof(dnsLabel, fc.constantFrom('github-token', 'prod-db')), { maxLength: 3 }), { nil: undefined }),
      goal: fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
      cancel: cancelFields,
    },
    { requiredKeys: ['agent', 'runtime', 'implementation', 'cancel'] },
  )
  .map((r) => ({
    agentRef: { name: r.agent },
    ...r.runtime,
    ...r.implementation,
    ...(r.parameters ? { parameters: r.parameters } : {}),
    ...(r.ttl === undefined ? {} : { ttlSecondsAfterFinished: r.ttl }),
    ...(r.secrets ? { secrets: r.secrets } : {}),
    ...(r.goal === undefined ? {} : { goal: r.goal }),
    ...r.cancel,
  }))

const orchestrationRunSpec: fc.Arbitrary<JsonObject> = fc
  .record({ ref: dnsLabel, parameters: fc.option(parameters, { nil: undefined }), deliveryId: fc.option(fc.uuid(), { nil: undefined }), cancel: cancelFields }, { requiredKeys: ['ref', 'cancel'] })
  .map((r) => ({
    orchestrationRef: { name: r.ref },
    ...(r.parameters ? { parameters: r.parameters } : {}),
    ...(r.deliveryId ? { deliveryId: r.deliveryId } : {}),
    ...r.cancel,
  }))

const toolRunSpec: fc.Arbitrary<JsonObject> = fc
  .record({ ref: dnsLabel, parameters: fc.option(parameters, { nil: undefined }), runtime: fc.option(fc.constant({ type: 'job', image: 'busybox:1.36' }), { nil: undefined }), cancel: cancelFields }, { requiredKeys: ['ref', 'cancel'] })
  .map((r) => ({
    toolRef: { name: r.ref },
    ...(r.parameters ? { parameters: r.parameters } : {}),
    ...(r.runtime ? { runtime: r.runtime } : {}),
    ...r.cancel,
  }))

export const specOf = (kind: RunKindName): fc.Arbitrary<JsonObject> => (kind === 'AgentRun' ? agentRunSpec : kind === 'OrchestrationRun' ? orchestrationRunSpec : toolRunSpec)

const condition = fc.record({
  type: fc.constantFrom('Accepted', 'InProgress', 'Succeeded', 'Failed', 'Cancelled', 'Blocked', 'InvalidSpec'),
  status: fc.constantFrom('True', 'False', 'Unknown'),
  reason: fc.constantFrom('Submitted', 'JobRunning', 'CancelRequested'),
  message: fc.string({ maxLength: 40 }),
  lastTransitionTime: validTimestamp,
})

/** A consistent stored status: Running has startedAt, terminal has finishedAt ≥ startedAt. */
export const validStatus = (kind: RunKindName, generation: number): fc.Arbitrary<JsonObject> =>
  fc
    .record({
      phase: fc.constantFrom(...PHASES, ...(kind === 'AgentRun' ? ['Template'] : kind === 'ToolRun' ? ['Ready'] : [])),
      start: fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
      runFor: fc.integer({ min: 0, max: 86_400_000 }),
      seconds: fc.boolean(),
      observed: fc.option(fc.integer({ min: 0, max: generation }), { nil: undefined }),
      conditions: fc.option(fc.array(condition, { maxLength: 3 }), { nil: undefined }),
      accepted: fc.boolean(),
      specHash: fc.option(fc.constantFrom('0'.repeat(64), 'stale-hash'), { nil: undefined }),
    })
    .map((r) => {
      const stamp = (ms: number) => (r.seconds ? new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : new Date(ms).toISOString())
      const status: JsonObject = { phase: r.phase }
      if (r.phase !== 'Pending' && r.phase !== 'Template') status.startedAt = stamp(r.start)
      if (TERMINAL.includes(r.phase)) status.finishedAt = stamp(r.start + r.runFor + 1000)
      status.updatedAt = stamp(r.start + r.runFor + 2000)
      if (r.observed !== undefined) status.observedGeneration = r.observed
      if (r.conditions) status.conditions = r.conditions
      if (r.accepted) status.conditions = [...((status.conditions as Json[]) ?? []), { type: 'Accepted', status: 'True', reason: 'Submitted', message: '', lastTransitionTime: stamp(r.start) }]
      if (r.specHash !== undefined && kind === 'AgentRun') status.specHash = r.specHash
      return status
    })

export interface RunObject extends JsonObject {
  apiVersion: string
  kind: string
  metadata: JsonObject
}

const metadata = (kind: RunKindName): fc.Arbitrary<JsonObject> =>
  fc
    .record({
      name: dnsLabel,
      namespace: fc.constantFrom('agents', 'team-a'),
      uid: fc.uuid(),
      generation: fc.integer({ min: 1, max: 9 }),
      resourceVersion: fc.integer({ min: 1, max: 999_999 }).map(String),
      labels: fc.option(labels, { nil: undefined }),
      template: fc.boolean(),
      policyLabel: fc.boolean(),
    })
    .map((r) => ({
      name: r.name,
      namespace: r.namespace,
      uid: r.uid,
      generation: r.generation,
      resourceVersion: r.resourceVersion,
      ...(r.labels || r.policyLabel ? { labels: { ...(r.policyLabel ? { team: 'a' } : {}), ...(r.labels ?? {}) } } : {}),
      ...(r.template && kind === 'AgentRun' ? { annotations: { 'agents.proompteng.ai/template': 'true' } } : {}),
    }))

/** A valid run of `kind`; with `withStatus`, a consistent stored status too. */
export const validRun = (kind: RunKindName, withStatus: boolean): fc.Arbitrary<RunObject> =>
  metadata(kind).chain((meta) =>
    fc.record({ spec: specOf(kind), status: withStatus ? validStatus(kind, meta.generation as number) : fc.constant(undefined) }).map(({ spec, status }) => {
      const info = kindInfo(kind)
      const obj: RunObject = { apiVersion: `${info.group}/v1alpha1`, kind, metadata: meta, spec }
      if (status) obj.status = status
      return roundTrip(obj)
    }),
  )

// --- damage: near-valid and hostile -------------------------------------------------------------

export type DamageAction = 'delete' | 'null' | 'replace' | 'huge' | 'deep' | 'number' | 'wrongContainer'

/** One change at a path chosen by index among the object's paths (so it shrinks towards the first). */
export interface Damage {
  at: number
  action: DamageAction
  value: Json
}

export const damage = (maxDepth: number): fc.Arbitrary<Damage> =>
  fc.oneof(
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('delete'), value: fc.constant(null) }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('null'), value: fc.constant(null) }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('replace'), value: anyJson }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('huge'), value: hugeString }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('deep'), value: deepValue(maxDepth) }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('number'), value: edgeNumber }),
    fc.record({ at: fc.nat(), action: fc.constant<DamageAction>('wrongContainer'), value: fc.constant(null) }),
  )

type Path = Array<string | number>

/** Paths of every value under `root` (not the root itself), breadth first, at most `limit`. */
export function pathsOf(root: Json, limit = 256): Path[] {
  const paths: Path[] = []
  const queue: Array<{ value: Json; path: Path }> = [{ value: root, path: [] }]
  while (queue.length > 0 && paths.length < limit) {
    const { value, path } = queue.shift() as { value: Json; path: Path }
    if (value === null || typeof value !== 'object') continue
    const entries: Array<[string | number, Json]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value)
    for (const [key, child] of entries) {
      paths.push([...path, key])
      queue.push({ value: child, path: [...path, key] })
    }
  }
  return paths
}

/**
 * Applies damage to a copy of `obj`. apiVersion, kind and metadata are left alone: the API server
 * decodes metadata into ObjectMeta (and routes by apiVersion/kind) before any webhook sees the
 * object, so only spec and status can arrive in any shape. hostileEnvelope damages the rest.
 */
export function applyDamage<T extends Json>(obj: T, damages: readonly Damage[], options: { metadata?: boolean } = {}): T {
  const copy = roundTrip(obj) as Json
  for (const d of damages) {
    const paths = pathsOf(copy).filter((p) => !(p.length === 1 && (p[0] === 'apiVersion' || p[0] === 'kind')) && (options.metadata || p[0] !== 'metadata'))
    if (paths.length === 0) break
    const path = paths[d.at % paths.length] as Path
    const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k] as Json, copy) as Record<string | number, Json> | Json[]
    const key = path[path.length - 1] as string | number
    const current = (parent as Record<string | number, Json>)[key]
    let next: Json | undefined
    switch (d.action) {
      case 'delete':
        next = undefined
        break
      case 'null':
        next = null
        break
      case 'wrongContainer':
        next = Array.isArray(current) ? { 0: current[0] ?? null } : current !== null && typeof current === 'object' ? Object.values(current) : [current ?? null]
        break
      default:
        next = d.value
    }
    if (next === undefined) {
      if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete (parent as Record<string, Json>)[key]
    } else {
      ;(parent as Record<string | number, Json>)[key] = next
    }
  }
  return copy as T
}

export const nearValidRun = (kind: RunKindName, withStatus: boolean): fc.Arbitrary<RunObject> =>
  fc.tuple(validRun(kind, withStatus), fc.array(damage(60), { minLength: 1, maxLength: 3 })).map(([obj, damages]) => applyDamage(obj, damages))

/**
 * Shapes that stress one rule at volume — thousands of keys, steps, secrets, labels — kept under the
 * API server's 1.5 MiB object limit (etcd), since nothing bigger can reach the webhook.
 */
const volume: fc.Arbitrary<(obj: RunObject) => RunObject> = fc
  .tuple(fc.constantFrom('parameters', 'labels', 'steps', 'secrets', 'stepParameters', 'images', 'conditions'), fc.integer({ min: 101, max: 5_000 }), fc.constantFrom('x', 'prompt', '1', 'dup'))
  .map(([what, n, flavour]) => (obj: RunObject) => {
    const spec = (obj.spec ?? {}) as JsonObject
    const item = (i: number): string => (flavour === 'dup' ? 'same' : flavour === 'prompt' && i % 7 === 0 ? ' Prompt ' : `${flavour}-${i}`)
    const long = (i: number, unit: string): string => unit.repeat(i % 50 === 0 ? 2_100 : i % 40)
    if (what === 'parameters') spec.parameters = Object.fromEntries(Array.from({ length: n }, (_, i) => [item(i), i % 3 === 0 ? i : long(i, 'v')]))
    if (what === 'labels') obj.metadata.labels = Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}.internal/${item(i)}`, 'v']))
    if (what === 'steps' || what === 'stepParameters') {
      spec.runtime = { type: 'workflow' }
      const steps = what === 'stepParameters' ? Math.min(n, 100) : Math.min(n, 2_000)
      spec.workflow = {
        steps: Array.from({ length: steps }, (_, i) => ({
          name: item(i),
          ...(what === 'stepParameters' ? { parameters: Object.fromEntries(Array.from({ length: 120 }, (_, j) => [item(j), long(j, 'w')])) } : {}),
          workload: { image: `registry.example/${'a'.repeat(i % 50)}:v` },
        })),
      }
    }
    if (what === 'secrets') spec.secrets = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? 'prod-db' : item(i)))
    if (what === 'images') {
      spec.runtime = { type: 'job' }
      spec.workload = { image: `${'a'.repeat(n * 10)}c` }
    }
    if (what === 'conditions') obj.status = { ...((obj.status as JsonObject) ?? {}), conditions: Array.from({ length: n }, (_, i) => ({ type: item(i), status: 'True' })) }
    obj.spec = spec
    return obj
  })

export const hostileRun = (kind: RunKindName, withStatus: boolean, maxDepth = 200): fc.Arbitrary<RunObject> =>
  fc.oneof(
    fc.tuple(validRun(kind, withStatus), fc.array(damage(maxDepth), { minLength: 2, maxLength: 8 })).map(([obj, damages]) => applyDamage(obj, damages)),
    fc.tuple(validRun(kind, withStatus), anyJson, anyJson).map(([obj, spec, status]) => roundTrip({ ...obj, spec, ...(withStatus ? { status } : {}) }) as RunObject),
    fc.tuple(validRun(kind, withStatus), volume).map(([obj, grow]) => roundTrip(grow(roundTrip(obj)))),
    fc.tuple(validRun(kind, withStatus), fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'), anyJson, { noNullPrototype: true })).map(([obj, odd]) => {
      const copy = roundTrip(obj)
      for (const [key, value] of Object.entries(odd)) ownKey(copy, key, value)
      if (copy.spec && typeof copy.spec === 'object') ownKey(copy.spec as JsonObject, '__proto__', { cancel: 'x' })
      return roundTrip(copy)
    }),
  )

/** An own property, even for `__proto__` (as JSON.parse makes it). */
function ownKey(target: JsonObject, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

export type Flavour = 'valid' | 'near-valid' | 'hostile'

export const flavour: fc.Arbitrary<Flavour> = fc.constantFrom('valid', 'near-valid', 'near-valid', 'hostile', 'hostile')

export const runOf = (kind: RunKindName, f: Flavour, withStatus: boolean, maxDepth = 200): fc.Arbitrary<RunObject> =>
  f === 'valid' ? validRun(kind, withStatus) : f === 'near-valid' ? nearValidRun(kind, withStatus) : hostileRun(kind, withStatus, maxDepth)

// --- old/new pairs ------------------------------------------------------------------------------

type Edit<T> = { keep: true } | { keep: false; value: T | undefined }

const edit = <T>(arb: fc.Arbitrary<T>, weights = { keep: 3, drop: 1, set: 2 }): fc.Arbitrary<Edit<T>> =>
  fc.oneof(
    { weight: weights.keep, arbitrary: fc.constant<Edit<T>>({ keep: true }) },
    { weight: weights.drop, arbitrary: fc.constant<Edit<T>>({ keep: false, value: undefined }) },
    { weight: weights.set, arbitrary: arb.map<Edit<T>>((value) => ({ keep: false, value })) },
  )

/** How a writer changes a stored status: each protected field kept, dropped or set. */
export const statusEdit = fc.record({
  phase: edit<Json>(fc.oneof(fc.constantFrom(...PHASES, 'Template', 'Ready'), fc.constantFrom('Unknown', 'running', '', 'Succeeded ')), { keep: 3, drop: 1, set: 4 }),
  startedAt: edit<Json>(fc.oneof({ weight: 4, arbitrary: timestamp }, { weight: 1, arbitrary: fc.constant(null) })),
  finishedAt: edit<Json>(fc.oneof({ weight: 4, arbitrary: timestamp }, { weight: 1, arbitrary: fc.constant(null) })),
  updatedAt: edit<Json>(timestamp),
  observedGeneration: edit<Json>(fc.oneof(fc.integer({ min: -1, max: 12 }), edgeNumber)),
  message: edit<Json>(hostileString, { keep: 4, drop: 0, set: 1 }),
  /** A status write that is identical to the stored one: the no-op case of rule 10. */
  identical: fc.boolean(),
})

export type StatusEdit = typeof statusEdit extends fc.Arbitrary<infer T> ? T : never

export function applyStatusEdit(stored: JsonObject | undefined, e: StatusEdit): JsonObject {
  const status = roundTrip(stored ?? {})
  if (e.identical) return status
  for (const field of ['phase', 'startedAt', 'finishedAt', 'updatedAt', 'observedGeneration', 'message'] as const) {
    const change = e[field]
    if (change.keep) continue
    if (change.value === undefined) delete status[field]
    else status[field] = change.value
  }
  return status
}

export interface Pair {
  kind: RunKindName
  subResource: '' | 'status'
  operation: Operation
  object: Json
  oldObject: Json | null
  writer: Writer
  configName: string
  dryRun: boolean
}

/** A status write (UPDATE of the status subresource) by some writer, to a stored run of `kind`. */
export const statusWritePair = (kind: RunKindName, f: Flavour = 'valid'): fc.Arbitrary<Pair> =>
  fc
    .record({
      old: validRun(kind, true),
      e: statusEdit,
      damages: f === 'valid' ? fc.constant([]) : fc.array(damage(f === 'hostile' ? 200 : 30), { maxLength: f === 'hostile' ? 4 : 1 }),
      stale: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      writer,
      configName,
      dryRun: fc.boolean(),
    })
    .map(({ old, e, damages, stale, writer, configName, dryRun }) => {
      const written = applyStatusEdit(old.status as JsonObject, e)
      const status = damages.length > 0 ? applyDamage({ status: written } as JsonObject, damages).status : written
      const object: JsonObject = { ...roundTrip(old), ...(status === undefined ? {} : { status }) }
      if (status === undefined) delete object.status
      if (stale) (object.metadata as JsonObject).resourceVersion = `${(old.metadata.resourceVersion as string) ?? '0'}9`
      return { kind, subResource: 'status' as const, operation: 'UPDATE' as const, object, oldObject: old, writer, configName, dryRun }
    })

const specEdit = fc.record({
  cancel: edit<Json>(fc.oneof(fc.boolean(), hostileString, edgeNumber), { keep: 3, drop: 1, set: 3 }),
  desiredState: edit<Json>(fc.oneof(fc.constantFrom('Running', 'Cancelled'), hostileString), { keep: 3, drop: 1, set: 3 }),
  goal: edit<Json>(hostileString, { keep: 4, drop: 1, set: 1 }),
  runtime: edit<Json>(fc.oneof(fc.constant({ type: 'job' }), anyJson), { keep: 5, drop: 1, set: 1 }),
  secrets: edit<Json>(fc.array(fc.constantFrom('a', 'prod-db', ' b ', ''), { maxLength: 3 }), { keep: 5, drop: 1, set: 1 }),
  parameters: edit<Json>(fc.oneof(parameters, anyJson), { keep: 4, drop: 1, set: 1 }),
})

/** A main-resource UPDATE (spec edit, cancel) of a stored run, or a CREATE. */
export const specWritePair = (kind: RunKindName, f: Flavour = 'valid'): fc.Arbitrary<Pair> =>
  fc
    .record({
      old: validRun(kind, true),
      create: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }),
      fresh: runOf(kind, f, false),
      e: specEdit,
      damages: f === 'valid' ? fc.constant([]) : fc.array(damage(f === 'hostile' ? 200 : 30), { maxLength: f === 'hostile' ? 4 : 1 }),
      stale: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      writer,
      configName,
      dryRun: fc.boolean(),
    })
    .map(({ old, create, fresh, e, damages, stale, writer, configName, dryRun }): Pair => {
      if (create) return { kind, subResource: '', operation: 'CREATE', object: fresh, oldObject: null, writer, configName, dryRun }
      const object = roundTrip(old) as JsonObject
      const spec = (object.spec ?? {}) as JsonObject
      for (const field of ['cancel', 'desiredState', 'goal', 'runtime', 'secrets', 'parameters'] as const) {
        const change = e[field]
        if (change.keep) continue
        if (change.value === undefined) delete spec[field]
        else spec[field] = change.value
      }
      const damaged = damages.length > 0 ? applyDamage(object, damages) : object
      if (stale && damaged.metadata && typeof damaged.metadata === 'object') (damaged.metadata as JsonObject).resourceVersion = 'stale'
      return { kind, subResource: '', operation: 'UPDATE', object: damaged, oldObject: old, writer, configName, dryRun }
    })

export const runKind: fc.Arbitrary<RunKindName> = fc.constantFrom('AgentRun', 'OrchestrationRun', 'ToolRun')

/** Any pair: status writes and spec writes of every kind and flavour. */
export const anyPair = (f?: Flavour): fc.Arbitrary<Pair> =>
  fc
    .tuple(runKind, f ? fc.constant(f) : flavour, fc.boolean())
    .chain(([kind, fl, status]) => (status ? statusWritePair(kind, fl) : specWritePair(kind, fl)))

let uidCounter = 0

/** The AdmissionRequest the API server would send for `pair`. */
export function requestFor(pair: Pair, uid = `prop-${++uidCounter}`): AdmissionRequest {
  const info = kindInfo(pair.kind)
  const object = pair.object as JsonObject | null
  const meta = object && typeof object === 'object' && !Array.isArray(object) && object.metadata && typeof object.metadata === 'object' ? (object.metadata as JsonObject) : {}
  const request: AdmissionRequest = {
    uid,
    kind: { group: info.group, version: 'v1alpha1', kind: pair.kind },
    resource: { group: info.group, version: 'v1alpha1', resource: info.plural },
    ...(pair.subResource ? { subResource: pair.subResource } : {}),
    ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
    namespace: typeof meta.namespace === 'string' ? meta.namespace : 'agents',
    operation: pair.operation,
    userInfo: roundTrip(pair.writer.userInfo),
    object: pair.object as AdmissionRequest['object'],
    oldObject: pair.oldObject as AdmissionRequest['oldObject'],
    dryRun: pair.dryRun,
  }
  return request
}

// --- hostile envelopes --------------------------------------------------------------------------

/**
 * AdmissionReview bodies as an attacker (or a buggy client) could send them to the webhook port:
 * any field of the envelope missing or of the wrong type, unknown resources and subresources,
 * DELETE/CONNECT, kinds that are not ours (`constructor`, `__proto__`), objects that are not objects.
 */
export const hostileEnvelope: fc.Arbitrary<Json> = fc
  .record({
    pair: anyPair(),
    uid: fc.oneof(fc.uuid(), hostileString),
    kindName: fc.oneof({ weight: 6, arbitrary: fc.constant<string | null>(null) }, { weight: 1, arbitrary: fc.constantFrom('constructor', '__proto__', 'toString', 'Job', '', 'agentrun') }, { weight: 1, arbitrary: hostileString }),
    resource: fc.oneof({ weight: 8, arbitrary: fc.constant<Json>(null) }, { weight: 1, arbitrary: fc.record({ group: hostileString, version: hostileString, resource: fc.constantFrom('agentruns', 'toolruns', 'jobs', 'pods', '__proto__', 'constructor') }) }),
    subResource: fc.oneof({ weight: 8, arbitrary: fc.constant<Json>(null) }, { weight: 1, arbitrary: fc.oneof(hostileString, fc.constantFrom('status', 'scale', 'Status', '')) }),
    operation: fc.oneof({ weight: 8, arbitrary: fc.constant<Json>(null) }, { weight: 1, arbitrary: fc.constantFrom('DELETE', 'CONNECT', 'PATCH', 'create') }),
    objectSwap: fc.oneof({ weight: 8, arbitrary: fc.constant<'keep' | Json>('keep') }, { weight: 1, arbitrary: fc.oneof(anyJson, fc.constant(null), fc.constant([]), fc.constant('object')) }),
    oldSwap: fc.oneof({ weight: 8, arbitrary: fc.constant<'keep' | Json>('keep') }, { weight: 1, arbitrary: fc.oneof(anyJson, fc.constant(null)) }),
    userInfo: fc.oneof({ weight: 8, arbitrary: fc.constant<'keep' | Json>('keep') }, { weight: 1, arbitrary: fc.oneof(anyJson, fc.constant({}), fc.record({ username: hostileString, groups: fc.array(hostileString, { maxLength: 3 }) })) }),
    envelopeDamage: fc.array(damage(40), { maxLength: 2 }),
    damageEnvelope: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  .map((r) => {
    const request = requestFor(r.pair, r.uid) as unknown as JsonObject
    if (r.kindName !== null) (request.kind as JsonObject).kind = r.kindName
    if (r.resource !== null) request.resource = r.resource
    if (r.subResource !== null) request.subResource = r.subResource
    if (r.operation !== null) request.operation = r.operation
    if (r.objectSwap !== 'keep') request.object = r.objectSwap as Json
    if (r.oldSwap !== 'keep') request.oldObject = r.oldSwap
    if (r.userInfo !== 'keep') request.userInfo = r.userInfo
    const review: JsonObject = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: roundTrip(request) }
    return r.damageEnvelope ? applyDamage(review, r.envelopeDamage, { metadata: true }) : review
  })

// --- secrets ------------------------------------------------------------------------------------

/**
 * A secret-looking value as it could be written into a field: `text` is what is placed, `core` the
 * secret part of it (no public prefix such as `ghp_` or `password=`), which must never leave the
 * process in an Event, a log line or a metric label — not even in part.
 */
export interface Secret {
  shape: string
  text: string
  core: string
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const B64URL = `${ALNUM}-_`

const charsOf = (alphabet: string, min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...alphabet), minLength: min, maxLength: max })

/** Random characters with at least one upper-case letter, one lower-case letter and one digit (real tokens have all three). */
const mixed = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.tuple(charsOf(alphabet, min, max), fc.nat()).map(([s, at]) => {
    const chars = [...s]
    chars[at % chars.length] = 'Q'
    chars[(at + 1) % chars.length] = 'q'
    chars[(at + 2) % chars.length] = '7'
    return chars.join('')
  })

const b64 = (bytes: fc.Arbitrary<Uint8Array>, url = false): fc.Arbitrary<string> =>
  bytes.map((b) => Buffer.from(b).toString(url ? 'base64url' : 'base64'))

/** Passwords as people pick them: no blanks, quotes or list separators (where a bare value ends). */
const password = mixed(`${ALNUM}!#$%^*_-+.@~`, 8, 24)
const SECRET_KEYS = ['password', 'passwd', 'secret', 'token', 'apiKey', 'api_key', 'client_secret', 'access_key', 'private_key', 'credentials', 'auth', 'cookie', 'sessionId', 'GITHUB_TOKEN', 'db.password', 'spec.parameters.apiToken']

export const secret: fc.Arbitrary<Secret> = fc.oneof(
  mixed(ALNUM, 36, 36).map((core) => ({ shape: 'github', text: `ghp_${core}`, core })),
  mixed(`${ALNUM}_`, 82, 82).map((core) => ({ shape: 'github-pat', text: `github_pat_${core}`, core })),
  mixed(`${ALNUM}-_`, 32, 48).map((core) => ({ shape: 'openai', text: `sk-proj-${core}`, core })),
  fc.tuple(charsOf('0123456789', 12, 12), charsOf('0123456789', 13, 13), mixed(ALNUM, 24, 24)).map(([a, b, c]) => ({ shape: 'slack', text: `xoxb-${a}-${b}-${c}`, core: `${a}-${b}-${c}` })),
  charsOf(UPPER_DIGITS, 16, 16).map((core) => ({ shape: 'aws-key-id', text: `AKIA${core}`, core })),
  fc.tuple(b64(fc.uint8Array({ minLength: 24, maxLength: 60 }), true), mixed(B64URL, 43, 43)).map(([payload, sig]) => {
    const header = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')
    return { shape: 'jwt', text: `${header}.${payload}.${sig}`, core: `${payload}.${sig}` }
  }),
  fc.array(mixed(`${ALNUM}+/`, 64, 64), { minLength: 2, maxLength: 6 }).map((lines) => ({
    shape: 'pem',
    text: ['-----BEGIN RSA PRIVATE KEY-----', ...lines, '-----END RSA PRIVATE KEY-----'].join('\n'),
    core: lines.join('\n'),
  })),
  b64(fc.uint8Array({ minLength: 32, maxLength: 96 })).filter((s) => /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s)).map((core) => ({ shape: 'base64', text: core, core })),
  mixed(`${ALNUM}-._~`, 20, 60).map((core) => ({ shape: 'bearer', text: `Bearer ${core}`, core })),
  fc.tuple(fc.constantFrom('admin', 'bot', 'ci'), password).map(([user, pw]) => {
    const core = Buffer.from(`${user}:${pw}`).toString('base64')
    return { shape: 'basic', text: `Basic ${core}`, core }
  }),
  fc.tuple(fc.constantFrom(...SECRET_KEYS), fc.constantFrom('=', ': ', ' = ', ':'), fc.constantFrom('', '"', "'"), password).map(([key, sep, quote, pw]) => ({
    shape: 'key-value',
    text: `${key}${sep}${quote}${pw}${quote}`,
    core: pw,
  })),
  fc.tuple(fc.constantFrom('GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'DB_PASSWORD', 'OPENAI_API_KEY', 'SLACK_SIGNING_SECRET'), password).map(([name, pw]) => ({ shape: 'env', text: `${name}=${pw}`, core: pw })),
  fc.tuple(fc.constantFrom('https', 'postgres', 'redis'), password).map(([scheme, pw]) => ({ shape: 'url', text: `${scheme}://deploy:${pw}@db.internal:5432/app`, core: pw })),
)

/** Whether any part of `core` long enough to matter (12 characters, or all of a shorter one) appears in `text`. */
export function leaks(text: string, core: string): string | undefined {
  const size = Math.min(12, core.length)
  for (let i = 0; i + size <= core.length; i++) {
    const part = core.slice(i, i + size)
    if (/^[\n ]*$/.test(part)) continue
    if (text.includes(part)) return part
    // JSON text escapes what a message may quote: look for the escaped spelling too.
    const escaped = JSON.stringify(part).slice(1, -1)
    if (escaped !== part && text.includes(escaped)) return part
  }
  return undefined
}
