/**
 * `runguard check`: the webhook's rules, offline, for CI pipelines (like `kyverno apply`,
 * `gator test` or `kubectl apply --dry-run=server`). Each object goes through the mutating
 * webhooks, then what the API server's registry does between the two phases, then the validating
 * webhooks — the order the API server uses — and the output is what `kubectl apply` would print.
 *
 * Layout: reading inputs (the only file-system code), parsing, judging and formatting are separate
 * steps; everything after reading is pure, so the CLI only wires them to argv, stdout and stderr.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { parseEnv } from 'node:util'
import jsonpatch from 'fast-json-patch'
import { parseAllDocuments } from 'yaml'
import type { WebhookDefinition } from './admission/definition.ts'
import { writtenAgainstOlderVersion } from './admission/dispatch.ts'
import { groupByPath } from './admission/handler.ts'
import { reviewAdmission } from './admission/review.ts'
import { controllerIdentity } from './admission/writers.ts'
import type { AdmissionRequest, GroupVersionResource, JsonPatchOperation, UserInfo } from './admission/types.ts'
import { checkVariableNames, ConfigError, loadConfig, type Config } from './config.ts'
import { isJsonObject, type KubeObject } from './kube/objects.ts'
import { runKindByName } from './kube/run-kinds.ts'

/** Bad input or usage: the CLI prints the message and exits 2. */
export class InputError extends Error {
  override name = 'InputError'
}

// ---------------------------------------------------------------------------------------------
// Reading inputs (file system)

/** Text from one file, or from stdin (`name` is then `STDIN`, as kubectl says). */
export interface Source {
  name: string
  text: string
}

export const STDIN_NAME = 'STDIN'
/** The extensions kubectl reads from a directory. */
export const MANIFEST_EXTENSIONS: readonly string[] = ['.json', '.yaml', '.yml']

function describeFsError(path: string, err: unknown): InputError {
  const e = err as NodeJS.ErrnoException
  if (e.code === 'ENOENT') return new InputError(`the path "${path}" does not exist`)
  return new InputError(`cannot read "${path}": ${e.message}`)
}

/** The manifest files in `dir` (sorted), and whether it has subdirectories `-R` would walk. */
function filesIn(dir: string, recursive: boolean): { files: string[]; skippedDirs: boolean } {
  const files: string[] = []
  let skippedDirs = false
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    throw describeFsError(dir, err)
  }
  for (const name of names) {
    const path = join(dir, name)
    let isDir: boolean
    try {
      isDir = statSync(path).isDirectory()
    } catch (err) {
      throw describeFsError(path, err)
    }
    if (isDir) {
      if (recursive) files.push(...filesIn(path, true).files)
      else skippedDirs = true
    } else if (MANIFEST_EXTENSIONS.includes(extname(name))) {
      files.push(path)
    }
  }
  return { files, skippedDirs }
}

/**
 * Expands `-f` arguments the way kubectl does: `-` is stdin (at most once), a directory yields its
 * .json/.yaml/.yml files (sorted; subdirectories only with `recursive`), anything else is read as
 * a file whatever its extension.
 */
export function readSources(paths: readonly string[], options: { recursive: boolean; stdin: () => string }): Source[] {
  const sources: Source[] = []
  let stdinUsed = false
  for (const path of paths) {
    if (path === '-') {
      if (stdinUsed) throw new InputError('"-" (stdin) can be given only once across -f and --old')
      stdinUsed = true
      let text: string
      try {
        text = options.stdin()
      } catch (err) {
        throw new InputError(`cannot read stdin: ${(err as Error).message}`)
      }
      sources.push({ name: STDIN_NAME, text })
      continue
    }
    let isDir: boolean
    try {
      isDir = statSync(path).isDirectory()
    } catch (err) {
      throw describeFsError(path, err)
    }
    if (!isDir) {
      try {
        sources.push({ name: path, text: readFileSync(path, 'utf8') })
      } catch (err) {
        throw describeFsError(path, err)
      }
      continue
    }
    const { files, skippedDirs } = filesIn(path, options.recursive)
    if (files.length === 0) {
      const hint = skippedDirs ? '; it has subdirectories: use -R to read them' : ''
      throw new InputError(`error reading "${path}": no ${MANIFEST_EXTENSIONS.join(', ')} files in it${hint}`)
    }
    for (const file of files) {
      try {
        sources.push({ name: file, text: readFileSync(file, 'utf8') })
      } catch (err) {
        throw describeFsError(file, err)
      }
    }
  }
  return sources
}

