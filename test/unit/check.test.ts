/** `runguard check` as a CI pipeline runs it: real process, real files, exit codes and output. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { checkObjects, InputError, parseObjects } from '../../src/check.ts'
import { loadConfig } from '../../src/config.ts'
import { WEBHOOKS } from '../../webhooks/index.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const fixture = (name: string) => `test/fixtures/check/${name}`

function runguard(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['src/cli.ts', ...args], { cwd: root, input, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('allowed: exit 0 and the object is reported allowed', async (t) => {
  const r = runguard(['check', '-f', 'examples/agentrun.yaml'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /AgentRun\/hello-codex allowed/)
})

t.test('denied: exit 1 with the message kubectl would print', async (t) => {
  const r = runguard(['check', '-f', 'examples/agentrun-invalid.yaml'])
  t.equal(r.code, 1)
  t.match(r.stderr, /admission webhook "validate.runguard.proompteng.ai" denied the request: /)
  t.match(r.stderr, /spec\.workflow\.steps\[1\]\.name/)
  t.match(r.stderr, /spec\.workflow\.steps\[2\]\.name/)
})

t.test('cancel rules deny in the mutating webhook, ahead of the CRD CEL backstops', async (t) => {
  const r = runguard(['check', '-f', '-'], 'apiVersion: tools.proompteng.ai/v1alpha1\nkind: ToolRun\nmetadata: {name: t, namespace: d}\nspec: {toolRef: {name: x}, cancel: true, desiredState: Running}\n')
  t.equal(r.code, 1)
  t.match(r.stderr, /admission webhook "mutate.runguard.proompteng.ai" denied the request: spec.desiredState/)
})

t.test('UPDATE with --old: cancel is one-way', async (t) => {
  const r = runguard(['check', '-f', fixture('uncancel.yaml'), '--old', fixture('running.yaml')])
  t.equal(r.code, 1)
  t.match(r.stderr, /spec\.cancel/)
  t.match(r.stderr, /one-way|cannot/)
})

t.test('status subresource: startedAt overwrite denied, break-glass user admitted', async (t) => {
  const denied = runguard(['check', '-f', fixture('restarted.yaml'), '--old', fixture('running.yaml'), '--subresource', 'status'])
  t.equal(denied.code, 1)
  t.match(denied.stderr, /status\.startedAt/)
  t.match(denied.stderr, /2026-11-23T10:00:00Z/)
  const bypass = runguard(['check', '-f', fixture('restarted.yaml'), '--old', fixture('running.yaml'), '--subresource', 'status', '--user', 'oncall'], undefined, {
    RUNGUARD_BREAK_GLASS_USERS: 'oncall',
  })
  t.equal(bypass.code, 0, bypass.stderr)
})

t.test('policy from the environment applies, warn enforcement prints a warning', async (t) => {
  const env = { JANGAR_AGENTS_CONTROLLER_IMAGES_ALLOWED: 'registry.internal/*' }
  const denied = runguard(['check', '-f', 'examples/agentrun.yaml'], undefined, env)
  t.equal(denied.code, 1)
  t.match(denied.stderr, /spec\.workload\.image/)
  const warned = runguard(['check', '-f', 'examples/agentrun.yaml'], undefined, { ...env, RUNGUARD_ENFORCEMENT: 'images=warn' })
  t.equal(warned.code, 0, warned.stderr)
  t.match(warned.stdout, /^Warning: /m)
})

t.test('stdin works', async (t) => {
  const r = runguard(['check', '-f', '-'], 'apiVersion: tools.proompteng.ai/v1alpha1\nkind: ToolRun\nmetadata: {name: t, namespace: d}\nspec: {toolRef: {name: x}, cancel: "yes"}\n')
  t.equal(r.code, 1)
  t.match(r.stderr, /spec\.cancel/)
})

t.test('bad input: exit 2 with a clear message', async (t) => {
  const cases: Array<[string[], string | undefined, RegExp]> = [
    [['check', '-f', 'does-not-exist.yaml'], undefined, /cannot read input: .*ENOENT/],
    [['check', '-f', '-'], 'a: [unclosed', /runguard check: -: /],
    [['check', '-f', '-'], 'just a string', /every document must be a Kubernetes object/],
    [['check', '-f', '-'], 'kind: AgentRun\n', /needs apiVersion and kind/],
    [['check', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n', /runguard has no rules for v1 ConfigMap/],
    [['check', '-f', '-', '--operation', 'UPDATE'], 'apiVersion: tools.proompteng.ai/v1alpha1\nkind: ToolRun\nmetadata: {name: t}\nspec: {toolRef: {name: x}}\n', /UPDATE needs the old object/],
    [['check', '-f', '-'], '', /no objects found/],
  ]
  for (const [args, input, message] of cases) {
    const r = runguard(args, input)
    t.equal(r.code, 2, `${args.join(' ')} ${input ?? ''}`)
    t.match(r.stderr, message)
  }
  const badEnv = runguard(['check', '-f', 'examples/agentrun.yaml'], undefined, { JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN: 'lots' })
  t.equal(badEnv.code, 2)
  t.match(badEnv.stderr, /JANGAR_CONTROLLER_EVENTS_RATE_LIMIT_PER_MIN must be integer/)
})

t.test('in-process: mutators run before validators, like the API server', async (t) => {
  const [obj] = parseObjects('apiVersion: agents.proompteng.ai/v1alpha1\nkind: AgentRun\nmetadata: {name: a, namespace: d}\nspec: {agentRef: {name: x}, runtime: {type: job}, desiredState: Cancelled}\n', 'inline')
  const [result] = checkObjects({ newObjects: [obj!], oldObjects: [], username: 'u', groups: [] }, WEBHOOKS, loadConfig({}))
  t.equal(result?.allowed, true)
  t.equal(result?.mutated.spec?.cancel, true, 'desiredState Cancelled was normalised to cancel: true')
  t.throws(() => parseObjects('- 1\n', 'x'), InputError)
})
