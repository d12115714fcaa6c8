/**
 * The one configuration module. The whole environment is read once, at start, by loadConfig();
 * every other module receives the resulting Config. A bad value stops start-up with a message
 * that names the variable.
 *
 * Every setting has one primary variable name and, optionally, aliases. Settings inherited from
 * upstream's Agents controllers use upstream's exact current name as primary (what its Helm chart
 * sets, e.g. `AGENTS_CONTROLLER_NAMESPACES`) and keep the design notes' `JANGAR_…` spellings as
 * aliases; runguard's own settings use `RUNGUARD_`. The primary name wins over an alias; two
 * spellings that are both set and disagree load fine but produce a warning (loadConfigWithWarnings).
 */
import envSchema from 'env-schema'

export type Enforcement = 'deny' | 'warn'
export const RULE_SETS = ['parameters', 'labels', 'images', 'workflow', 'ttl'] as const
export type RuleSet = (typeof RULE_SETS)[number]

export interface Config {
  /** Default Job TTL once a run's result is collected; already clamped, `null` = no TTL. */
  jobTtlSeconds: number | null
  agentRunRetentionSeconds: number
  /** Empty means every namespace. */
  namespaces: string[]
  labelsRequired: string[]
  labelsAllowed: string[]
  labelsDenied: string[]
  imagesAllowed: string[]
  imagesDenied: string[]
  cancelTimeoutMs: number
  eventsEnabled: boolean
  eventsRateLimitPerMin: number
  enforcement: Record<RuleSet, Enforcement>
  breakGlassUsers: string[]
  breakGlassGroups: string[]
  /**
   * Controller identities (SPEC §2 Writers): their status writes are repaired, never refused.
   * Always includes runguard's own ServiceAccount.
   */
  controllerUsers: string[]
  controllerGroups: string[]
  /** Secret names `spec.secrets` may not reference (SPEC §2 rule 5b, `SecretBlocked`). */
  blockedSecrets: string[]
  /** SPEC §2 rule 5a: deny (true) or warn about (false) spec edits after acceptance. */
  immutabilityEnforced: boolean
  /** Retention used for `spec.ttlSecondsAfterFinished: 0`; ≤ 0 keeps the run (upstream's semantics). */
  retentionZeroTtlMaxSeconds: number
  retentionEnabled: boolean
  /** Retention deletes per namespace per pass; ≤ 0 means no deletes (upstream's semantics). */
  retentionMaxDeletesPerNamespace: number
  jobMissingGraceSeconds: number
  reconcileConcurrency: number
  resyncSeconds: number
  leaseName: string
  leaseNamespace: string
  leaseDurationSeconds: number
  leaseRenewDeadlineSeconds: number
  leaseRetryPeriodSeconds: number
  podName: string
  podNamespace: string
  /** Seconds of idleness after a burst before memory is given back (src/idle-memory.ts); 0 disables. */
  idleMemoryReleaseSeconds: number
  /** Webhook TLS and registration (README "TLS" and "Safe ordering"); see src/tls/ and src/registration/. */
  tls: TlsSettings
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

export const TLS_MODES = ['self-managed', 'cert-manager', 'secret'] as const
export type TlsMode = (typeof TLS_MODES)[number]

export interface TlsSettings {
  /** '' when unset: the webhook serves the files it is given and touches no configuration. */
  mode: TlsMode | ''
  /** self-managed: the Secret runguard writes (type kubernetes.io/tls, plus ca.crt and ca.key). */
  secretName: string
  /** The webhook Service: the serving certificate's DNS names and the entries whose caBundle runguard injects. */
  serviceName: string
  /** Lease (pod namespace) whose holder writes the Secret and injects the CA. */
  leaseName: string
  /** Webhook configurations runguard patches (caBundle, arming); empty = none. */
  webhookConfigurations: string[]
  caValidityDays: number
  certValidityDays: number
  renewBeforeDays: number
}

type Kind = 'integer' | 'boolean' | 'list' | 'string' | 'enforcement'

export interface Setting {
  /** The primary variable name: upstream's exact current name, or `RUNGUARD_…` for runguard's own. */
  name: string
  /** Other spellings read when the primary name is unset or empty, in precedence order. */
  aliases: readonly string[]
  /**
   * Spellings runguard once read by mistake and no longer does (e.g. `AGENTS_AGENTS_…`). Setting
   * one produces a warning at start and an error from `runguard config --validate`.
   */
  retired?: readonly string[]
  /** `upstream`: shared with the Agents controllers; `runguard`: runguard's own. */
  origin: 'upstream' | 'runguard'
  kind: Kind
  default: string
  minimum?: number
  enum?: readonly string[]
  doc: string
}

/** An upstream setting: primary = upstream's name, aliases = the design notes' `JANGAR_` spellings. */
function upstream(name: string, aliases: string[], rest: Omit<Setting, 'name' | 'aliases' | 'origin'>): Setting {
  return { name, aliases, origin: 'upstream', ...rest }
}

/** A runguard setting: `RUNGUARD_<name>`. */
function own(name: string, rest: Omit<Setting, 'name' | 'aliases' | 'origin'>, aliases: string[] = []): Setting {
  return { name: `RUNGUARD_${name}`, aliases, origin: 'runguard', ...rest }
}

/** Every setting, in the order the README's configuration table lists them. */
export const SETTINGS: readonly Setting[] = [
  upstream('AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS', ['JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS'], { kind: 'integer', default: '600', doc: 'Job `ttlSecondsAfterFinished` applied once a run is terminal and its result collected; clamped to 30 s … 7 d; ≤ 0 means no TTL.' }),
  upstream('AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS', ['JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'], { retired: ['AGENTS_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'], kind: 'integer', default: '2592000', minimum: 0, doc: 'How long a terminal AgentRun without `spec.ttlSecondsAfterFinished` is kept after `finishedAt`; 0 keeps it.' }),
  upstream('AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS', ['JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS'], { retired: ['AGENTS_AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS'], kind: 'integer', default: '0', doc: 'Retention for `spec.ttlSecondsAfterFinished: 0`; ≤ 0 keeps the run.' }),
  upstream('AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE', ['JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE', 'RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE'], { kind: 'integer', default: '100', doc: 'At most this many retention deletes per namespace per pass; ≤ 0 means no deletes.' }),
  upstream('AGENTS_CONTROLLER_NAMESPACES', ['JANGAR_AGENTS_CONTROLLER_NAMESPACES'], { retired: ['AGENTS_AGENTS_CONTROLLER_NAMESPACES'], kind: 'list', default: '', doc: 'Namespaces the reconciler watches (JSON list or comma list); empty = all.' }),
  upstream('AGENTS_CONTROLLER_LABELS_REQUIRED', ['JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED'], { retired: ['AGENTS_AGENTS_CONTROLLER_LABELS_REQUIRED'], kind: 'list', default: '', doc: 'Labels every run must carry (rule 5, `MissingRequiredLabels`).' }),
  upstream('AGENTS_CONTROLLER_LABELS_ALLOWED', ['JANGAR_AGENTS_CONTROLLER_LABELS_ALLOWED'], { retired: ['AGENTS_AGENTS_CONTROLLER_LABELS_ALLOWED'], kind: 'list', default: '', doc: 'If set, the only label keys a run may carry (`LabelNotAllowed`).' }),
  upstream('AGENTS_CONTROLLER_LABELS_DENIED', ['JANGAR_AGENTS_CONTROLLER_LABELS_DENIED'], { retired: ['AGENTS_AGENTS_CONTROLLER_LABELS_DENIED'], kind: 'list', default: '', doc: 'Label keys a run may not carry (`LabelBlocked`).' }),
  upstream('AGENTS_CONTROLLER_IMAGES_ALLOWED', ['JANGAR_AGENTS_CONTROLLER_IMAGES_ALLOWED'], { retired: ['AGENTS_AGENTS_CONTROLLER_IMAGES_ALLOWED'], kind: 'list', default: '', doc: 'If set, glob patterns `spec.workload.image` must match (`ImageNotAllowed`).' }),
  upstream('AGENTS_CONTROLLER_IMAGES_DENIED', ['JANGAR_AGENTS_CONTROLLER_IMAGES_DENIED'], { retired: ['AGENTS_AGENTS_CONTROLLER_IMAGES_DENIED'], kind: 'list', default: '', doc: 'Glob patterns `spec.workload.image` may not match (`ImageBlocked`).' }),
  upstream('AGENTS_CONTROLLER_BLOCKED_SECRETS', ['JANGAR_AGENTS_CONTROLLER_BLOCKED_SECRETS'], { retired: ['AGENTS_AGENTS_CONTROLLER_BLOCKED_SECRETS'], kind: 'list', default: '', doc: 'Secret names `spec.secrets` may not reference (`SecretBlocked`).' }),
  upstream('AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED', ['JANGAR_AGENTRUN_IMMUTABILITY_ENFORCED'], { kind: 'boolean', default: 'true', doc: 'Refuse spec edits of an accepted, non-terminal AgentRun (`false`: warn only).' }),
  upstream('AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS', ['JANGAR_ORCHESTRATION_CANCEL_TIMEOUT_MS'], { kind: 'integer', default: '30000', minimum: 0, doc: 'How long cancel waits for children before writing `Cancelled` with reason `CancelTimedOut`.' }),
  upstream('AGENTS_CONTROLLER_EVENTS_ENABLED', ['JANGAR_CONTROLLER_EVENTS_ENABLED'], { kind: 'boolean', default: 'true', doc: 'Emit Kubernetes Events (webhook and reconciler).' }),
  upstream('AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN', ['JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN'], { kind: 'integer', default: '6', minimum: 1, doc: 'Events per object per minute for transient errors and repeats; more fold into `series.count`.' }),
  own('ENFORCEMENT', { kind: 'enforcement', default: '', doc: 'Per rule set `deny` (default) or `warn`, e.g. `labels=warn,images=warn`. Sets: ' + RULE_SETS.join(', ') + '.' }),
  own('BREAK_GLASS_USERS', { kind: 'list', default: '', doc: 'Users allowed to bypass the status rules (each bypass is logged and counted).' }),
  own('BREAK_GLASS_GROUPS', { kind: 'list', default: '', doc: 'Groups allowed to bypass the status rules.' }),
  own('CONTROLLER_USERS', { kind: 'list', default: 'system:serviceaccount:agents:agents-sa', doc: 'Controller identities: their status writes are repaired (protected fields restored, with a warning and an Event), never refused. runguard\'s own ServiceAccount is always added.' }),
  own('CONTROLLER_GROUPS', { kind: 'list', default: '', doc: 'Groups whose members are controller identities.' }),
  own('SERVICE_ACCOUNT_NAME', { kind: 'string', default: 'runguard', doc: 'runguard\'s own ServiceAccount (in `RUNGUARD_POD_NAMESPACE`), always a controller identity.' }),
  own('RETENTION_ENABLED', { kind: 'boolean', default: 'true', doc: 'Delete terminal AgentRuns after their retention; switch off where the upstream controller does it.' }),
  own('JOB_MISSING_GRACE_SECONDS', { kind: 'integer', default: '30', minimum: 0, doc: 'A recorded Job must be gone this long before `JobMissing` is reported.' }),
  own('RECONCILE_CONCURRENCY', { kind: 'integer', default: '16', minimum: 1, doc: 'Reconcile workers (never two on one object); API calls in flight are limited separately, adapting to the API server.' }),
  own('RESYNC_SECONDS', { kind: 'integer', default: '300', minimum: 0, doc: 'Periodic resync of every cached object; 0 disables.' }),
  own('LEASE_NAME', { kind: 'string', default: 'runguard-reconciler', doc: 'coordination.k8s.io Lease used for leader election.' }),
  own('LEASE_NAMESPACE', { kind: 'string', default: '', doc: 'Namespace of the Lease; defaults to the pod namespace.' }),
  own('LEASE_DURATION_SECONDS', { kind: 'integer', default: '15', minimum: 1, doc: 'Lease duration.' }),
  own('LEASE_RENEW_DEADLINE_SECONDS', { kind: 'integer', default: '10', minimum: 1, doc: 'Leader gives up if it cannot renew within this.' }),
  own('LEASE_RETRY_PERIOD_SECONDS', { kind: 'integer', default: '2', minimum: 1, doc: 'Interval between acquire/renew attempts.' }),
  own('TLS_MODE', { kind: 'string', default: '', enum: ['', ...TLS_MODES], doc: 'How the webhook gets its serving certificate: `self-managed` (runguard writes a CA and certificate into `RUNGUARD_TLS_SECRET_NAME`, injects the CA, rotates), `cert-manager` or `secret` (files from `--tls-cert`/`--tls-key`, as when empty).' }),
  own('TLS_SECRET_NAME', { kind: 'string', default: '', doc: 'self-managed: the `kubernetes.io/tls` Secret (pod namespace) runguard writes and every replica serves from.' }),
  own('TLS_SERVICE_NAME', { kind: 'string', default: 'runguard-webhook', doc: 'The webhook Service: DNS names of the serving certificate, and the configuration entries whose `caBundle` runguard injects.' }),
  own('TLS_LEASE_NAME', { kind: 'string', default: 'runguard-webhook-tls', doc: 'Lease (pod namespace) whose holder writes the TLS Secret and injects the CA.' }),
  own('WEBHOOK_CONFIGURATIONS', { kind: 'list', default: '', doc: 'Webhook configuration names (mutating and validating) runguard patches: `caBundle` (self-managed) and arming per the `runguard.proompteng.ai/armed-failure-policy` annotation. Empty: none.' }),
  own('TLS_CA_VALIDITY_DAYS', { kind: 'integer', default: '3650', minimum: 1, doc: 'self-managed: validity of the CA runguard makes.' }),
  own('TLS_CERT_VALIDITY_DAYS', { kind: 'integer', default: '365', minimum: 1, doc: 'self-managed: validity of the serving certificate.' }),
  own('TLS_RENEW_BEFORE_DAYS', { kind: 'integer', default: '30', minimum: 1, doc: 'self-managed: renew the serving certificate (and rotate the CA, with overlap) this long before expiry; less than both validities.' }),
  own('POD_NAME', { kind: 'string', default: '', doc: 'This pod (Downward API); used as Event `reportingInstance` and Lease holder. Defaults to the host name.' }),
  own('POD_NAMESPACE', { kind: 'string', default: 'runguard-system', doc: 'This pod’s namespace (Downward API).' }),
  own('IDLE_MEMORY_RELEASE_SECONDS', { kind: 'integer', default: '10', minimum: 0, doc: 'After a burst, once the process has idled this long, a memory-reducing garbage collection gives the pages V8 grew into back to the system (once per burst); 0 disables.' }),
  own('LOG_LEVEL', { kind: 'string', default: 'info', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level.' }),
]

export const JOB_TTL_MIN_SECONDS = 30
export const JOB_TTL_MAX_SECONDS = 7 * 24 * 3600

/** The variable names a setting answers to, in precedence order: the primary name, then its aliases. */
export function variableNames(setting: Setting): string[] {
  return [setting.name, ...setting.aliases]
}

/** Every variable name runguard reads (primary names and aliases). */
export function knownVariableNames(): string[] {
  return SETTINGS.flatMap(variableNames)
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Accepts a JSON list (`["a","b"]`) or a comma list (`a, b`); always returns trimmed, non-empty items. */
export function parseList(raw: string, variable: string): string[] {
  const text = raw.trim()
  if (text === '') return []
  if (text.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new ConfigError(`${variable}: not a valid JSON list (${(err as Error).message})`)
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
      throw new ConfigError(`${variable}: a JSON list must contain only strings`)
    }
    return parsed.map((item) => item.trim()).filter((item) => item !== '')
  }
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

export function parseEnforcement(raw: string, variable: string): Record<RuleSet, Enforcement> {
  const result = Object.fromEntries(RULE_SETS.map((set) => [set, 'deny'])) as Record<RuleSet, Enforcement>
  for (const entry of parseList(raw, variable)) {
    const [set, action, ...rest] = entry.split('=').map((part) => part.trim())
    if (rest.length > 0 || !set || !action) throw new ConfigError(`${variable}: "${entry}" is not of the form <rule set>=<deny|warn>`)
    if (!(RULE_SETS as readonly string[]).includes(set)) {
      throw new ConfigError(`${variable}: unknown rule set "${set}" (known: ${RULE_SETS.join(', ')})`)
    }
    if (action !== 'deny' && action !== 'warn') throw new ConfigError(`${variable}: "${action}" for ${set} must be deny or warn`)
    result[set as RuleSet] = action
  }
  return result
}

/** SPEC §3: clamp to 30 s … 7 d; ≤ 0 means the Job keeps no TTL. */
export function clampJobTtl(seconds: number): number | null {
  if (seconds <= 0) return null
  return Math.min(JOB_TTL_MAX_SECONDS, Math.max(JOB_TTL_MIN_SECONDS, seconds))
}

type Raw = Record<string, string | number | boolean | string[]>

function schemaFor(setting: Setting): object {
  switch (setting.kind) {
    case 'integer':
      return { type: 'integer', ...(setting.minimum === undefined ? {} : { minimum: setting.minimum }) }
    case 'boolean':
      return { type: 'boolean' }
    case 'string':
      return setting.enum ? { type: 'string', enum: setting.enum } : { type: 'string' }
    case 'list':
    case 'enforcement':
      // Parsed by hand before validation (JSON or comma lists); ajv only checks the result.
      return { type: 'string' }
  }
}

export interface LoadedConfig {
  config: Config
  /**
   * Problems that do not stop start-up, one line each: two spellings of one setting that are both
   * set and disagree (the primary name wins), or a retired spelling that is no longer read.
   */
  warnings: string[]
}

const isSet = (env: NodeJS.ProcessEnv, name: string): boolean => env[name] !== undefined && env[name] !== ''

/** A value in a form where equivalent spellings (`a,b` and `["a","b"]`, `True` and `1`) compare equal. */
function comparable(setting: Setting, raw: string): string {
  switch (setting.kind) {
    case 'boolean':
      return normaliseBoolean(raw)
    case 'list':
    case 'enforcement':
      try {
        return JSON.stringify(parseList(raw, setting.name))
      } catch {
        return raw.trim()
      }
    default:
      return raw.trim()
  }
}

/** Two spellings of one setting both set (not empty) with different values: the first one wins. */
export function disagreementWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = []
  for (const setting of SETTINGS) {
    const [used, ...others] = variableNames(setting).filter((name) => isSet(env, name))
    if (used === undefined) continue
    const disagreeing = others.filter((name) => comparable(setting, env[name]!) !== comparable(setting, env[used]!))
    if (disagreeing.length > 0) warnings.push(`${[used, ...disagreeing].join(' and ')} are set and disagree; using ${used}`)
  }
  return warnings
}

/** Retired spellings (e.g. `AGENTS_AGENTS_CONTROLLER_NAMESPACES`) present in `env`: they are not read. */
export function retiredWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  return SETTINGS.flatMap((setting) =>
    (setting.retired ?? []).filter((name) => env[name] !== undefined).map((name) => `${name} is not read (a misspelling older runguard accepted); use ${setting.name}`),
  )
}

/** Warnings about how `env` spells the settings; see LoadedConfig.warnings. Values are never quoted. */
export function spellingWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...disagreementWarnings(env), ...retiredWarnings(env)]
}

