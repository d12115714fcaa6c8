/**
 * `runguard check` as a CI pipeline runs it (real process, real files, exit codes and output), and
 * its pure parts in-process (parsing, identity, the request it builds, the registry step, formats).
 */
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runCli } from '../helpers/cli.ts'
import {
  admissionRequest,
  checkObjects,
  configFromEnv,
  exitCode,
  formatHuman,
  formatJson,
  impersonatedUser,
  InputError,
  loadObjects,
  parseObjects,
  readInputs,
  registryStrategy,
  type SourcedObject,
} from '../../src/check.ts'
import { loadConfig } from '../../src/config.ts'
import type { KubeObject } from '../../src/kube/objects.ts'
import { WEBHOOKS } from '../../webhooks/index.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const fixture = (name: string) => `test/fixtures/check/${name}`

function runguard(args: string[], input?: string, env: Record<string, string> = {}, nodeArgs: string[] = []) {
  return runCli(args, { input, env, nodeArgs })
}

const toolRun = (name: string, spec = '{toolRef: {name: x}}', ns = 'd') => `apiVersion: tools.proompteng.ai/v1alpha1\nkind: ToolRun\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`
const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: d}\n'

/** The documented `-o json` result fields, in order. */
const RESULT_FIELDS = ['kind', 'apiVersion', 'namespace', 'name', 'source', 'operation', 'subResource', 'allowed', 'messages', 'warnings', 'patch']

interface JsonReport {
  results: Array<{
    kind: string
    apiVersion: string
    namespace: string
    name: string
    source: string
    operation: string
    subResource: string | null
    allowed: boolean
    messages: string[]
    warnings: string[]
    patch: Array<{ op: string; path: string; value?: unknown }> | null
  }>
  skipped: Array<{ kind: string; apiVersion: string; namespace: string | null; name: string | null; source: string }>
}

// ------------------------------------------------------------------------------------------------
// CLI: verdicts and how they name their objects

t.test('allowed: exit 0, kubectl-style line naming kind, namespace and name', async (t) => {
  const r = runguard(['check', '-f', 'examples/agentrun.yaml'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'agentrun.agents.proompteng.ai default/hello-codex created (server dry run)\n')
  t.equal(r.stderr, '')
})

t.test('denied: exit 1 with the message kubectl would print, naming the object and its file', async (t) => {
  const r = runguard(['check', '-f', 'examples/agentrun-invalid.yaml'])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.match(
    r.stderr,
    /^Error from server \(Invalid\): error when creating "examples\/agentrun-invalid\.yaml": agentrun\.agents\.proompteng\.ai default\/broken-run: admission webhook "validate\.runguard\.proompteng\.ai" denied the request: /,
  )
  t.match(r.stderr, /spec\.workflow\.steps\[1\]\.name/)
  t.match(r.stderr, /spec\.workflow\.steps\[2\]\.name/)
})

t.test('cancel rules deny in the mutating webhook, ahead of the CRD CEL backstops', async (t) => {
  const r = runguard(['check', '-f', '-'], toolRun('t', '{toolRef: {name: x}, cancel: true, desiredState: Running}'))
  t.equal(r.code, 1)
  t.match(r.stderr, /toolrun\.tools\.proompteng\.ai d\/t: admission webhook "mutate\.runguard\.proompteng\.ai" denied the request: spec\.desiredState/)
})

t.test('-f is repeatable; every object gets its own verdict and one denial makes exit 1', async (t) => {
  const ok = runguard(['check', '-f', 'examples/agentrun.yaml', '-f', 'examples/toolrun.yaml', '--filename', 'examples/orchestrationrun.yaml'])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^agentrun\.agents\.proompteng\.ai default\/hello-codex created/m)
  t.match(ok.stdout, /^toolrun\.tools\.proompteng\.ai default\/lint-repo created/m)
  t.match(ok.stdout, /^orchestrationrun\.orchestration\.proompteng\.ai default\/nightly-release created/m)
  const mixed = runguard(['check', '-f', 'examples/agentrun-invalid.yaml', '-f', 'examples/toolrun.yaml'])
  t.equal(mixed.code, 1)
  t.match(mixed.stdout, /default\/lint-repo created/, 'the allowed object is still reported')
  t.match(mixed.stderr, /default\/broken-run: admission webhook/)
})