/** `-f` and `--old` sources; stdin may back only one of them. */
export function readInputs(args: { filenames: readonly string[]; old: readonly string[]; recursive: boolean; stdin: () => string }): { newSources: Source[]; oldSources: Source[] } {
  if (args.filenames.includes('-') && args.old.includes('-')) throw new InputError('"-" (stdin) can be given only once across -f and --old')
  return {
    newSources: readSources(args.filenames, args),
    oldSources: readSources(args.old, args),
  }
}

/** `--env-file` files, read whole (no directories, no stdin). */
export function readEnvFiles(paths: readonly string[]): Source[] {
  return paths.map((path) => {
    try {
      return { name: path, text: readFileSync(path, 'utf8') }
    } catch (err) {
      throw describeFsError(path, err)
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** An object read from the input, with the file it came from. */
export interface SourcedObject {
  object: KubeObject
  source: string
}

/** Splits a stream of concatenated JSON values (`{…}{…}` or one per line); undefined if it is not one. */
function jsonStream(text: string): unknown[] | undefined {
  const values: unknown[] = []
  let depth = 0
  let start = -1
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i
      depth++
    } else if (c === '}' || c === ']') {
      depth--
      if (depth < 0) return undefined
      if (depth === 0) {
        try {
          values.push(JSON.parse(text.slice(start, i + 1)))
        } catch {
          return undefined
        }
      }
    } else if (depth === 0 && !/\s/.test(c)) {
      return undefined
    }
  }
  return depth === 0 && values.length > 0 ? values : undefined
}

/** Top-level values of a YAML (multi-document) or JSON (single value or stream) text. */
function documents(text: string, source: string): unknown[] {
  const trimmed = text.trimStart()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return [JSON.parse(text)]
    } catch {
      const stream = jsonStream(text)
      if (stream) return stream
      // Not JSON after all (YAML flow style, or `---` between JSON documents): the YAML parser decides.
    }
  }
  const values: unknown[] = []
  for (const doc of parseAllDocuments(text)) {
    const error = doc.errors[0]
    // The yaml library adds a multi-line excerpt; the first line already says where.
    if (error) throw new InputError(`${source}: ${error.message.split('\n')[0]!.replace(/:$/, '')}`)
    values.push(doc.toJS())
  }
  return values
}

/** `List`, `AgentRunList`, … : anything kubectl would expand into its items. */
function isList(value: Record<string, unknown>): boolean {
  return typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)
}

/**
 * Parses YAML (multi-document) or JSON (one document or a stream) holding Kubernetes objects;
 * `kind: List` (and `*List`) are expanded. Empty documents are ignored, so a file may hold none.
 * Throws InputError on anything that is not an object with apiVersion and kind.
 */
export function parseObjects(text: string, source: string): KubeObject[] {
  const objects: KubeObject[] = []
  const add = (value: unknown, nested: boolean): void => {
    if (value === null || value === undefined) return
    if (!isJsonObject(value)) throw new InputError(`${source}: every document must be a Kubernetes object`)
    if (!nested && isList(value)) {
      for (const item of value.items as unknown[]) add(item, true)
      return
    }
    if (typeof value.kind !== 'string' || value.kind === '' || typeof value.apiVersion !== 'string' || value.apiVersion === '') {
      throw new InputError(`${source}: every object needs apiVersion and kind`)
    }
    objects.push(value as KubeObject)
  }
  for (const value of documents(text, source)) add(value, false)
  return objects
}

/** Every object of every source, in input order. */
export function loadObjects(sources: readonly Source[]): SourcedObject[] {
  return sources.flatMap((s) => parseObjects(s.text, s.name).map((object) => ({ object, source: s.name })))
}

// ---------------------------------------------------------------------------------------------
// Identity and settings

/** The user `check` writes as when `--as` is not given. */
export const DEFAULT_USER = 'runguard-check'
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:'

/**
 * The userInfo the API server builds when kubectl impersonates `--as USER --as-group G…`:
 * a service-account username without groups gets `system:serviceaccounts` and
 * `system:serviceaccounts:<namespace>`; every user gets `system:authenticated` unless
 * `system:authenticated` or `system:unauthenticated` is already among the groups.
 */
