/**
 * Which container acts on each setting, and which chart value sets it. One table for the chart's
 * templates/_env.tpl (test/unit/chart.test.ts checks the rendered Deployment against it), the
 * README's chart-values table (written by `npm run chart`) and the operator.
 *
 * Both processes load and validate the whole configuration at start; `readBy` names the one(s)
 * whose behaviour the setting changes. `admission` marks settings the chart also renders into the
 * webhook configurations and the status ValidatingAdmissionPolicy.
 */
import { SETTINGS } from '../../src/config.ts'

export type Container = 'webhook' | 'reconciler'

export interface ChartSetting {
  readBy: readonly Container[]
  /** The chart value that sets it; undefined: only through `env.vars` / `<container>.env`. */
  value?: string
  /** Also rendered into the admission objects (matchConditions, namespaceSelector). */
  admission?: string
}

export const CHART_SETTINGS: Readonly<Record<string, ChartSetting>> = {
  AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: { readBy: ['reconciler'], value: 'controller.jobTtlSecondsAfterFinished' },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS: { readBy: ['reconciler'], value: 'controller.agentRunRetentionSeconds' },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS: { readBy: ['reconciler'], value: 'controller.agentRunRetentionZeroTtlMaxSeconds' },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: { readBy: ['reconciler'], value: 'controller.agentRunRetentionMaxDeletesPerNamespace' },
  AGENTS_CONTROLLER_NAMESPACES: { readBy: ['reconciler'], value: 'controller.namespaces', admission: 'namespaceSelector of every webhook and of the status policy; Roles with `rbac.clusterScoped: false`' },
  AGENTS_CONTROLLER_LABELS_REQUIRED: { readBy: ['webhook'], value: 'controller.admissionPolicy.labels.required' },
  AGENTS_CONTROLLER_LABELS_ALLOWED: { readBy: ['webhook'], value: 'controller.admissionPolicy.labels.allowed' },
  AGENTS_CONTROLLER_LABELS_DENIED: { readBy: ['webhook'], value: 'controller.admissionPolicy.labels.denied' },
  AGENTS_CONTROLLER_IMAGES_ALLOWED: { readBy: ['webhook'], value: 'controller.admissionPolicy.images.allowed' },
  AGENTS_CONTROLLER_IMAGES_DENIED: { readBy: ['webhook'], value: 'controller.admissionPolicy.images.denied' },
  AGENTS_CONTROLLER_BLOCKED_SECRETS: { readBy: ['webhook'], value: 'controller.admissionPolicy.secrets.blocked' },
  AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED: { readBy: ['webhook'], value: 'controller.agentRunImmutabilityEnforced' },
  AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: { readBy: ['reconciler'], value: 'reconciler.cancelTimeoutMs' },
  AGENTS_CONTROLLER_EVENTS_ENABLED: { readBy: ['webhook', 'reconciler'], value: 'events.enabled' },
  AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: { readBy: ['webhook', 'reconciler'], value: 'events.rateLimitPerMin' },
  RUNGUARD_ENFORCEMENT: { readBy: ['webhook'], value: 'enforcement' },
  RUNGUARD_BREAK_GLASS_USERS: { readBy: ['webhook'], value: 'breakGlass.users', admission: 'the status policy exempts them' },
  RUNGUARD_BREAK_GLASS_GROUPS: { readBy: ['webhook'], value: 'breakGlass.groups', admission: 'the status policy exempts them' },
  RUNGUARD_CONTROLLER_USERS: { readBy: ['webhook'], value: 'controllerIdentities.users', admission: 'matchConditions of the split webhooks; the status policy exempts them' },
  RUNGUARD_CONTROLLER_GROUPS: { readBy: ['webhook'], value: 'controllerIdentities.groups', admission: 'matchConditions of the split webhooks; the status policy exempts them' },
  RUNGUARD_SERVICE_ACCOUNT_NAME: { readBy: ['webhook'], value: 'serviceAccount.name', admission: 'runguard\'s own identity in the matchConditions and the status policy' },
  RUNGUARD_RETENTION_ENABLED: { readBy: ['reconciler'], value: 'reconciler.retentionEnabled' },
  RUNGUARD_JOB_MISSING_GRACE_SECONDS: { readBy: ['reconciler'], value: 'reconciler.jobMissingGraceSeconds' },
  RUNGUARD_RECONCILE_CONCURRENCY: { readBy: ['reconciler'], value: 'reconciler.concurrency' },
  RUNGUARD_RESYNC_SECONDS: { readBy: ['reconciler'], value: 'reconciler.resyncSeconds' },
  RUNGUARD_LEASE_NAME: { readBy: ['reconciler'], value: 'reconciler.leaderElection.leaseName' },
  RUNGUARD_LEASE_NAMESPACE: { readBy: ['reconciler'], value: 'reconciler.leaderElection.leaseNamespace' },
  RUNGUARD_LEASE_DURATION_SECONDS: { readBy: ['reconciler'], value: 'reconciler.leaderElection.leaseDurationSeconds' },
  RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: { readBy: ['reconciler'], value: 'reconciler.leaderElection.renewDeadlineSeconds' },
  RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: { readBy: ['reconciler'], value: 'reconciler.leaderElection.retryPeriodSeconds' },
  RUNGUARD_TLS_MODE: { readBy: ['webhook'], value: 'tls.mode' },
  RUNGUARD_TLS_SECRET_NAME: { readBy: ['webhook'], value: 'tls.secretName' },
  RUNGUARD_TLS_SERVICE_NAME: { readBy: ['webhook'], value: '(the release\'s webhook Service)' },
  RUNGUARD_TLS_LEASE_NAME: { readBy: ['webhook'], value: '(`<fullname>-webhook-tls`)' },
  RUNGUARD_WEBHOOK_CONFIGURATIONS: { readBy: ['webhook'], value: '(the release\'s two webhook configurations)' },
  RUNGUARD_TLS_CA_VALIDITY_DAYS: { readBy: ['webhook'], value: 'tls.selfManaged.caValidityDays' },
  RUNGUARD_TLS_CERT_VALIDITY_DAYS: { readBy: ['webhook'], value: 'tls.selfManaged.certValidityDays' },
  RUNGUARD_TLS_RENEW_BEFORE_DAYS: { readBy: ['webhook'], value: 'tls.selfManaged.renewBeforeDays' },
  RUNGUARD_POD_NAME: { readBy: ['webhook', 'reconciler'], value: '(Downward API)' },
  RUNGUARD_POD_NAMESPACE: { readBy: ['webhook', 'reconciler'], value: '(Downward API: the release namespace)' },
  RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: { readBy: ['webhook', 'reconciler'], value: 'idleMemoryReleaseSeconds' },
  RUNGUARD_LOG_LEVEL: { readBy: ['webhook', 'reconciler'], value: 'logging.level' },
}

/** The README's chart-values table: every setting, its chart value and the container that acts on it. */
export function chartSettingsMarkdown(): string {
  const code = (text: string) => `\`${text}\``
  const rows = SETTINGS.map((setting) => {
    const entry = CHART_SETTINGS[setting.name]
    if (!entry) throw new Error(`test/tools/chart-settings.ts: no entry for ${setting.name}`)
    const value = entry.value === undefined ? '`env.vars`' : entry.value.startsWith('(') ? entry.value : code(entry.value)
    const readBy = entry.readBy.map(code).join(', ') + (entry.admission ? `; also ${entry.admission}` : '')
    return `| ${code(setting.name)} | ${value} | ${readBy} | ${setting.default === '' ? '(empty)' : code(setting.default)} |`
  })
  return ['| variable | chart value | read by | default |', '|---|---|---|---|', ...rows].join('\n')
}
