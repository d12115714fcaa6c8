import t from 'tap'
import {
  checkVariableNames,
  clampJobTtl,
  closestName,
  ConfigError,
  editDistance,
  knownVariableNames,
  loadConfig,
  loadConfigWithWarnings,
  parseEnforcement,
  parseList,
  settingsMarkdown,
  SETTINGS,
  TYPO_DISTANCE,
  UPSTREAM_ONLY_VARIABLES,
  variableNames,
  type Config,
} from '../../src/config.ts'

t.test('defaults match SPEC', async (t) => {
  const config = loadConfig({}, 'pod-a')
  t.equal(config.jobTtlSeconds, 600)
  t.equal(config.agentRunRetentionSeconds, 2592000)
  t.equal(config.retentionZeroTtlMaxSeconds, 0)
  t.equal(config.retentionMaxDeletesPerNamespace, 100, 'upstream default: 100 deletes per namespace per pass')
  t.equal(config.cancelTimeoutMs, 30000)
  t.equal(config.eventsEnabled, true)
  t.equal(config.immutabilityEnforced, true)
  t.equal(config.idleMemoryReleaseSeconds, 10)
  t.same(config.namespaces, [])
  t.same(config.blockedSecrets, [])
  t.equal(config.enforcement.parameters, 'deny')
  t.equal(config.podName, 'pod-a')
  t.equal(config.leaseNamespace, config.podNamespace)
  t.equal(config.leaseDurationSeconds, 15)
  t.equal(config.leaseRenewDeadlineSeconds, 10)
  t.equal(config.leaseRetryPeriodSeconds, 2)
  t.same(config.controllerUsers, ['system:serviceaccount:agents:agents-sa', 'system:serviceaccount:runguard-system:runguard'])
  t.same(loadConfigWithWarnings({}).warnings, [])
})

/**
 * One non-default value per upstream setting and how it shows in Config. Keyed by primary name;
 * a new upstream setting without an entry here fails the coverage check below.
 */
const UPSTREAM_PROBES: Record<string, { value: string; other: string; read: (c: Config) => unknown; expected: unknown; otherExpected: unknown }> = {
  AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: { value: '120', other: '300', read: (c) => c.jobTtlSeconds, expected: 120, otherExpected: 300 },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS: { value: '3600', other: '60', read: (c) => c.agentRunRetentionSeconds, expected: 3600, otherExpected: 60 },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS: { value: '900', other: '5', read: (c) => c.retentionZeroTtlMaxSeconds, expected: 900, otherExpected: 5 },
  AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: { value: '7', other: '3', read: (c) => c.retentionMaxDeletesPerNamespace, expected: 7, otherExpected: 3 },
  AGENTS_CONTROLLER_NAMESPACES: { value: '["agents","jobs"]', other: 'other', read: (c) => c.namespaces, expected: ['agents', 'jobs'], otherExpected: ['other'] },
  AGENTS_CONTROLLER_LABELS_REQUIRED: { value: '["team"]', other: 'env', read: (c) => c.labelsRequired, expected: ['team'], otherExpected: ['env'] },
  AGENTS_CONTROLLER_LABELS_ALLOWED: { value: '["team","env"]', other: 'x', read: (c) => c.labelsAllowed, expected: ['team', 'env'], otherExpected: ['x'] },
  AGENTS_CONTROLLER_LABELS_DENIED: { value: '["forbidden"]', other: 'y', read: (c) => c.labelsDenied, expected: ['forbidden'], otherExpected: ['y'] },
  AGENTS_CONTROLLER_IMAGES_ALLOWED: { value: '["registry.internal/*"]', other: 'a/*', read: (c) => c.imagesAllowed, expected: ['registry.internal/*'], otherExpected: ['a/*'] },
  AGENTS_CONTROLLER_IMAGES_DENIED: { value: '["*:latest"]', other: 'b/*', read: (c) => c.imagesDenied, expected: ['*:latest'], otherExpected: ['b/*'] },
  AGENTS_CONTROLLER_BLOCKED_SECRETS: { value: '["prod-db"]', other: 'other-secret', read: (c) => c.blockedSecrets, expected: ['prod-db'], otherExpected: ['other-secret'] },
  AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED: { value: 'false', other: 'true', read: (c) => c.immutabilityEnforced, expected: false, otherExpected: true },
  AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: { value: '5000', other: '7', read: (c) => c.cancelTimeoutMs, expected: 5000, otherExpected: 7 },
  AGENTS_CONTROLLER_EVENTS_ENABLED: { value: 'false', other: 'true', read: (c) => c.eventsEnabled, expected: false, otherExpected: true },
  AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: { value: '12', other: '2', read: (c) => c.eventsRateLimitPerMin, expected: 12, otherExpected: 2 },
}