export function impersonatedUser(as: string | undefined, asGroups: readonly string[] = []): Required<Pick<UserInfo, 'username' | 'groups'>> {
  const username = as ?? DEFAULT_USER
  const groups = [...new Set(asGroups)]
  if (groups.length === 0 && username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const namespace = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':')[0]
    if (namespace) groups.push('system:serviceaccounts', `system:serviceaccounts:${namespace}`)
  }
  if (username !== 'system:anonymous' && !groups.includes('system:authenticated') && !groups.includes('system:unauthenticated')) {
    groups.push('system:authenticated')
  }
  return { username, groups }
}

/**
 * The settings `check` judges with: the variables of `files` (dotenv syntax, read with Node's
 * util.parseEnv; a later file wins over an earlier one) layered over `base` (the process
 * environment), loaded by the same loadConfig() as the webhook. A variable name in a file that
 * runguard does not read is an error when it looks like one of ours mistyped (as for
 * `runguard config --validate`), else a note; `extraKnown` are names read elsewhere (the CLI
 * flags' variables). Throws InputError naming the variable (and the file that set it).
 */
export function configFromEnv(files: readonly Source[], base: NodeJS.ProcessEnv, extraKnown: Iterable<string> = []): { config: Config; notes: string[] } {
  const fromFiles: Record<string, string> = {}
  const origin = new Map<string, string>()
  for (const file of files) {
    for (const [key, value] of Object.entries(parseEnv(file.text))) {
      fromFiles[key] = value ?? ''
      origin.set(key, file.name)
    }
  }
  const where = (text: string): string => {
    const files = [...origin].filter(([key]) => new RegExp(`(^|[^A-Za-z0-9_])${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^A-Za-z0-9_]|$)`).test(text)).map(([, file]) => file)
    return files.length > 0 ? ` (set in ${[...new Set(files)].join(', ')})` : ''
  }
  const names = checkVariableNames(fromFiles, extraKnown)
  if (names.errors.length > 0) throw new InputError(names.errors.map((e) => `${e}${where(e)}`).join('; '))
  try {
    return { config: loadConfig({ ...base, ...fromFiles }), notes: names.notes.map((n) => `${n}${where(n)}`) }
  } catch (err) {
    if (err instanceof ConfigError) throw new InputError(`${err.message}${where(err.message)}`)
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// Judging

export interface CheckInput {
  newObjects: readonly SourcedObject[]
  /** Stored objects: a new object with the same kind, namespace and name is an UPDATE of it. */
  oldObjects: readonly SourcedObject[]
  subResource?: 'status'
  /** Default: UPDATE when the object has an old counterpart, else CREATE. */
  operation?: 'CREATE' | 'UPDATE'
  userInfo: UserInfo
}

/** One judged object. Every field except `object` and `status` is part of `-o json`. */
export interface CheckResult {
  kind: string
  apiVersion: string
  /** The namespace of the request (`default` when the object names none, like kubectl's default context). */
  namespace: string
  name: string
  source: string
  operation: 'CREATE' | 'UPDATE'
  subResource: 'status' | null
  allowed: boolean
  /** Why it was refused, as the API server reports it: `admission webhook "…" denied the request: …`. */
  messages: string[]
  warnings: string[]
  /** The mutating webhooks' JSON Patch operations, in order, relative to the input; null when none or denied. */
  patch: JsonPatchOperation[] | null
  /** HTTP-style status of a refusal (e.g. 422 Invalid), for kubectl's `Error from server (Invalid)`. */
  status?: { code: number; reason: string }
  /** The object as the API server would store it: mutated, then the registry's status/spec split. */
  object: KubeObject
}

/** An object of a kind runguard does not judge. */
export interface SkippedObject {
  kind: string
  apiVersion: string
  namespace: string | null
  name: string | null
  source: string
}

export interface CheckReport {
  results: CheckResult[]
  skipped: SkippedObject[]
  /** Informational lines for stderr (e.g. an --old object nothing replaces). */
  notes: string[]
}

const DEFAULT_NAMESPACE = 'default'

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/')
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) }
}

/**
 * The resource runguard's webhooks are registered for, or undefined for a kind they never see.
 * A run kind under another apiVersion is an error, not a skip: the API server would refuse it
 * ("no matches for kind"), and a CI gate must not pass a misspelt run unjudged.
 */