/**
 * Reads every setting from `env` (process.env by default), validates the lot, and returns the
 * typed Config. Throws ConfigError naming the offending variable. See loadConfigWithWarnings for
 * the warnings start-up should log.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, hostname = 'runguard'): Config {
  return loadConfigWithWarnings(env, hostname).config
}

/** loadConfig, plus the warnings (disagreeing spellings, retired names) start-up should log. */
export function loadConfigWithWarnings(env: NodeJS.ProcessEnv = process.env, hostname = 'runguard'): LoadedConfig {
  const chosen = new Map<string, { variable: string; raw: string }>()
  const data: Record<string, string> = {}
  const properties: Record<string, object> = {}
  for (const setting of SETTINGS) {
    // The first spelling that is set and not empty wins: an empty primary does not hide an alias.
    const variable = variableNames(setting).find((name) => isSet(env, name)) ?? setting.name
    const raw = env[variable] ?? setting.default
    chosen.set(setting.name, { variable, raw })
    data[variable] = setting.kind === 'boolean' ? normaliseBoolean(raw) : raw
    properties[variable] = schemaFor(setting)
  }

  let validated: Raw
  try {
    validated = envSchema({
      schema: { type: 'object', properties },
      data,
      env: false,
    }) as Raw
  } catch (err) {
    // env-schema reports e.g. "env/AGENTS_X must be integer"; keep the variable, drop the prefix.
    throw new ConfigError(`invalid configuration: ${(err as Error).message.replace(/env\//g, '')}`)
  }

  const get = (name: string): { variable: string; value: string | number | boolean | string[] } => {
    const entry = chosen.get(name)
    if (!entry) throw new Error(`no such setting ${name}`)
    return { variable: entry.variable, value: validated[entry.variable] ?? entry.raw }
  }
  const int = (name: string): number => get(name).value as number
  const bool = (name: string): boolean => get(name).value as boolean
  const str = (name: string): string => String(get(name).value)
  const list = (name: string): string[] => {
    const { variable, value } = get(name)
    return parseList(String(value), variable)
  }

  const enforcement = get('RUNGUARD_ENFORCEMENT')
  const podNamespace = str('RUNGUARD_POD_NAMESPACE')
  const leaseDuration = int('RUNGUARD_LEASE_DURATION_SECONDS')
  const renewDeadline = int('RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS')
  const retryPeriod = int('RUNGUARD_LEASE_RETRY_PERIOD_SECONDS')
  if (!(retryPeriod < renewDeadline && renewDeadline < leaseDuration)) {
    throw new ConfigError(
      `RUNGUARD_LEASE_RETRY_PERIOD_SECONDS (${retryPeriod}) < RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS (${renewDeadline}) < RUNGUARD_LEASE_DURATION_SECONDS (${leaseDuration}) must hold`,
    )
  }

  const tls = tlsSettings(str, int, list)

  const config: Config = {
    jobTtlSeconds: clampJobTtl(int('AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS')),
    agentRunRetentionSeconds: int('AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'),
    namespaces: list('AGENTS_CONTROLLER_NAMESPACES'),
    labelsRequired: list('AGENTS_CONTROLLER_LABELS_REQUIRED'),
    labelsAllowed: list('AGENTS_CONTROLLER_LABELS_ALLOWED'),
    labelsDenied: list('AGENTS_CONTROLLER_LABELS_DENIED'),
    imagesAllowed: list('AGENTS_CONTROLLER_IMAGES_ALLOWED'),
    imagesDenied: list('AGENTS_CONTROLLER_IMAGES_DENIED'),
    cancelTimeoutMs: int('AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS'),
    eventsEnabled: bool('AGENTS_CONTROLLER_EVENTS_ENABLED'),
    eventsRateLimitPerMin: int('AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN'),
    enforcement: parseEnforcement(String(enforcement.value), enforcement.variable),
    breakGlassUsers: list('RUNGUARD_BREAK_GLASS_USERS'),
    breakGlassGroups: list('RUNGUARD_BREAK_GLASS_GROUPS'),
    controllerUsers: [...new Set([...list('RUNGUARD_CONTROLLER_USERS'), `system:serviceaccount:${podNamespace}:${str('RUNGUARD_SERVICE_ACCOUNT_NAME')}`])],
    controllerGroups: list('RUNGUARD_CONTROLLER_GROUPS'),
    blockedSecrets: list('AGENTS_CONTROLLER_BLOCKED_SECRETS'),
    immutabilityEnforced: bool('AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED'),
    retentionZeroTtlMaxSeconds: int('AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS'),
    retentionEnabled: bool('RUNGUARD_RETENTION_ENABLED'),
    retentionMaxDeletesPerNamespace: int('AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE'),
    jobMissingGraceSeconds: int('RUNGUARD_JOB_MISSING_GRACE_SECONDS'),
    reconcileConcurrency: int('RUNGUARD_RECONCILE_CONCURRENCY'),
    resyncSeconds: int('RUNGUARD_RESYNC_SECONDS'),
    leaseName: str('RUNGUARD_LEASE_NAME'),
    leaseNamespace: str('RUNGUARD_LEASE_NAMESPACE') || podNamespace,
    leaseDurationSeconds: leaseDuration,
    leaseRenewDeadlineSeconds: renewDeadline,
    leaseRetryPeriodSeconds: retryPeriod,
    podName: str('RUNGUARD_POD_NAME') || hostname,
    podNamespace,
    idleMemoryReleaseSeconds: int('RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS'),
    tls,
    logLevel: str('RUNGUARD_LOG_LEVEL') as Config['logLevel'],
  }
  return { config, warnings: spellingWarnings(env) }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

function tlsSettings(str: (name: string) => string, int: (name: string) => number, list: (name: string) => string[]): TlsSettings {
  const mode = str('RUNGUARD_TLS_MODE') as TlsSettings['mode']
  const tls: TlsSettings = {
    mode,
    secretName: str('RUNGUARD_TLS_SECRET_NAME'),
    serviceName: str('RUNGUARD_TLS_SERVICE_NAME'),
    leaseName: str('RUNGUARD_TLS_LEASE_NAME'),
    webhookConfigurations: list('RUNGUARD_WEBHOOK_CONFIGURATIONS'),
    caValidityDays: int('RUNGUARD_TLS_CA_VALIDITY_DAYS'),
    certValidityDays: int('RUNGUARD_TLS_CERT_VALIDITY_DAYS'),
    renewBeforeDays: int('RUNGUARD_TLS_RENEW_BEFORE_DAYS'),
  }
  const name = (variable: string, value: string, pattern: RegExp, max: number, what: string) => {
    if (value !== '' && (value.length > max || !pattern.test(value))) throw new ConfigError(`${variable}: ${JSON.stringify(value)} is not a valid ${what}`)
  }
  name('RUNGUARD_TLS_SECRET_NAME', tls.secretName, DNS_SUBDOMAIN, 253, 'Secret name')
  name('RUNGUARD_TLS_SERVICE_NAME', tls.serviceName, DNS_LABEL, 63, 'Service name (a DNS label)')
  name('RUNGUARD_TLS_LEASE_NAME', tls.leaseName, DNS_SUBDOMAIN, 253, 'Lease name')
  for (const configuration of tls.webhookConfigurations) name('RUNGUARD_WEBHOOK_CONFIGURATIONS', configuration, DNS_SUBDOMAIN, 253, 'webhook configuration name')
  if (mode === 'self-managed') {
    if (tls.secretName === '') throw new ConfigError('RUNGUARD_TLS_MODE=self-managed needs RUNGUARD_TLS_SECRET_NAME')
    if (tls.serviceName === '') throw new ConfigError('RUNGUARD_TLS_MODE=self-managed needs RUNGUARD_TLS_SERVICE_NAME')
    if (tls.leaseName === '') throw new ConfigError('RUNGUARD_TLS_MODE=self-managed needs RUNGUARD_TLS_LEASE_NAME')
  }
  if (tls.renewBeforeDays >= tls.certValidityDays) {
    throw new ConfigError(`RUNGUARD_TLS_RENEW_BEFORE_DAYS (${tls.renewBeforeDays}) must be less than RUNGUARD_TLS_CERT_VALIDITY_DAYS (${tls.certValidityDays})`)
  }
  if (tls.certValidityDays > tls.caValidityDays) {
    throw new ConfigError(`RUNGUARD_TLS_CERT_VALIDITY_DAYS (${tls.certValidityDays}) must not exceed RUNGUARD_TLS_CA_VALIDITY_DAYS (${tls.caValidityDays})`)
  }
  return tls
}

/**
 * Kubernetes manifests and Helm values often say True/False/1/0/yes/no; accept them all, and the
 * spellings upstream's controllers accept (`y`, `n`, `enabled`, `disabled`) since they share them.
 */
function normaliseBoolean(raw: string): string {
  const text = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'y', 'on', 'enabled'].includes(text)) return 'true'
  if (['false', '0', 'no', 'n', 'off', 'disabled'].includes(text)) return 'false'
  return raw
}