const upstreamSettings = SETTINGS.filter((s) => s.origin === 'upstream')

t.test('the upstream settings are exactly the names upstream\'s chart sets, plus the other shared ones', async (t) => {
  t.same(
    upstreamSettings.map((s) => s.name).sort(),
    [
      'AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED',
      'AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS',
      'AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE',
      'AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS',
      'AGENTS_CONTROLLER_AGENTRUN_RETENTION_ZERO_TTL_MAX_SECONDS',
      'AGENTS_CONTROLLER_BLOCKED_SECRETS',
      'AGENTS_CONTROLLER_EVENTS_ENABLED',
      'AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN',
      'AGENTS_CONTROLLER_IMAGES_ALLOWED',
      'AGENTS_CONTROLLER_IMAGES_DENIED',
      'AGENTS_CONTROLLER_LABELS_ALLOWED',
      'AGENTS_CONTROLLER_LABELS_DENIED',
      'AGENTS_CONTROLLER_LABELS_REQUIRED',
      'AGENTS_CONTROLLER_NAMESPACES',
      'AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS',
    ],
  )
  t.same(Object.keys(UPSTREAM_PROBES).sort(), upstreamSettings.map((s) => s.name).sort(), 'every upstream setting has a probe')
})

t.test('every upstream name is read', async (t) => {
  for (const setting of upstreamSettings) {
    const probe = UPSTREAM_PROBES[setting.name]!
    t.same(probe.read(loadConfig({ [setting.name]: probe.value })), probe.expected, setting.name)
    t.notSame(probe.read(loadConfig({})), probe.expected, `${setting.name}: the probe differs from the default`)
  }
})

t.test('every alias is read', async (t) => {
  const aliases = SETTINGS.flatMap((s) => s.aliases.map((alias) => [s, alias] as const))
  t.ok(aliases.length >= upstreamSettings.length)
  for (const [setting, alias] of aliases) {
    const probe = UPSTREAM_PROBES[setting.name]!
    const { config, warnings } = loadConfigWithWarnings({ [alias]: probe.value })
    t.same(probe.read(config), probe.expected, `${alias} → ${setting.name}`)
    t.same(warnings, [], `${alias} alone: no warning`)
  }
})