export function judgedResource(obj: KubeObject, source: string): GroupVersionResource | undefined {
  const { group, version } = splitApiVersion(obj.apiVersion ?? '')
  const runKind = runKindByName(obj.kind ?? '')
  if (runKind) {
    if (group !== runKind.group || version !== runKind.version) {
      throw new InputError(`${source}: no matches for kind "${obj.kind}" in version "${obj.apiVersion}" (${displayName(obj)}); runguard judges ${runKind.group}/${runKind.version}`)
    }
    return { group, version, resource: runKind.plural }
  }
  if (obj.kind === 'Job' && group === 'batch' && version === 'v1') return { group, version, resource: 'jobs' }
  return undefined
}

function namespaceOf(obj: KubeObject): string {
  return obj.metadata?.namespace || DEFAULT_NAMESPACE
}

function displayName(obj: KubeObject): string {
  return `${namespaceOf(obj)}/${obj.metadata?.name ?? obj.metadata?.generateName ?? '<unnamed>'}`
}

function pairKey(obj: KubeObject): string | undefined {
  const name = obj.metadata?.name
  return name ? `${obj.kind}\u0000${namespaceOf(obj)}\u0000${name}` : undefined
}

/** The AdmissionRequest the API server would send for this write (dryRun: like `--dry-run=server`). */
export function admissionRequest(args: {
  uid: string
  object: KubeObject
  oldObject: KubeObject | undefined
  resource: GroupVersionResource
  operation: 'CREATE' | 'UPDATE'
  subResource: 'status' | undefined
  userInfo: UserInfo
}): AdmissionRequest {
  const { object, resource } = args
  const namespace = namespaceOf(object)
  // The API server fills in the request's namespace before admission.
  const filled: KubeObject = object.metadata?.namespace ? object : { ...object, metadata: { ...object.metadata, namespace } }
  const kind = { group: resource.group, version: resource.version, kind: object.kind ?? '' }
  return {
    uid: args.uid,
    kind,
    resource,
    ...(args.subResource ? { subResource: args.subResource, requestSubResource: args.subResource } : {}),
    requestKind: kind,
    requestResource: resource,
    name: object.metadata?.name,
    namespace,
    operation: args.operation,
    userInfo: structuredClone(args.userInfo),
    object: filled,
    oldObject: args.operation === 'UPDATE' ? (args.oldObject ?? null) : null,
    dryRun: true,
    options: { apiVersion: 'meta.k8s.io/v1', kind: args.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', dryRun: ['All'] },
  }
}

/**
 * What the API server's registry does to the object between the mutating and the validating
 * webhooks (the resource's strategy; all four kinds have a status subresource):
 * - status writes keep only the new `status`, everything else is the stored object's;
 * - CREATE drops `status` (a Job gets an empty one) and sets `metadata.generation` to 1;
 * - UPDATE keeps the stored `status` and generation, +1 when anything but metadata and status
 *   changed (an old object without a generation leaves the written one alone).
 */
export function registryStrategy(operation: 'CREATE' | 'UPDATE', subResource: 'status' | undefined, object: KubeObject, oldObject: KubeObject | undefined): KubeObject {
  const isJob = object.kind === 'Job'
  if (subResource === 'status' && oldObject) {
    const stored = structuredClone(oldObject)
    if (object.status === undefined) delete stored.status
    else stored.status = structuredClone(object.status)
    return stored
  }
  const result = structuredClone(object)
  result.metadata ??= {}
  if (operation === 'CREATE') {
    if (isJob) result.status = {}
    else delete result.status
    result.metadata.generation = 1
    return result
  }
  if (!oldObject) return result
  if (oldObject.status === undefined) delete result.status
  else result.status = structuredClone(oldObject.status)
  const oldGeneration = oldObject.metadata?.generation
  if (typeof oldGeneration === 'number') {
    const content = (o: KubeObject) => {
      const { metadata: _metadata, status: _status, ...rest } = o
      return rest
    }
    const changed = jsonpatch.compare(content(oldObject), content(result)).length > 0
    result.metadata.generation = changed ? oldGeneration + 1 : oldGeneration
  }
  return result
}

/** kubectl's name for a resource type: `agentrun.agents.proompteng.ai`, `job.batch`. */
export function resourceTypeName(kind: string, apiVersion: string): string {
  const { group } = splitApiVersion(apiVersion)
  return group ? `${kind.toLowerCase()}.${group}` : kind.toLowerCase()
}

/** The API server's name for a resource in messages: `agentruns.agents.proompteng.ai`. */
function pluralName(resource: GroupVersionResource): string {
  return resource.group ? `${resource.resource}.${resource.group}` : resource.resource
}

/**
 * The name kubectl would show: a definition split by writer is served to controller identities
 * as `controllers.<name>` (src/admission/manifests.ts renders both copies).
 */
function webhookName(definition: WebhookDefinition | undefined, request: AdmissionRequest, config: Config): string {
  if (!definition) return '<unknown>'
  const split = definition.splitByWriter && (config.controllerUsers.length > 0 || config.controllerGroups.length > 0)
  return split && controllerIdentity(request, config) ? `controllers.${definition.name}` : definition.name
}

/** Judges every object; throws InputError for input that cannot be judged. Pure (`now` injected). */
export function checkObjects(input: CheckInput, webhooks: readonly WebhookDefinition[], config: Config, now = new Date()): CheckReport {
  if (input.newObjects.length === 0) throw new InputError('no objects passed to check')
  const report: CheckReport = { results: [], skipped: [], notes: [] }
  const olds = new Map<string, SourcedObject>()
  for (const old of input.oldObjects) {
    const key = pairKey(old.object)
    if (!key) throw new InputError(`${old.source}: an --old object needs metadata.name`)
    if (olds.has(key)) throw new InputError(`${old.source}: ${old.object.kind} ${displayName(old.object)} is given twice as an --old object`)
    olds.set(key, old)
  }
  const paired = new Set<string>()

  input.newObjects.forEach(({ object, source }, index) => {
    const resource = judgedResource(object, source)
    if (!resource) {
      report.skipped.push({
        kind: object.kind ?? '',
        apiVersion: object.apiVersion ?? '',
        namespace: object.metadata?.namespace ?? null,
        name: object.metadata?.name ?? null,
        source,
      })
      return
    }
    const key = pairKey(object)
    const old = key ? olds.get(key) : undefined
    if (key && old) paired.add(key)
    const operation = input.operation ?? (old ? 'UPDATE' : 'CREATE')
    if (operation === 'UPDATE' && !old) {
      throw new InputError(`${source}: ${object.kind} ${displayName(object)}: an UPDATE needs the stored object (--old) with the same kind, namespace and name`)
    }
    if (input.subResource === 'status' && operation !== 'UPDATE') {
      throw new InputError(`${source}: ${object.kind} ${displayName(object)}: a status write is an UPDATE and needs the stored object (--old)`)
    }
    const request = admissionRequest({
      uid: `runguard-check-${index}`,
      object,
      oldObject: old?.object,
      resource,
      operation,
      subResource: input.subResource,
      userInfo: input.userInfo,
    })
    report.results.push(judge(request, { kind: object.kind ?? '', apiVersion: object.apiVersion ?? '', source, resource }, webhooks, config, now))
  })

  for (const [key, old] of olds) {
    if (!paired.has(key)) report.notes.push(`--old ${old.object.kind} ${displayName(old.object)} from "${old.source}" replaces nothing: no new object has its kind, namespace and name`)
  }
  return report
}

function judge(
  request: AdmissionRequest,
  about: { kind: string; apiVersion: string; source: string; resource: GroupVersionResource },
  webhooks: readonly WebhookDefinition[],
  config: Config,
  now: Date,
): CheckResult {
  const operation = request.operation as 'CREATE' | 'UPDATE'
  const subResource = (request.subResource as 'status' | undefined) ?? undefined
  const oldObject = request.oldObject ?? undefined
  let object = request.object as KubeObject
  const result: CheckResult = {
    kind: about.kind,
    apiVersion: about.apiVersion,
    namespace: request.namespace ?? DEFAULT_NAMESPACE,
    name: request.name ?? '',
    source: about.source,
    operation,
    subResource: subResource ?? null,
    allowed: true,
    messages: [],
    warnings: [],
    patch: null,
    object,
  }
  const refuse = (status: { code: number; reason: string }, message: string): CheckResult => {
    Object.assign(result, { allowed: false, messages: [message], patch: null, status, object })
    return result
  }
  const patch: JsonPatchOperation[] = []

  for (const mode of ['mutating', 'validating'] as const) {
    if (mode === 'validating') {
      if (operation === 'UPDATE' && writtenAgainstOlderVersion(object, oldObject)) {
        return refuse(
          { code: 409, reason: 'Conflict' },
          `Operation cannot be fulfilled on ${pluralName(about.resource)} "${result.name}": the object has been modified; please apply your changes to the latest version and try again`,
        )
      }
      object = registryStrategy(operation, subResource, object, oldObject)
    }
    // One dispatch per path over every definition sharing it, as the server serves them.
    for (const group of groupByPath(webhooks).filter((g) => g.mode === mode)) {
      const outcome = reviewAdmission(
        group.definitions.flatMap((d) => d.routes),
        mode,
        { ...request, object },
        config,
        now,
      )
      // No route claims the request: the webhook configurations do not send it to this path.
      if (!outcome.route) continue
      const webhook = webhookName(group.definitions.find((d) => d.routes.includes(outcome.route!)), request, config)
      const response = outcome.review.response
      result.warnings.push(...(response?.warnings ?? []))
      if (!response?.allowed) {
        const status = response?.status
        return refuse(
          { code: status?.code ?? 400, reason: status?.reason ?? 'BadRequest' },
          `admission webhook "${webhook}" denied the request: ${status?.message || 'without explanation'}`,
        )
      }
      const ops = mode === 'mutating' ? (outcome.decision.patch ?? []) : []
      if (ops.length > 0) {
        object = jsonpatch.applyPatch(structuredClone(object), structuredClone(ops) as jsonpatch.Operation[]).newDocument
        patch.push(...ops)
      }
    }
  }
  result.patch = patch.length > 0 ? patch : null
  result.object = object
  return result
}

// ---------------------------------------------------------------------------------------------
// Formatting

export interface OutputLine {
  stream: 'stdout' | 'stderr'
  text: string
}

/** How a verdict names its object: `agentrun.agents.proompteng.ai default/hello-codex`. */
export function objectRef(r: Pick<CheckResult, 'kind' | 'apiVersion' | 'namespace' | 'name'>): string {
  return `${resourceTypeName(r.kind, r.apiVersion)} ${r.namespace}/${r.name || '<unnamed>'}`
}

/**
 * What `kubectl apply --dry-run=server` prints, with each verdict naming its object: notes first,
 * then per object its `Warning: …` lines (stderr) and either `<type> <ns>/<name> created|configured
 * (server dry run)` (stdout) or `Error from server (<Reason>): error when creating|patching
 * "<file>": <type> <ns>/<name>: <message>` (stderr).
 */
export function formatHuman(report: CheckReport): OutputLine[] {
  const out: OutputLine[] = formatNotes(report).map((text) => ({ stream: 'stderr', text }))
  for (const r of report.results) {
    for (const warning of r.warnings) out.push({ stream: 'stderr', text: `Warning: ${warning}` })
    if (r.allowed) {
      out.push({ stream: 'stdout', text: `${objectRef(r)} ${r.operation === 'CREATE' ? 'created' : 'configured'} (server dry run)` })
    } else {
      const verb = r.operation === 'CREATE' ? 'creating' : 'patching'
      for (const message of r.messages) {
        out.push({ stream: 'stderr', text: `Error from server (${r.status?.reason ?? 'BadRequest'}): error when ${verb} "${r.source}": ${objectRef(r)}: ${message}` })
      }
    }
  }
  return out
}

/** `note: …` lines for stderr: skipped objects and the report's notes (printed with either output format). */
export function formatNotes(report: CheckReport): string[] {
  const lines = report.skipped.map((s) => {
    const who = [s.namespace, s.name].filter(Boolean).join('/') || '<unnamed>'
    return `note: skipped ${s.apiVersion} ${s.kind} ${who} from "${s.source}": runguard does not judge this kind`
  })
  return [...lines, ...report.notes.map((note) => `note: ${note}`)]
}

/** `-o json`: one document, fields documented in the README (`runguard check`). */
export function formatJson(report: CheckReport): string {
  const doc = {
    results: report.results.map((r) => ({
      kind: r.kind,
      apiVersion: r.apiVersion,
      namespace: r.namespace,
      name: r.name,
      source: r.source,
      operation: r.operation,
      subResource: r.subResource,
      allowed: r.allowed,
      messages: r.messages,
      warnings: r.warnings,
      patch: r.patch,
    })),
    skipped: report.skipped.map((s) => ({ kind: s.kind, apiVersion: s.apiVersion, namespace: s.namespace, name: s.name, source: s.source })),
  }
  return `${JSON.stringify(doc, null, 2)}\n`
}

/** 0 when every judged object is allowed (or none was judged), 1 when any is denied. */
export function exitCode(report: CheckReport): 0 | 1 {
  return report.results.every((r) => r.allowed) ? 0 : 1
}
