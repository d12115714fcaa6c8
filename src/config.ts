/**
 * The one configuration module. The whole environment is read once, at start, by loadConfig();
 * every other module receives the resulting Config. A bad value stops start-up with a message
 * that names the variable.
 *
 * Settings inherited from upstream accept both spellings: the `JANGAR_` name (which wins when
 * both are set) and the newer `AGENTS_` name. runguard's own settings use `RUNGUARD_`.
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
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

type Kind = 'integer' | 'boolean' | 'list' | 'string' | 'enforcement'

interface Setting {
  /** Name without prefix, e.g. `AGENT_RUNNER_JOB_TTL_SECONDS`. */
  name: string
  /** `upstream` settings take JANGAR_ and AGENTS_; `runguard` ones take RUNGUARD_. */
  origin: 'upstream' | 'runguard'
  kind: Kind
  default: string
  minimum?: number
  enum?: readonly string[]
  doc: string
}

/** Every setting, in the order the README's configuration table lists them. */
export const SETTINGS: readonly Setting[] = [
  { name: 'AGENT_RUNNER_JOB_TTL_SECONDS', origin: 'upstream', kind: 'integer', default: '600', doc: 'Job `ttlSecondsAfterFinished` applied once a run is terminal and its result collected; clamped to 30 s … 7 d; ≤ 0 means no TTL.' },
  { name: 'AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS', origin: 'upstream', kind: 'integer', default: '2592000', minimum: 0, doc: 'How long a terminal AgentRun without `spec.ttlSecondsAfterFinished` is kept after `finishedAt`.' },
  { name: 'AGENTS_CONTROLLER_NAMESPACES', origin: 'upstream', kind: 'list', default: '', doc: 'Namespaces the reconciler watches (JSON list or comma list); empty = all.' },
  { name: 'AGENTS_CONTROLLER_LABELS_REQUIRED', origin: 'upstream', kind: 'list', default: '', doc: 'Labels every run must carry (rule 5, `MissingRequiredLabels`).' },
  { name: 'AGENTS_CONTROLLER_LABELS_ALLOWED', origin: 'upstream', kind: 'list', default: '', doc: 'If set, the only label keys a run may carry (`LabelNotAllowed`).' },
  { name: 'AGENTS_CONTROLLER_LABELS_DENIED', origin: 'upstream', kind: 'list', default: '', doc: 'Label keys a run may not carry (`LabelBlocked`).' },
  { name: 'AGENTS_CONTROLLER_IMAGES_ALLOWED', origin: 'upstream', kind: 'list', default: '', doc: 'If set, glob patterns `spec.workload.image` must match (`ImageNotAllowed`).' },
  { name: 'AGENTS_CONTROLLER_IMAGES_DENIED', origin: 'upstream', kind: 'list', default: '', doc: 'Glob patterns `spec.workload.image` may not match (`ImageBlocked`).' },
  { name: 'ORCHESTRATION_CANCEL_TIMEOUT_MS', origin: 'upstream', kind: 'integer', default: '30000', minimum: 0, doc: 'How long cancel waits for children before writing `Cancelled` with reason `CancelTimedOut`.' },
  { name: 'CONTROLLER_EVENTS_ENABLED', origin: 'upstream', kind: 'boolean', default: 'true', doc: 'Emit Kubernetes Events (webhook and reconciler).' },
  { name: 'CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN', origin: 'upstream', kind: 'integer', default: '6', minimum: 1, doc: 'Events per object per minute for transient errors and repeats; more fold into `series.count`.' },
  { name: 'ENFORCEMENT', origin: 'runguard', kind: 'enforcement', default: '', doc: 'Per rule set `deny` (default) or `warn`, e.g. `labels=warn,images=warn`. Sets: ' + RULE_SETS.join(', ') + '.' },
  { name: 'BREAK_GLASS_USERS', origin: 'runguard', kind: 'list', default: '', doc: 'Users allowed to bypass the status rules (each bypass is logged and counted).' },
  { name: 'BREAK_GLASS_GROUPS', origin: 'runguard', kind: 'list', default: '', doc: 'Groups allowed to bypass the status rules.' },
  { name: 'CONTROLLER_USERS', origin: 'runguard', kind: 'list', default: 'system:serviceaccount:agents:agents-sa', doc: 'Controller identities: their status writes are repaired (protected fields restored, with a warning and an Event), never refused. runguard\'s own ServiceAccount is always added.' },
  { name: 'CONTROLLER_GROUPS', origin: 'runguard', kind: 'list', default: '', doc: 'Groups whose members are controller identities.' },
  { name: 'SERVICE_ACCOUNT_NAME', origin: 'runguard', kind: 'string', default: 'runguard', doc: 'runguard\'s own ServiceAccount (in `RUNGUARD_POD_NAMESPACE`), always a controller identity.' },
  { name: 'AGENTS_CONTROLLER_BLOCKED_SECRETS', origin: 'upstream', kind: 'list', default: '', doc: 'Secret names `spec.secrets` may not reference (`SecretBlocked`).' },
  { name: 'AGENTRUN_IMMUTABILITY_ENFORCED', origin: 'upstream', kind: 'boolean', default: 'true', doc: 'Refuse spec edits of an accepted, non-terminal AgentRun (`false`: warn only).' },
  { name: 'AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS', origin: 'upstream', kind: 'integer', default: '0', doc: 'Retention for `spec.ttlSecondsAfterFinished: 0`; ≤ 0 keeps the run.' },
  { name: 'RETENTION_ENABLED', origin: 'runguard', kind: 'boolean', default: 'true', doc: 'Delete terminal AgentRuns after their retention; switch off where the upstream controller does it.' },
  { name: 'RETENTION_MAX_DELETES_PER_NAMESPACE', origin: 'runguard', kind: 'integer', default: '50', minimum: 1, doc: 'At most this many retention deletes per namespace per pass.' },
  { name: 'JOB_MISSING_GRACE_SECONDS', origin: 'runguard', kind: 'integer', default: '30', minimum: 0, doc: 'A recorded Job must be gone this long before `JobMissing` is reported.' },
  { name: 'RECONCILE_CONCURRENCY', origin: 'runguard', kind: 'integer', default: '4', minimum: 1, doc: 'Reconcile workers (never two on one object).' },
  { name: 'RESYNC_SECONDS', origin: 'runguard', kind: 'integer', default: '300', minimum: 0, doc: 'Periodic resync of every cached object; 0 disables.' },
  { name: 'LEASE_NAME', origin: 'runguard', kind: 'string', default: 'runguard-reconciler', doc: 'coordination.k8s.io Lease used for leader election.' },
  { name: 'LEASE_NAMESPACE', origin: 'runguard', kind: 'string', default: '', doc: 'Namespace of the Lease; defaults to the pod namespace.' },
  { name: 'LEASE_DURATION_SECONDS', origin: 'runguard', kind: 'integer', default: '15', minimum: 1, doc: 'Lease duration.' },
  { name: 'LEASE_RENEW_DEADLINE_SECONDS', origin: 'runguard', kind: 'integer', default: '10', minimum: 1, doc: 'Leader gives up if it cannot renew within this.' },
  { name: 'LEASE_RETRY_PERIOD_SECONDS', origin: 'runguard', kind: 'integer', default: '2', minimum: 1, doc: 'Interval between acquire/renew attempts.' },
  { name: 'POD_NAME', origin: 'runguard', kind: 'string', default: '', doc: 'This pod (Downward API); used as Event `reportingInstance` and Lease holder. Defaults to the host name.' },
  { name: 'POD_NAMESPACE', origin: 'runguard', kind: 'string', default: 'runguard-system', doc: 'This pod’s namespace (Downward API).' },
  { name: 'LOG_LEVEL', origin: 'runguard', kind: 'string', default: 'info', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level.' },
]

export const JOB_TTL_MIN_SECONDS = 30
export const JOB_TTL_MAX_SECONDS = 7 * 24 * 3600

/** The variable names a setting answers to, in precedence order. */
export function variableNames(setting: Setting): string[] {
  return setting.origin === 'upstream' ? [`JANGAR_${setting.name}`, `AGENTS_${setting.name}`] : [`RUNGUARD_${setting.name}`]
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

/**
 * Reads every setting from `env` (process.env by default), validates the lot, and returns the
 * typed Config. Throws ConfigError naming the offending variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, hostname = 'runguard'): Config {
  const chosen = new Map<string, { variable: string; raw: string }>()
  const data: Record<string, string> = {}
  const properties: Record<string, object> = {}
  for (const setting of SETTINGS) {
    const names = variableNames(setting)
    const variable = names.find((name) => env[name] !== undefined && env[name] !== '') ?? names[0]!
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
    // env-schema reports e.g. "env/JANGAR_X must be integer"; keep the variable, drop the prefix.
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

  const enforcement = get('ENFORCEMENT')
  const podNamespace = str('POD_NAMESPACE')
  const leaseDuration = int('LEASE_DURATION_SECONDS')
  const renewDeadline = int('LEASE_RENEW_DEADLINE_SECONDS')
  const retryPeriod = int('LEASE_RETRY_PERIOD_SECONDS')
  if (!(retryPeriod < renewDeadline && renewDeadline < leaseDuration)) {
    throw new ConfigError(
      `RUNGUARD_LEASE_RETRY_PERIOD_SECONDS (${retryPeriod}) < RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS (${renewDeadline}) < RUNGUARD_LEASE_DURATION_SECONDS (${leaseDuration}) must hold`,
    )
  }

  return {
    jobTtlSeconds: clampJobTtl(int('AGENT_RUNNER_JOB_TTL_SECONDS')),
    agentRunRetentionSeconds: int('AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'),
    namespaces: list('AGENTS_CONTROLLER_NAMESPACES'),
    labelsRequired: list('AGENTS_CONTROLLER_LABELS_REQUIRED'),
    labelsAllowed: list('AGENTS_CONTROLLER_LABELS_ALLOWED'),
    labelsDenied: list('AGENTS_CONTROLLER_LABELS_DENIED'),
    imagesAllowed: list('AGENTS_CONTROLLER_IMAGES_ALLOWED'),
    imagesDenied: list('AGENTS_CONTROLLER_IMAGES_DENIED'),
    cancelTimeoutMs: int('ORCHESTRATION_CANCEL_TIMEOUT_MS'),
    eventsEnabled: bool('CONTROLLER_EVENTS_ENABLED'),
    eventsRateLimitPerMin: int('CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN'),
    enforcement: parseEnforcement(String(enforcement.value), enforcement.variable),
    breakGlassUsers: list('BREAK_GLASS_USERS'),
    breakGlassGroups: list('BREAK_GLASS_GROUPS'),
    controllerUsers: [...new Set([...list('CONTROLLER_USERS'), `system:serviceaccount:${podNamespace}:${str('SERVICE_ACCOUNT_NAME')}`])],
    controllerGroups: list('CONTROLLER_GROUPS'),
    blockedSecrets: list('AGENTS_CONTROLLER_BLOCKED_SECRETS'),
    immutabilityEnforced: bool('AGENTRUN_IMMUTABILITY_ENFORCED'),
    retentionZeroTtlMaxSeconds: int('AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS'),
    retentionEnabled: bool('RETENTION_ENABLED'),
    retentionMaxDeletesPerNamespace: int('RETENTION_MAX_DELETES_PER_NAMESPACE'),
    jobMissingGraceSeconds: int('JOB_MISSING_GRACE_SECONDS'),
    reconcileConcurrency: int('RECONCILE_CONCURRENCY'),
    resyncSeconds: int('RESYNC_SECONDS'),
    leaseName: str('LEASE_NAME'),
    leaseNamespace: str('LEASE_NAMESPACE') || podNamespace,
    leaseDurationSeconds: leaseDuration,
    leaseRenewDeadlineSeconds: renewDeadline,
    leaseRetryPeriodSeconds: retryPeriod,
    podName: str('POD_NAME') || hostname,
    podNamespace,
    logLevel: str('LOG_LEVEL') as Config['logLevel'],
  }
}

/** Kubernetes manifests and Helm values often say True/False/1/0/yes/no; accept them all. */
function normaliseBoolean(raw: string): string {
  const text = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(text)) return 'true'
  if (['false', '0', 'no', 'off'].includes(text)) return 'false'
  return raw
}

/** The configuration table of the README, generated so docs and code cannot disagree. */
export function settingsMarkdown(): string {
  const rows = SETTINGS.map((s) => `| ${variableNames(s).map((n) => `\`${n}\``).join('<br>')} | \`${s.default}\` | ${s.doc} |`)
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}