t.test('the aliases are the design notes\' JANGAR_ spellings (plus the old RUNGUARD_ name for max deletes)', async (t) => {
  const aliasesOf = (name: string) => SETTINGS.find((s) => s.name === name)?.aliases
  t.same(aliasesOf('AGENTS_CONTROLLER_NAMESPACES'), ['JANGAR_AGENTS_CONTROLLER_NAMESPACES'])
  t.same(aliasesOf('AGENTS_CONTROLLER_LABELS_REQUIRED'), ['JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED'])
  t.same(aliasesOf('AGENTS_CONTROLLER_BLOCKED_SECRETS'), ['JANGAR_AGENTS_CONTROLLER_BLOCKED_SECRETS'])
  t.same(aliasesOf('AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'), ['JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS'])
  t.same(aliasesOf('AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS'), ['JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS'])
  t.same(aliasesOf('AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS'), ['JANGAR_ORCHESTRATION_CANCEL_TIMEOUT_MS'])
  t.same(aliasesOf('AGENTS_CONTROLLER_EVENTS_ENABLED'), ['JANGAR_CONTROLLER_EVENTS_ENABLED'])
  t.same(aliasesOf('AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN'), ['JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN'])
  t.same(aliasesOf('AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED'), ['JANGAR_AGENTRUN_IMMUTABILITY_ENFORCED'])
  t.same(aliasesOf('AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE'), [
    'JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE',
    'RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE',
  ])
  for (const name of knownVariableNames()) {
    t.notMatch(name, /^AGENTS_AGENTS_/, `${name}: no double prefix`)
    t.match(name, /^(AGENTS|JANGAR|RUNGUARD)_/, name)
  }
  t.equal(new Set(knownVariableNames()).size, knownVariableNames().length, 'no name belongs to two settings')
  for (const setting of SETTINGS.filter((s) => s.origin === 'runguard')) t.match(setting.name, /^RUNGUARD_/, setting.name)
})

t.test('the upstream name wins over an alias, and the disagreement is a warning', async (t) => {
  for (const setting of upstreamSettings) {
    const probe = UPSTREAM_PROBES[setting.name]!
    for (const alias of setting.aliases) {
      const { config, warnings } = loadConfigWithWarnings({ [alias]: probe.other, [setting.name]: probe.value })
      t.same(probe.read(config), probe.expected, `${setting.name} beats ${alias}`)
      t.same(warnings, [`${setting.name} and ${alias} are set and disagree; using ${setting.name}`], `${setting.name} vs ${alias}`)
      t.same(probe.read(loadConfig({ [alias]: probe.other })), probe.otherExpected, `${alias} alone`)
    }
  }
  // Precedence between aliases follows the table order.
  const both = loadConfigWithWarnings({ RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE: '9', JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: '4' })
  t.equal(both.config.retentionMaxDeletesPerNamespace, 4)
  t.same(both.warnings, ['JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE and RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE are set and disagree; using JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE'])
})

t.test('equal spellings do not warn; an empty value counts as unset', async (t) => {
  // The same list written as JSON and as a comma list, the same boolean in two spellings: no warning.
  t.same(loadConfigWithWarnings({ AGENTS_CONTROLLER_NAMESPACES: '["a","b"]', JANGAR_AGENTS_CONTROLLER_NAMESPACES: 'a, b' }).warnings, [])
  t.same(loadConfigWithWarnings({ AGENTS_CONTROLLER_EVENTS_ENABLED: 'false', JANGAR_CONTROLLER_EVENTS_ENABLED: 'False' }).warnings, [])
  t.same(loadConfigWithWarnings({ AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '5000', JANGAR_ORCHESTRATION_CANCEL_TIMEOUT_MS: ' 5000 ' }).warnings, [])
  // An empty upstream value does not hide a set alias, and is no disagreement.
  const empty = loadConfigWithWarnings({ AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '', JANGAR_ORCHESTRATION_CANCEL_TIMEOUT_MS: '7' })
  t.equal(empty.config.cancelTimeoutMs, 7)
  t.same(empty.warnings, [])
  // Warnings never quote values (lists can be long; values stay out of logs).
  const w = loadConfigWithWarnings({ AGENTS_CONTROLLER_BLOCKED_SECRETS: 'secret-a', JANGAR_AGENTS_CONTROLLER_BLOCKED_SECRETS: 'secret-b' }).warnings
  t.equal(w.length, 1)
  t.notMatch(w[0]!, /secret-a|secret-b/)
})

