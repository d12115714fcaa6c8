import t from 'tap'
import { clampJobTtl, ConfigError, loadConfig, parseEnforcement, parseList, settingsMarkdown, SETTINGS, variableNames } from '../../src/config.ts'

t.test('defaults match SPEC', async (t) => {
  const config = loadConfig({}, 'pod-a')
  t.equal(config.jobTtlSeconds, 600)
  t.equal(config.agentRunRetentionSeconds, 2592000)
  t.equal(config.cancelTimeoutMs, 30000)
  t.equal(config.eventsEnabled, true)
  t.same(config.namespaces, [])
  t.equal(config.enforcement.parameters, 'deny')
  t.equal(config.podName, 'pod-a')
  t.equal(config.leaseNamespace, config.podNamespace)
  t.equal(config.leaseDurationSeconds, 15)
  t.equal(config.leaseRenewDeadlineSeconds, 10)
  t.equal(config.leaseRetryPeriodSeconds, 2)
})

t.test('both spellings are accepted and JANGAR_ wins', async (t) => {
  t.equal(loadConfig({ AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '120' }).jobTtlSeconds, 120)
  t.equal(loadConfig({ JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS: '300', AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '120' }).jobTtlSeconds, 300)
  t.same(loadConfig({ AGENTS_AGENTS_CONTROLLER_NAMESPACES: 'a,b' }).namespaces, ['a', 'b'])
  t.equal(loadConfig({ AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '5000' }).cancelTimeoutMs, 5000)
  // An empty JANGAR_ value does not hide a set AGENTS_ value.
  t.equal(loadConfig({ JANGAR_ORCHESTRATION_CANCEL_TIMEOUT_MS: '', AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '7' }).cancelTimeoutMs, 7)
})

t.test('every upstream setting answers to both prefixes, runguard settings to RUNGUARD_', async (t) => {
  for (const setting of SETTINGS) {
    const names = variableNames(setting)
    if (setting.origin === 'upstream') t.same(names, [`JANGAR_${setting.name}`, `AGENTS_${setting.name}`])
    else t.same(names, [`RUNGUARD_${setting.name}`])
  }
  const table = settingsMarkdown()
  for (const setting of SETTINGS) for (const name of variableNames(setting)) t.match(table, name)
})

t.test('a bad value stops start-up with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS: 'ten' }, /JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS must be integer/],
    [{ AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '1.5' }, /AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS must be integer/],
    [{ JANGAR_CONTROLLER_EVENTS_ENABLED: 'maybe' }, /JANGAR_CONTROLLER_EVENTS_ENABLED must be boolean/],
    [{ JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: '0' }, /JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN must be >= 1/],
    [{ JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS: '-1' }, /JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS must be >= 0/],
    [{ RUNGUARD_LOG_LEVEL: 'loud' }, /RUNGUARD_LOG_LEVEL must be equal to one of the allowed values/],
    [{ JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED: '["a", 1]' }, /JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED: a JSON list must contain only strings/],
    [{ AGENTS_AGENTS_CONTROLLER_IMAGES_DENIED: '[oops' }, /AGENTS_AGENTS_CONTROLLER_IMAGES_DENIED: not a valid JSON list/],
    [{ RUNGUARD_ENFORCEMENT: 'labels=maybe' }, /RUNGUARD_ENFORCEMENT: "maybe" for labels must be deny or warn/],
    [{ RUNGUARD_ENFORCEMENT: 'colour=warn' }, /RUNGUARD_ENFORCEMENT: unknown rule set "colour"/],
    [{ RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: '20' }, /RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS \(20\) < RUNGUARD_LEASE_DURATION_SECONDS/],
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), message, JSON.stringify(env))
    t.throws(() => loadConfig(env), ConfigError)
  }
})

t.test('lists: JSON or comma, trimmed, empties dropped', async (t) => {
  t.same(parseList('', 'X'), [])
  t.same(parseList(' a , b ,,c ', 'X'), ['a', 'b', 'c'])
  t.same(parseList('["team", " env "]', 'X'), ['team', 'env'])
  t.same(loadConfig({ JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED: '["team","env"]' }).labelsRequired, ['team', 'env'])
})

t.test('booleans accept the spellings manifests use', async (t) => {
  for (const v of ['false', 'False', '0', 'no', 'off']) t.equal(loadConfig({ JANGAR_CONTROLLER_EVENTS_ENABLED: v }).eventsEnabled, false, v)
  for (const v of ['true', 'TRUE', '1', 'yes', 'on']) t.equal(loadConfig({ JANGAR_CONTROLLER_EVENTS_ENABLED: v }).eventsEnabled, true, v)
})

t.test('enforcement per rule set', async (t) => {
  const e = parseEnforcement('labels=warn, images = warn', 'RUNGUARD_ENFORCEMENT')
  t.equal(e.labels, 'warn')
  t.equal(e.images, 'warn')
  t.equal(e.parameters, 'deny')
  t.throws(() => parseEnforcement('labels', 'V'), /not of the form/)
})

t.test('job TTL is clamped to 30 s … 7 d, ≤ 0 means none', async (t) => {
  t.equal(clampJobTtl(0), null)
  t.equal(clampJobTtl(-5), null)
  t.equal(clampJobTtl(1), 30)
  t.equal(clampJobTtl(30), 30)
  t.equal(clampJobTtl(600), 600)
  t.equal(clampJobTtl(604800), 604800)
  t.equal(clampJobTtl(10_000_000), 604800)
  t.equal(loadConfig({ JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS: '0' }).jobTtlSeconds, null)
})