/** The configuration table of the README, generated so docs and code cannot disagree. */
export function settingsMarkdown(): string {
  const code = (text: string) => `\`${text}\``
  const rows = SETTINGS.map((s) => `| ${code(s.name)} | ${s.aliases.map(code).join('<br>')} | ${s.default === '' ? '(empty)' : code(s.default)} | ${s.doc} |`)
  return ['| variable | aliases | default | meaning |', '|---|---|---|---|', ...rows].join('\n')
}

/**
 * Variables upstream's Agents chart (`charts/agents/templates/deployment*.yaml`) and runtime set or
 * read that runguard does not use, plus the design notes' `JANGAR_` spellings of them. Operators
 * feed runguard the same ConfigMap/env as upstream, so these are reported as notes, never errors.
 */
export const UPSTREAM_ONLY_VARIABLES: ReadonlySet<string> = new Set([
  ...[
    'MIGRATIONS', 'GRPC_ENABLED', 'GRPC_HOST', 'GRPC_PORT', 'CONTROL_PLANE_CACHE_ENABLED', 'SERVER_PROFILE', 'CORS_ALLOWED_ORIGINS',
    'IMAGE', 'RUNTIME_IMAGE', 'GITOPS_REVISION', 'SERVICE_ACCOUNT_NAME', 'POD_NAMESPACE', 'POD_UID', 'RBAC_CLUSTER_SCOPED',
    'PROMETHEUS_METRICS_ENABLED', 'PROMETHEUS_METRICS_PATH',
    'LEADER_ELECTION_ENABLED', 'LEADER_ELECTION_LEASE_NAME', 'LEADER_ELECTION_LEASE_NAMESPACE', 'LEADER_ELECTION_LEASE_DURATION_SECONDS',
    'LEADER_ELECTION_RENEW_DEADLINE_SECONDS', 'LEADER_ELECTION_RETRY_PERIOD_SECONDS',
    'PRIMITIVES_NAMESPACES', 'PRIMITIVES_RECONCILER', 'SWARM_PRIMITIVE_ENABLED',
    'AGENTRUN_IDEMPOTENCY_ENABLED', 'AGENTRUN_IDEMPOTENCY_RETENTION_DAYS', 'AGENTRUN_ARTIFACTS_MAX', 'AGENTRUN_ARTIFACTS_STRICT',
    'CODEX_RERUN_ORCHESTRATION', 'CODEX_RERUN_ORCHESTRATION_NAMESPACE', 'SYSTEM_IMPROVEMENT_ORCHESTRATION', 'SYSTEM_IMPROVEMENT_ORCHESTRATION_NAMESPACE',
    'AUDIT_SINK_TYPE', 'AUDIT_SINK_HTTP_URL', 'AUDIT_SINK_HTTP_TIMEOUT_MS', 'AUDIT_SINK_HTTP_HEADERS_JSON',
    'AGENT_RUNNER_IMAGE', 'AGENT_RUNNER_LOG_RETENTION_SECONDS', 'AGENT_RUNNER_SERVICE_ACCOUNT', 'AGENT_RUNNER_NODE_SELECTOR',
    'AGENT_RUNNER_TOLERATIONS', 'AGENT_RUNNER_TOPOLOGY_SPREAD_CONSTRAINTS', 'AGENT_RUNNER_AFFINITY', 'AGENT_RUNNER_POD_SECURITY_CONTEXT',
    'AGENT_RUNNER_RESOURCES', 'AGENT_RUNNER_IMAGE_PULL_SECRETS', 'AGENT_RUNNER_PRIORITY_CLASS', 'AGENT_RUNNER_SCHEDULER_NAME',
    'AGENT_RUNNER_BACKOFF_LIMIT', 'AGENT_IMAGE', 'AGENT_COMMS_SUBSCRIBER_DISABLED', 'AGENT_COMMS_SUBJECTS',
    'CONTROLLER_ENABLED', 'CONTROLLER_CONCURRENCY_NAMESPACE', 'CONTROLLER_CONCURRENCY_AGENT', 'CONTROLLER_CONCURRENCY_CLUSTER',
    'CONTROLLER_REPO_CONCURRENCY_ENABLED', 'CONTROLLER_REPO_CONCURRENCY_DEFAULT', 'CONTROLLER_REPO_CONCURRENCY_OVERRIDES',
    'CONTROLLER_QUEUE_NAMESPACE', 'CONTROLLER_QUEUE_REPO', 'CONTROLLER_QUEUE_CLUSTER',
    'CONTROLLER_RATE_WINDOW_SECONDS', 'CONTROLLER_RATE_NAMESPACE', 'CONTROLLER_RATE_REPO', 'CONTROLLER_RATE_CLUSTER',
    'CONTROLLER_VCS_PROVIDERS_ENABLED', 'CONTROLLER_VCS_DEPRECATED_TOKEN_TYPES', 'CONTROLLER_VCS_PR_RATE_LIMITS',
    'CONTROLLER_AUTH_SECRET_NAME', 'CONTROLLER_AUTH_SECRET_KEY', 'CONTROLLER_AUTH_SECRET_MOUNT_PATH',
    'CONTROLLER_DEBUG_LOGS', 'CONTROLLER_RESYNC_INTERVAL_SECONDS', 'CONTROLLER_UNTOUCHED_WARN_AFTER_SECONDS',
    'CONTROLLER_RUNTIME_DEBRIS_MAX_DELETES_PER_NAMESPACE', 'CONTROLLER_RUNTIME_DEBRIS_CLEANUP_MODE', 'CONTROLLER_ORPHAN_POD_RETENTION_SECONDS',
    'IMPLEMENTATION_SOURCE_WEBHOOK_NAMESPACES', 'IMPLEMENTATION_SOURCE_WEBHOOK_QUEUE_SIZE', 'IMPLEMENTATION_SOURCE_WEBHOOK_RETRY_BASE_DELAY_SECONDS',
    'IMPLEMENTATION_SOURCE_WEBHOOK_RETRY_MAX_DELAY_SECONDS', 'IMPLEMENTATION_SOURCE_WEBHOOK_RETRY_MAX_ATTEMPTS',
    'ORCHESTRATION_CONTROLLER_ENABLED', 'ORCHESTRATION_CONTROLLER_NAMESPACES', 'SUPPORTING_CONTROLLER_ENABLED', 'SUPPORTING_CONTROLLER_NAMESPACES',
  ].map((name) => `AGENTS_${name}`),
  // The design notes' spellings (`controller.*` values became JANGAR_AGENTS_CONTROLLER_…).
  ...[
    'MIGRATIONS', 'GRPC_ENABLED', 'GRPC_HOST', 'GRPC_PORT', 'PRIMITIVES_NAMESPACES', 'AGENT_RUNNER_IMAGE', 'AGENT_IMAGE',
    'SCHEDULE_RUNNER_IMAGE', 'SCHEDULE_SERVICE_ACCOUNT', 'AGENT_COMMS_SUBSCRIBER_DISABLED',
    'AGENTS_CONTROLLER_ENABLED', 'AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE', 'AGENTS_CONTROLLER_CONCURRENCY_AGENT', 'AGENTS_CONTROLLER_CONCURRENCY_CLUSTER',
    'AGENTS_CONTROLLER_QUEUE_NAMESPACE', 'AGENTS_CONTROLLER_QUEUE_REPO', 'AGENTS_CONTROLLER_QUEUE_CLUSTER',
    'AGENTS_CONTROLLER_RATE_WINDOW_SECONDS', 'AGENTS_CONTROLLER_RATE_NAMESPACE', 'AGENTS_CONTROLLER_RATE_REPO', 'AGENTS_CONTROLLER_RATE_CLUSTER',
    'AGENTS_CONTROLLER_VCS_PROVIDERS_ENABLED', 'AGENTS_CONTROLLER_VCS_DEPRECATED_TOKEN_TYPES', 'AGENTS_CONTROLLER_VCS_PR_RATE_LIMITS',
    'AGENTS_CONTROLLER_AUTH_SECRET_NAME', 'AGENTS_CONTROLLER_AUTH_SECRET_KEY', 'AGENTS_CONTROLLER_AUTH_SECRET_MOUNT_PATH',
    'ORCHESTRATION_CONTROLLER_ENABLED', 'ORCHESTRATION_CONTROLLER_NAMESPACES', 'SUPPORTING_CONTROLLER_ENABLED', 'SUPPORTING_CONTROLLER_NAMESPACES',
  ].map((name) => `JANGAR_${name}`),
])