t.test('retention max deletes: default 100, no minimum, ≤ 0 accepted (means no deletes)', async (t) => {
  t.equal(loadConfig({}).retentionMaxDeletesPerNamespace, 100)
  t.equal(loadConfig({ AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: '0' }).retentionMaxDeletesPerNamespace, 0)
  t.equal(loadConfig({ AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: '-1' }).retentionMaxDeletesPerNamespace, -1)
  t.equal(loadConfig({ RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE: '0' }).retentionMaxDeletesPerNamespace, 0, 'the old runguard name still works')
  t.equal(loadConfig({ RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE: '2' }).retentionMaxDeletesPerNamespace, 2)
  t.throws(() => loadConfig({ AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE: 'many' }), /AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE must be integer/)
})

t.test('the double-prefixed names older runguard read are not read, and say so', async (t) => {
  const { config, warnings } = loadConfigWithWarnings({ AGENTS_AGENTS_CONTROLLER_NAMESPACES: 'a,b', AGENTS_AGENTS_CONTROLLER_IMAGES_DENIED: '[oops' })
  t.same(config.namespaces, [], 'not read')
  t.same(config.imagesDenied, [], 'not read, not even parsed')
  t.same(warnings, [
    'AGENTS_AGENTS_CONTROLLER_NAMESPACES is not read (a misspelling older runguard accepted); use AGENTS_CONTROLLER_NAMESPACES',
    'AGENTS_AGENTS_CONTROLLER_IMAGES_DENIED is not read (a misspelling older runguard accepted); use AGENTS_CONTROLLER_IMAGES_DENIED',
  ])
})

t.test('runguard\'s new settings: controller identities, service account', async (t) => {
  const config = loadConfig({ RUNGUARD_CONTROLLER_USERS: 'u1,u2', RUNGUARD_CONTROLLER_GROUPS: '["g"]', RUNGUARD_SERVICE_ACCOUNT_NAME: 'rg', RUNGUARD_POD_NAMESPACE: 'ops' })
  t.same(config.controllerUsers, ['u1', 'u2', 'system:serviceaccount:ops:rg'])
  t.same(config.controllerGroups, ['g'])
})