t.test('a directory: its .json/.yaml/.yml files; subdirectories only with -R', async (t) => {
  const flat = runguard(['check', '-f', fixture('tree')])
  t.equal(flat.code, 0, flat.stderr)
  t.match(flat.stdout, /^toolrun\.tools\.proompteng\.ai ci\/lint-repo created \(server dry run\)$/m)
  t.notMatch(flat.stdout + flat.stderr, /nested-run/, 'tree/nested is not read without -R')
  t.match(flat.stderr, /^note: skipped v1 ConfigMap ci\/settings from "test\/fixtures\/check\/tree\/configmap\.json": runguard does not judge this kind$/m)
  t.notMatch(flat.stderr, /README/, 'README.txt is not read')

  const deep = runguard(['check', '-R', '-f', fixture('tree')])
  t.equal(deep.code, 1, 'tree/nested/b-agentrun.yml is denied')
  t.match(deep.stdout, /ci\/lint-repo created/)
  t.match(deep.stderr, /error when creating "test\/fixtures\/check\/tree\/nested\/b-agentrun\.yml": agentrun\.agents\.proompteng\.ai ci\/nested-run: /)

  const onlySubdirs = runguard(['check', '-f', fixture('deep')])
  t.equal(onlySubdirs.code, 2)
  t.match(onlySubdirs.stderr, /^error: error reading "test\/fixtures\/check\/deep": no \.json, \.yaml, \.yml files in it; it has subdirectories: use -R to read them$/m)
  const recursive = runguard(['check', '--recursive', '-f', fixture('deep')])
  t.equal(recursive.code, 0, recursive.stderr)
  t.match(recursive.stdout, /ci\/deep created/)
})

t.test('stdin: multi-document YAML, unknown kinds skipped with a note, empty documents ignored', async (t) => {
  const input = ['---', configMap, '---', toolRun('good'), '---', toolRun('bad', '{toolRef: {name: x}, cancel: "yes"}'), '---', ''].join('\n')
  const r = runguard(['check', '-f', '-'], input)
  t.equal(r.code, 1)
  t.equal(r.stdout, 'toolrun.tools.proompteng.ai d/good created (server dry run)\n')
  t.match(r.stderr, /^note: skipped v1 ConfigMap d\/c from "STDIN": runguard does not judge this kind$/m)
  t.match(r.stderr, /^Error from server \(Invalid\): error when creating "STDIN": toolrun\.tools\.proompteng\.ai d\/bad: .*spec\.cancel/m)
})

t.test('only kinds runguard does not judge: nothing judged, exit 0, a note each', async (t) => {
  const r = runguard(['check', '-f', '-'], `${configMap}---\napiVersion: agents.proompteng.ai/v1alpha1\nkind: Agent\nmetadata: {name: codex}\n`)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '')
  t.match(r.stderr, /skipped v1 ConfigMap d\/c/)
  t.match(r.stderr, /skipped agents\.proompteng\.ai\/v1alpha1 Agent codex/)
})