/** An unknown `AGENTS_` name this close to a known name is taken for a typo (an error), not upstream's. */
export const TYPO_DISTANCE = 2

/** Levenshtein edit distance (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The known name closest to `name` (first in table order on a tie) and its distance. */
export function closestName(name: string, known: readonly string[]): { name: string; distance: number } {
  let best = { name: known[0] ?? '', distance: Number.POSITIVE_INFINITY }
  for (const candidate of known) {
    const distance = editDistance(name, candidate)
    if (distance < best.distance) best = { name: candidate, distance }
  }
  return best
}

export interface VariableReport {
  /** Unknown `RUNGUARD_`/`JANGAR_` names, likely typos of `AGENTS_` ones, retired spellings. */
  errors: string[]
  /** `AGENTS_` (and the design notes' `JANGAR_`) names runguard does not use: informational. */
  notes: string[]
}

const OUR_PREFIXES = /^(AGENTS|JANGAR|RUNGUARD)_/

/**
 * Names every `AGENTS_`, `JANGAR_` or `RUNGUARD_` variable in `env` that runguard does not read.
 * `extraKnown`: variables read elsewhere (the CLI's flag variables such as `RUNGUARD_PORT`).
 *
 * - a retired spelling (`AGENTS_AGENTS_…`) → error naming the current name;
 * - one of upstream's variables runguard does not use (UPSTREAM_ONLY_VARIABLES) → note;
 * - any other `AGENTS_` name → error when within TYPO_DISTANCE edits of a known name (a likely
 *   typo), else a note;
 * - any other `RUNGUARD_` or `JANGAR_` name → error naming the closest known name.
 */
export function checkVariableNames(env: NodeJS.ProcessEnv = process.env, extraKnown: Iterable<string> = []): VariableReport {
  const known = [...knownVariableNames(), ...extraKnown]
  const knownSet = new Set(known)
  const retired = new Map(SETTINGS.flatMap((setting) => (setting.retired ?? []).map((name) => [name, setting.name] as const)))
  const report: VariableReport = { errors: [], notes: [] }
  for (const name of Object.keys(env).sort()) {
    if (!OUR_PREFIXES.test(name) || knownSet.has(name)) continue
    const current = retired.get(name)
    if (current !== undefined) {
      report.errors.push(`${name} is not read (a misspelling older runguard accepted); use ${current}`)
      continue
    }
    if (UPSTREAM_ONLY_VARIABLES.has(name)) {
      report.notes.push(`${name} is upstream's, not used by runguard`)
      continue
    }
    const closest = closestName(name, known)
    if (name.startsWith('AGENTS_') && closest.distance > TYPO_DISTANCE) {
      report.notes.push(`unknown variable ${name}: not used by runguard`)
      continue
    }
    report.errors.push(`unknown variable ${name} (did you mean ${closest.name}?)`)
  }
  return report
}