t.test('a bad value stops start-up with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS: 'ten' }, /JANGAR_AGENT_RUNNER_JOB_TTL_SECONDS must be integer/],
    [{ AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '1.5' }, /AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS must be integer/],
    [{ AGENTS_CONTROLLER_EVENTS_ENABLED: 'maybe' }, /AGENTS_CONTROLLER_EVENTS_ENABLED must be boolean/],
    [{ JANGAR_CONTROLLER_EVENTS_ENABLED: 'maybe' }, /JANGAR_CONTROLLER_EVENTS_ENABLED must be boolean/],
    [{ AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED: 'strict' }, /AGENTS_AGENTRUN_IMMUTABILITY_ENFORCED must be boolean/],
    [{ JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: '0' }, /JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN must be >= 1/],
    [{ AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS: '-1' }, /AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS must be >= 0/],
    [{ JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS: '-1' }, /JANGAR_AGENTS_CONTROLLER_AGENTRUN_RETENTION_SECONDS must be >= 0/],
    [{ RUNGUARD_LOG_LEVEL: 'loud' }, /RUNGUARD_LOG_LEVEL must be equal to one of the allowed values/],
    [{ JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED: '["a", 1]' }, /JANGAR_AGENTS_CONTROLLER_LABELS_REQUIRED: a JSON list must contain only strings/],
    [{ AGENTS_CONTROLLER_IMAGES_DENIED: '[oops' }, /AGENTS_CONTROLLER_IMAGES_DENIED: not a valid JSON list/],
    [{ AGENTS_CONTROLLER_BLOCKED_SECRETS: '["a",' }, /AGENTS_CONTROLLER_BLOCKED_SECRETS: not a valid JSON list/],
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

t.test('booleans accept the spellings manifests and upstream use', async (t) => {
  for (const v of ['false', 'False', '0', 'no', 'off', 'n', 'disabled']) t.equal(loadConfig({ AGENTS_CONTROLLER_EVENTS_ENABLED: v }).eventsEnabled, false, v)
  for (const v of ['true', 'TRUE', '1', 'yes', 'on', 'y', 'Enabled']) t.equal(loadConfig({ JANGAR_CONTROLLER_EVENTS_ENABLED: v }).eventsEnabled, true, v)
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
  t.equal(loadConfig({ AGENTS_AGENT_RUNNER_JOB_TTL_SECONDS: '0' }).jobTtlSeconds, null)
})

t.test('the configuration table lists the primary name, then the aliases', async (t) => {
  const table = settingsMarkdown()
  const lines = table.split('\n')
  t.equal(lines[0], '| variable | aliases | default | meaning |')
  t.equal(lines.length, SETTINGS.length + 2)
  for (const [i, setting] of SETTINGS.entries()) {
    const cells = lines[i + 2]!.split(' | ')
    t.equal(cells[0], `| \`${setting.name}\``, setting.name)
    t.equal(cells[1], setting.aliases.map((a) => `\`${a}\``).join('<br>'), `${setting.name} aliases`)
    t.same(variableNames(setting), [setting.name, ...setting.aliases])
  }
  t.notMatch(table, /AGENTS_AGENTS_/)
  t.match(table, /\| `AGENTS_CONTROLLER_AGENTRUN_RETENTION_MAX_DELETES_PER_NAMESPACE` \| [^|]*`RUNGUARD_RETENTION_MAX_DELETES_PER_NAMESPACE` \| `100` \|/)
})

t.test('edit distance', async (t) => {
  t.equal(editDistance('', ''), 0)
  t.equal(editDistance('abc', ''), 3)
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(editDistance('AGENTS_CONTROLER_NAMESPACES', 'AGENTS_CONTROLLER_NAMESPACES'), 1)
  t.equal(editDistance('AGENTS_CONTROLLER_NAMESPACE', 'AGENTS_CONTROLLER_NAMESPACES'), 1)
  t.equal(editDistance('AGENTS_CONTROLLER_LABLES_DENIED', 'AGENTS_CONTROLLER_LABELS_DENIED'), 2)
  t.same(closestName('RUNGUARD_LOG_LEVL', knownVariableNames()), { name: 'RUNGUARD_LOG_LEVEL', distance: 1 })
})

t.test('unknown variables: typos are errors with the closest name, upstream\'s own are notes', async (t) => {
  const typo = checkVariableNames({ AGENTS_CONTROLER_NAMESPACES: 'a' })
  t.same(typo.errors, ['unknown variable AGENTS_CONTROLER_NAMESPACES (did you mean AGENTS_CONTROLLER_NAMESPACES?)'])
  t.same(typo.notes, [])
  t.same(checkVariableNames({ AGENTS_CONTROLLER_LABLES_DENIED: 'a' }).errors, ['unknown variable AGENTS_CONTROLLER_LABLES_DENIED (did you mean AGENTS_CONTROLLER_LABELS_DENIED?)'], 'distance 2 is still a typo')
  t.same(checkVariableNames({ RUNGUARD_LOG_LEVL: 'info' }).errors, ['unknown variable RUNGUARD_LOG_LEVL (did you mean RUNGUARD_LOG_LEVEL?)'])
  t.same(checkVariableNames({ RUNGUARD_SOMETHING_ELSE_ENTIRELY: '1' }).errors.length, 1, 'any unknown RUNGUARD_ name is an error')
  t.same(checkVariableNames({ JANGAR_AGENTS_CONTROLLER_NAMESPACE: 'a' }).errors, ['unknown variable JANGAR_AGENTS_CONTROLLER_NAMESPACE (did you mean JANGAR_AGENTS_CONTROLLER_NAMESPACES?)'])
  t.same(checkVariableNames({ JANGAR_WHATEVER: '1' }).errors.length, 1, 'any unknown JANGAR_ name is an error')
  t.same(checkVariableNames({ AGENTS_AGENTS_CONTROLLER_NAMESPACES: 'a' }).errors, ['AGENTS_AGENTS_CONTROLLER_NAMESPACES is not read (a misspelling older runguard accepted); use AGENTS_CONTROLLER_NAMESPACES'])

  // Far from every runguard name: not a typo, just not ours.
  const far = checkVariableNames({ AGENTS_SOMETHING_NEW_UPSTREAM: '1' })
  t.same(far.errors, [])
  t.same(far.notes, ['unknown variable AGENTS_SOMETHING_NEW_UPSTREAM: not used by runguard'])

  // Known names, other prefixes and the flags' variables are not reported.
  const env: Record<string, string> = { PATH: '/bin', KUBECONFIG: '/k', RUNGUARD_PORT: '8443', agents_controller_namespaces: 'x' }
  for (const name of knownVariableNames()) env[name] = '1'
  t.same(checkVariableNames(env, ['RUNGUARD_PORT']), { errors: [], notes: [] })
  t.same(checkVariableNames({ RUNGUARD_PORT: '8443' }).errors, ['unknown variable RUNGUARD_PORT (did you mean RUNGUARD_POD_NAME?)'], 'without extraKnown the flag variable is unknown')
})

t.test('upstream chart\'s other AGENTS_* variables are notes, never errors', async (t) => {
  const chartEnv = {
    AGENTS_GRPC_ENABLED: 'true',
    AGENTS_GRPC_HOST: '0.0.0.0',
    AGENTS_GRPC_PORT: '50051',
    AGENTS_CONTROLLER_ENABLED: '1',
    AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE: '10',
    AGENTS_CONTROLLER_QUEUE_NAMESPACE: '200',
    AGENTS_CONTROLLER_RATE_NAMESPACE: '120',
    AGENTS_LEADER_ELECTION_ENABLED: 'true',
    AGENTS_LEADER_ELECTION_LEASE_NAME: 'agents-controller-leader',
    AGENTS_POD_NAMESPACE: 'agents',
    AGENTS_SERVICE_ACCOUNT_NAME: 'agents-sa',
    AGENTS_PRIMITIVES_NAMESPACES: 'agents',
    AGENTS_ORCHESTRATION_CONTROLLER_NAMESPACES: 'agents',
    AGENTS_CONTROLLER_RUNTIME_DEBRIS_MAX_DELETES_PER_NAMESPACE: '25',
    JANGAR_GRPC_ENABLED: '0',
    JANGAR_AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE: '10',
    // The ones runguard shares are read, not reported.
    AGENTS_CONTROLLER_NAMESPACES: 'agents',
    AGENTS_CONTROLLER_LABELS_REQUIRED: '["team"]',
  }
  const report = checkVariableNames(chartEnv)
  t.same(report.errors, [])
  t.equal(report.notes.length, Object.keys(chartEnv).length - 2)
  t.match(report.notes, ['AGENTS_CONTROLLER_CONCURRENCY_NAMESPACE is upstream\'s, not used by runguard'])
  t.ok(loadConfig(chartEnv), 'and the configuration loads')
  t.same(loadConfig(chartEnv).namespaces, ['agents'])
})

t.test('upstream-only names never collide with runguard\'s, and none is a "typo" of one', async (t) => {
  const known = knownVariableNames()
  for (const name of UPSTREAM_ONLY_VARIABLES) {
    t.notOk(known.includes(name), `${name} is not one of runguard's names`)
    if (name.startsWith('AGENTS_')) t.ok(closestName(name, known).distance > TYPO_DISTANCE, `${name} is far from runguard's names`)
  }
})

t.test('RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: 0 disables; negative or not a number stops start-up naming it', async (t) => {
  t.equal(loadConfig({ RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: '0' }, 'p').idleMemoryReleaseSeconds, 0)
  t.equal(loadConfig({ RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: '30' }, 'p').idleMemoryReleaseSeconds, 30)
  t.throws(() => loadConfig({ RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: '-1' }, 'p'), { message: /RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS/ })
  t.throws(() => loadConfig({ RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS: 'soon' }, 'p'), { message: /RUNGUARD_IDLE_MEMORY_RELEASE_SECONDS/ })
})