t.test('JSON input: a List file, and a stream of JSON objects on stdin', async (t) => {
  const r = runguard(['check', '-f', fixture('list.json'), '-o', 'json'])
  t.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout) as JsonReport
  t.same(
    report.results.map((x) => `${x.kind} ${x.namespace}/${x.name}`),
    ['ToolRun ci/from-json', 'Job ci/runner'],
  )
  t.same(report.results[0]?.patch, [{ op: 'add', path: '/spec/cancel', value: true }], 'desiredState: Cancelled normalised')
  t.match(report.results[1]?.patch, [{ op: 'add', path: '/metadata/annotations', value: { 'runguard.proompteng.ai/ttl-seconds-after-finished': '120' } }, { op: 'remove', path: '/spec/ttlSecondsAfterFinished' }])
  t.same(report.skipped, [{ kind: 'Service', apiVersion: 'v1', namespace: 'ci', name: 'not-judged', source: fixture('list.json') }])

  const stream = [
    { apiVersion: 'tools.proompteng.ai/v1alpha1', kind: 'ToolRun', metadata: { name: 'one', namespace: 'd' }, spec: { toolRef: { name: 'x' } } },
    { apiVersion: 'tools.proompteng.ai/v1alpha1', kind: 'ToolRun', metadata: { name: 'two', namespace: 'd' }, spec: { toolRef: { name: 'x' }, cancel: 'yes' } },
  ]
    .map((o) => JSON.stringify(o, null, '\t'))
    .join('\n')
  const s = runguard(['check', '-f', '-'], stream)
  t.equal(s.code, 1)
  t.match(s.stdout, /d\/one created/)
  t.match(s.stderr, /d\/two: admission webhook .*spec\.cancel/)
})

t.test('-o json: one document with the documented fields; exit code unchanged', async (t) => {
  const input = [toolRun('ok', '{toolRef: {name: x}, desiredState: Cancelled}'), toolRun('bad', '{toolRef: {name: x}, cancel: "yes"}'), configMap].join('---\n')
  const r = runguard(['check', '-o', 'json', '-f', '-', '-f', 'examples/agentrun.yaml'], input)
  t.equal(r.code, 1)
  const report = JSON.parse(r.stdout) as JsonReport
  t.same(Object.keys(report), ['results', 'skipped'])
  t.equal(report.results.length, 3)
  for (const result of report.results) t.same(Object.keys(result), RESULT_FIELDS, `${result.name} has exactly the documented fields`)
  const [ok, bad, agentRun] = report.results
  t.match(ok, { kind: 'ToolRun', apiVersion: 'tools.proompteng.ai/v1alpha1', namespace: 'd', name: 'ok', source: 'STDIN', operation: 'CREATE', subResource: null, allowed: true, messages: [], warnings: [] })
  t.same(ok?.patch, [{ op: 'add', path: '/spec/cancel', value: true }])
  t.match(bad, { name: 'bad', allowed: false, patch: null })
  t.equal(bad?.messages.length, 1)
  t.match(bad?.messages[0], /^admission webhook "(mutate|validate)\.runguard\.proompteng\.ai" denied the request: spec\.cancel/)
  t.match(agentRun, { kind: 'AgentRun', namespace: 'default', name: 'hello-codex', source: 'examples/agentrun.yaml', allowed: true, patch: null })
  t.same(report.skipped, [{ kind: 'ConfigMap', apiVersion: 'v1', namespace: 'd', name: 'c', source: 'STDIN' }])
  t.match(r.stderr, /note: skipped v1 ConfigMap/, 'notes still go to stderr')
  t.notMatch(r.stderr, /Error from server/, 'no human verdicts beside the JSON')
})

// ------------------------------------------------------------------------------------------------
// CLI: UPDATEs, identity, settings

t.test('UPDATE with --old: objects are paired by kind, namespace and name', async (t) => {
  const r = runguard(['check', '-f', 'examples/toolrun.yaml', '-f', fixture('uncancel.yaml'), '--old', fixture('running.yaml'), '-o', 'json'])
  t.equal(r.code, 1)
  const report = JSON.parse(r.stdout) as JsonReport
  t.match(report.results, [
    { name: 'lint-repo', operation: 'CREATE', allowed: true },
    { name: 'nightly', operation: 'UPDATE', allowed: false, messages: [/spec\.cancel: Forbidden: cancel is one-way/] },
  ])
  const human = runguard(['check', '-f', fixture('uncancel.yaml'), '--old', fixture('running.yaml')])
  t.equal(human.code, 1)
  t.match(human.stderr, /error when patching "test\/fixtures\/check\/uncancel\.yaml": orchestrationrun\.orchestration\.proompteng\.ai default\/nightly: .*one-way/)
})

t.test('--old without a counterpart is a note, not a pairing by position', async (t) => {
  const r = runguard(['check', '-f', 'examples/orchestrationrun.yaml', '--old', fixture('running.yaml')])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /nightly-release created/, 'a CREATE: nightly-release is not nightly')
  t.match(r.stderr, /^note: --old OrchestrationRun default\/nightly from "test\/fixtures\/check\/running\.yaml" replaces nothing/m)
})

t.test('--as / --as-group reach the request: a break-glass identity from --env-file may change startedAt', async (t) => {
  const args = ['check', '-f', fixture('restarted.yaml'), '--old', fixture('running.yaml'), '--subresource', 'status']
  const person = runguard([...args, '--env-file', fixture('break-glass.env')])
  t.equal(person.code, 1, 'the default identity is not break-glass')
  t.match(person.stderr, /status\.startedAt: Forbidden: .*"2026-11-23T10:00:00Z".*"2026-11-23T11:30:00Z"/)
  t.match(person.stderr, /error when patching .*orchestrationrun\.orchestration\.proompteng\.ai default\/nightly:/)

  const oncall = runguard([...args, '--env-file', fixture('break-glass.env'), '--as', 'oncall'])
  t.equal(oncall.code, 0, oncall.stderr)
  t.equal(oncall.stdout, 'orchestrationrun.orchestration.proompteng.ai default/nightly configured (server dry run)\n')

  const group = runguard([...args, '--env-file', fixture('break-glass.env'), '--as', 'alice', '--as-group', 'dev', '--as-group', 'sre-breakglass'])
  t.equal(group.code, 0, `second --as-group counts: ${group.stderr}`)

  const noSetting = runguard([...args, '--as', 'oncall'])
  t.equal(noSetting.code, 1, 'without the env file oncall is an ordinary user')
})

t.test('--env-file: policy settings, later files win, layered over the environment', async (t) => {
  const required = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('labels-required.env')])
  t.equal(required.code, 1)
  t.match(required.stderr, /default\/hello-codex: admission webhook "validate\.runguard\.proompteng\.ai" denied the request: metadata\.labels\[team\]/)

  const warned = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('labels-required.env'), '--env-file', fixture('labels-warn.env')])
  t.equal(warned.code, 0, warned.stderr)
  t.match(warned.stderr, /^Warning: .*team/m)
  t.match(warned.stdout, /hello-codex created/)

  const layered = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('labels-warn.env')], undefined, { AGENTS_CONTROLLER_LABELS_REQUIRED: 'team' })
  t.equal(layered.code, 0, 'the policy comes from the environment, its enforcement from the file')
  t.match(layered.stderr, /^Warning: .*team/m)

  const wins = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('labels-required.env')], undefined, { AGENTS_CONTROLLER_LABELS_REQUIRED: 'owner' })
  t.equal(wins.code, 1)
  t.match(wins.stderr, /metadata\.labels\[team\]/, 'the file wins over the environment')
  t.notMatch(wins.stderr, /labels\[owner\]/)
})

t.test('--env-file: a bad value or a mistyped name exits 2 naming the variable and the file', async (t) => {
  const bad = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('bad-value.env')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^error: .*AGENTS_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN must be integer \(set in test\/fixtures\/check\/bad-value\.env\)$/m)
  const typo = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', fixture('typo.env')])
  t.equal(typo.code, 2)
  t.match(typo.stderr, /AGENTS_CONTROLER_LABELS_REQUIRED.*AGENTS_CONTROLLER_LABELS_REQUIRED.*typo\.env/)
  // Node itself looks for `--env-file` among a script's arguments and stops with exit 9 when the
  // file is missing (nodejs/node#54232); `node --` ends Node's options so runguard sees the flag.
  const missing = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file', 'nope.env'], undefined, {}, ['--'])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^error: the path "nope\.env" does not exist$/m)
  const direct = runguard(['check', '-f', 'examples/agentrun.yaml', '--env-file=nope.env'])
  t.not(direct.code, 0, 'without `node --` it still never passes')
  t.match(direct.stderr, /nope\.env/)
  const badEnv = runguard(['check', '-f', 'examples/agentrun.yaml'], undefined, { JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: 'lots' })
  t.equal(badEnv.code, 2, 'a bad value in the environment itself')
  t.match(badEnv.stderr, /JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN must be integer/)
})

// ------------------------------------------------------------------------------------------------
// CLI: exit code 2

t.test('bad input: exit 2 with a clear message and nothing on stdout', async (t) => {
  const cases: Array<[string[], string | undefined, RegExp]> = [
    [['check', '-f', 'does-not-exist.yaml'], undefined, /^error: the path "does-not-exist\.yaml" does not exist$/m],
    [['check', '-f', '-'], 'a: [unclosed', /^error: STDIN: .*line 1/m],
    [['check', '-f', '-'], 'just a string', /every document must be a Kubernetes object/],
    [['check', '-f', '-'], 'kind: AgentRun\n', /needs apiVersion and kind/],
    [['check', '-f', '-'], 'apiVersion: agents.proompteng.ai/v1\nkind: AgentRun\nmetadata: {name: a}\n', /no matches for kind "AgentRun" in version "agents\.proompteng\.ai\/v1"/],
    [['check', '-f', '-', '--operation', 'UPDATE'], toolRun('t'), /d\/t: an UPDATE needs the stored object \(--old\)/],
    [['check', '-f', '-', '--subresource', 'status'], toolRun('t'), /a status write is an UPDATE/],
    [['check', '-f', '-'], '', /no objects passed to check/],
    [['check', '-f', '-'], '# only a comment\n---\n', /no objects passed to check/],
    [['check', '-f', '-', '--old', '-'], toolRun('t'), /stdin\) can be given only once/],
    [['check', '-f', 'examples/agentrun.yaml', '-f', '-', '-f', 'does-not-exist.yaml'], toolRun('t'), /does-not-exist\.yaml/],
  ]
  for (const [args, input, message] of cases) {
    const r = runguard(args, input)
    t.equal(r.code, 2, `${args.join(' ')} ${JSON.stringify(input ?? '')}: ${r.stderr}`)
    t.match(r.stderr, message)
    t.equal(r.stdout, '', 'nothing judged: input is read whole before any verdict')
  }
})

t.test('usage errors exit 2, never 1 (commander exits 1 by default); --help exits 0', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['check'], /required option '-f, --filename <path>' not specified/],
    [['check', '-f'], /argument missing/],
    [['check', '-f', 'examples/agentrun.yaml', '--bogus'], /unknown option '--bogus'/],
    [['check', '-f', 'examples/agentrun.yaml', '-o', 'yaml'], /'yaml' is invalid/],
    [['check', '-f', 'examples/agentrun.yaml', '--subresource', 'scale'], /'scale' is invalid/],
    [['check', '-f', 'examples/agentrun.yaml', 'extra'], /too many arguments/],
  ]
  for (const [args, message] of cases) {
    const r = runguard(args)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
  }
  const help = runguard(['check', '--help'])
  t.equal(help.code, 0)
  for (const flag of ['--filename', '--recursive', '--old', '--subresource', '--as <user>', '--as-group', '--env-file', '--output']) t.match(help.stdout, flag)
})

t.test('the older --user/--group spellings still set the identity', async (t) => {
  const r = runguard(['check', '-f', fixture('restarted.yaml'), '--old', fixture('running.yaml'), '--subresource', 'status', '--user', 'oncall'], undefined, { RUNGUARD_BREAK_GLASS_USERS: 'oncall' })
  t.equal(r.code, 0, r.stderr)
})

// ------------------------------------------------------------------------------------------------
// In-process: the pure parts

const sourced = (text: string, source = 'inline'): SourcedObject[] => loadObjects([{ name: source, text }])
const RUNNING: KubeObject = {
  apiVersion: 'agents.proompteng.ai/v1alpha1',
  kind: 'AgentRun',
  metadata: { name: 'a', namespace: 'd', generation: 2, resourceVersion: '7' },
  spec: { agentRef: { name: 'x' }, implementationSpecRef: { name: 's' }, runtime: { type: 'job' } },
  status: { phase: 'Running', startedAt: '2026-11-23T10:00:00Z', observedGeneration: 2 },
}
const restarted = (): KubeObject => ({ ...structuredClone(RUNNING), status: { ...RUNNING.status, startedAt: '2026-11-23T11:30:00Z' } })
const statusWrite = (userInfo: { username: string; groups: string[] }, object = restarted()) => ({
  newObjects: [{ object, source: 'new' }],
  oldObjects: [{ object: structuredClone(RUNNING), source: 'old' }],
  subResource: 'status' as const,
  userInfo,
})

t.test('parseObjects: YAML streams, JSON, JSON streams and Lists', async (t) => {
  t.equal(parseObjects('---\n# nothing\n---\n', 'x').length, 0, 'empty documents are not objects')
  t.same(
    parseObjects(`${toolRun('a')}---\n${toolRun('b')}`, 'x').map((o) => o.metadata?.name),
    ['a', 'b'],
  )
  t.same(
    parseObjects(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' } }] }), 'x').map((o) => o.kind),
    ['ConfigMap', 'Job'],
  )
  t.same(
    parseObjects('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}\n{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b {"}}', 'x').map((o) => o.metadata?.name),
    ['a', 'b {'],
  )
  t.throws(() => parseObjects('- 1\n', 'x'), InputError)
  t.throws(() => parseObjects('{"apiVersion": "v1", "kind": ', 'broken.json'), { name: 'InputError', message: /^broken\.json: / })
})

t.test('impersonatedUser: like the API server impersonating kubectl --as/--as-group', async (t) => {
  t.same(impersonatedUser(undefined), { username: 'runguard-check', groups: ['system:authenticated'] })
  t.same(impersonatedUser('alice', ['dev', 'dev']), { username: 'alice', groups: ['dev', 'system:authenticated'] })
  t.same(impersonatedUser('system:serviceaccount:agents:agents-sa'), {
    username: 'system:serviceaccount:agents:agents-sa',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated'],
  })
  t.same(impersonatedUser('system:serviceaccount:agents:agents-sa', ['ops']).groups, ['ops', 'system:authenticated'], 'explicit groups replace the service-account ones')
  t.same(impersonatedUser('bob', ['system:authenticated']).groups, ['system:authenticated'])
})

t.test('admissionRequest: the identity, dry run and namespace reach the request', async (t) => {
  const request = admissionRequest({
    uid: 'u',
    object: { apiVersion: 'tools.proompteng.ai/v1alpha1', kind: 'ToolRun', metadata: { name: 't' } },
    oldObject: undefined,
    resource: { group: 'tools.proompteng.ai', version: 'v1alpha1', resource: 'toolruns' },
    operation: 'CREATE',
    subResource: undefined,
    userInfo: impersonatedUser('alice', ['sre']),
  })
  t.same(request.userInfo, { username: 'alice', groups: ['sre', 'system:authenticated'] })
  t.equal(request.dryRun, true)
  t.equal(request.namespace, 'default')
  t.equal(request.object?.metadata?.namespace, 'default', 'the API server fills the namespace in')
  t.equal(request.oldObject, null)
})

t.test('identity-dependent rules see the identity check was given', async (t) => {
  const config = loadConfig({ RUNGUARD_BREAK_GLASS_USERS: 'oncall' })
  const person = checkObjects(statusWrite(impersonatedUser('alice')), WEBHOOKS, config)
  t.equal(person.results[0]?.allowed, false)
  t.match(person.results[0]?.messages[0], /status\.startedAt/)
  const breakGlass = checkObjects(statusWrite(impersonatedUser('oncall')), WEBHOOKS, config)
  t.equal(breakGlass.results[0]?.allowed, true)
  t.equal(breakGlass.results[0]?.object.status?.startedAt, '2026-11-23T11:30:00Z', 'break-glass writes are not repaired')
  // SPEC §2 Writers: upstream's controller (default controller identity) is repaired, not refused.
  const controller = checkObjects(statusWrite(impersonatedUser('system:serviceaccount:agents:agents-sa')), WEBHOOKS, config)
  t.equal(controller.results[0]?.allowed, true, controller.results[0]?.messages.join('; ') ?? '')
  t.equal(controller.results[0]?.object.status?.startedAt, '2026-11-23T10:00:00Z', 'startedAt restored')
  t.match(controller.results[0]?.patch, [{ path: '/status/startedAt', value: '2026-11-23T10:00:00Z' }])
})

t.test('a controller identity is answered by the controllers.<name> copy of a split webhook', async (t) => {
  const write = { newObjects: sourced(toolRun('t', '{toolRef: {name: x}, cancel: "yes"}')), oldObjects: [] }
  const controller = checkObjects({ ...write, userInfo: impersonatedUser('system:serviceaccount:agents:agents-sa') }, WEBHOOKS, loadConfig({}))
  t.match(controller.results[0]?.messages[0], /^admission webhook "controllers\.(mutate|validate)\.runguard\.proompteng\.ai" denied the request: spec\.cancel/)
  const person = checkObjects({ ...write, userInfo: impersonatedUser('alice') }, WEBHOOKS, loadConfig({}))
  t.match(person.results[0]?.messages[0], /^admission webhook "(mutate|validate)\.runguard\.proompteng\.ai" denied/)
})

t.test('mutators run before validators, like the API server; the result is what would be stored', async (t) => {
  const report = checkObjects(
    { newObjects: sourced('apiVersion: agents.proompteng.ai/v1alpha1\nkind: AgentRun\nmetadata: {name: a, namespace: d}\nspec: {agentRef: {name: x}, implementationSpecRef: {name: s}, runtime: {type: job}, desiredState: Cancelled}\n'), oldObjects: [], userInfo: impersonatedUser(undefined) },
    WEBHOOKS,
    loadConfig({}),
  )
  t.equal(report.results[0]?.allowed, true)
  t.equal(report.results[0]?.object.spec?.cancel, true, 'desiredState Cancelled was normalised to cancel: true')
  t.equal(report.results[0]?.object.metadata?.generation, 1)
  t.equal(exitCode(report), 0)
})

t.test('registryStrategy: what the API server does between mutating and validating', async (t) => {
  const edited: KubeObject = { ...structuredClone(RUNNING), spec: { agentRef: { name: 'y' } }, status: { phase: 'Failed' }, metadata: { ...RUNNING.metadata, generation: 9, labels: { a: 'b' } } }
  const status = registryStrategy('UPDATE', 'status', edited, RUNNING)
  t.same(status.spec, RUNNING.spec, 'a status write changes only status')
  t.same(status.metadata, RUNNING.metadata)
  t.same(status.status, { phase: 'Failed' })
  const update = registryStrategy('UPDATE', undefined, edited, RUNNING)
  t.same(update.status, RUNNING.status, 'a main-resource write keeps the stored status')
  t.equal(update.metadata?.generation, 3, 'spec changed: generation + 1')
  t.same(update.metadata?.labels, { a: 'b' })
  t.equal(registryStrategy('UPDATE', undefined, { ...structuredClone(RUNNING), metadata: { ...RUNNING.metadata, generation: 9 } }, RUNNING).metadata?.generation, 2, 'no spec change: stored generation')
  const created = registryStrategy('CREATE', undefined, edited, undefined)
  t.equal(created.status, undefined)
  t.equal(created.metadata?.generation, 1)
  t.same(registryStrategy('CREATE', undefined, { apiVersion: 'batch/v1', kind: 'Job', status: { active: 1 } } as KubeObject, undefined).status, {})
})

t.test('a stale UPDATE is refused with 409 Conflict after the mutating webhooks', async (t) => {
  const stale = { ...restarted(), metadata: { ...RUNNING.metadata, resourceVersion: '6' } }
  const report = checkObjects(statusWrite(impersonatedUser(undefined), stale), WEBHOOKS, loadConfig({}))
  t.match(report.results[0], { allowed: false, status: { code: 409, reason: 'Conflict' } })
  t.match(report.results[0]?.messages[0], /^Operation cannot be fulfilled on agentruns\.agents\.proompteng\.ai "a": the object has been modified/)
  t.match(formatHuman(report), [{ stream: 'stderr', text: /^Error from server \(Conflict\): error when patching "new": agentrun\.agents\.proompteng\.ai d\/a: Operation cannot be fulfilled/ }])
})

t.test('formats: human lines go to the right stream, JSON has the documented shape', async (t) => {
  const report = checkObjects(
    {
      newObjects: sourced(`${toolRun('ok')}---\n${toolRun('bad', '{toolRef: {name: x}, cancel: "yes"}')}---\n${configMap}`, 'in.yaml'),
      oldObjects: [],
      userInfo: impersonatedUser(undefined),
    },
    WEBHOOKS,
    loadConfig({}),
  )
  t.equal(exitCode(report), 1)
  t.match(formatHuman(report), [
    { stream: 'stderr', text: 'note: skipped v1 ConfigMap d/c from "in.yaml": runguard does not judge this kind' },
    { stream: 'stdout', text: 'toolrun.tools.proompteng.ai d/ok created (server dry run)' },
    { stream: 'stderr', text: /^Error from server \(Invalid\): error when creating "in\.yaml": toolrun\.tools\.proompteng\.ai d\/bad: admission webhook / },
  ])
  const json = JSON.parse(formatJson(report)) as JsonReport
  t.same(Object.keys(json.results[0] ?? {}), RESULT_FIELDS)
  t.same(json.skipped, [{ kind: 'ConfigMap', apiVersion: 'v1', namespace: 'd', name: 'c', source: 'in.yaml' }])
})

t.test('readInputs: directories sorted, -R, stdin once', async (t) => {
  let reads = 0
  const stdin = () => {
    reads++
    return toolRun('s')
  }
  const flat = readInputs({ filenames: [fixture('tree'), '-'], old: [], recursive: false, stdin })
  t.same(
    flat.newSources.map((s) => s.name),
    [fixture('tree/a-toolrun.yaml'), fixture('tree/configmap.json'), 'STDIN'],
  )
  t.equal(reads, 1)
  const deep = readInputs({ filenames: [fixture('tree')], old: [], recursive: true, stdin })
  t.same(
    deep.newSources.map((s) => s.name),
    [fixture('tree/a-toolrun.yaml'), fixture('tree/configmap.json'), fixture('tree/nested/b-agentrun.yml')],
  )
  t.throws(() => readInputs({ filenames: ['-', '-'], old: [], recursive: false, stdin }), InputError)
})

t.test('configFromEnv: files layered over the base environment, errors name variable and file', async (t) => {
  const { config } = configFromEnv(
    [
      { name: 'a.env', text: 'AGENTS_CONTROLLER_LABELS_REQUIRED=team\nRUNGUARD_BREAK_GLASS_USERS=x\n' },
      { name: 'b.env', text: 'RUNGUARD_BREAK_GLASS_USERS="oncall, sre"\n' },
    ],
    { AGENTS_CONTROLLER_IMAGES_DENIED: 'bad/*', AGENTS_CONTROLLER_LABELS_REQUIRED: 'owner' },
  )
  t.same(config.labelsRequired, ['team'], 'a file wins over the base')
  t.same(config.breakGlassUsers, ['oncall', 'sre'], 'a later file wins')
  t.same(config.imagesDenied, ['bad/*'], 'the base still applies')
  t.throws(() => configFromEnv([{ name: 'c.env', text: 'RUNGUARD_RESYNC_SECONDS=-1\n' }], {}), { name: 'InputError', message: /RUNGUARD_RESYNC_SECONDS.*\(set in c\.env\)/ })
  t.throws(() => configFromEnv([{ name: 'd.env', text: 'RUNGUARD_BRAKE_GLASS_USERS=x\n' }], {}), { name: 'InputError', message: /RUNGUARD_BRAKE_GLASS_USERS.*d\.env/ })
  t.doesNotThrow(() => configFromEnv([{ name: 'e.env', text: 'RUNGUARD_PORT=1\n' }], {}, ['RUNGUARD_PORT']), 'flag variables are known names')
})
