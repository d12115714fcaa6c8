/**
 * The README's "run" command: the sandbox comes up, admits the valid example and refuses the
 * invalid one -- with runguard as pods on a real node (`npm start`, the default, needs root) and
 * as local processes (`npm start -- --processes`).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { nodePreflight } from '../harness/node.ts'
import { REPO_ROOT } from '../harness/runguard.ts'

const smoke = (t: Test, args: string[], timeout: number) => {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-sandbox-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = spawnSync(process.execPath, ['test/harness/sandbox.ts', ...args, '--smoke'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, RUNGUARD_SANDBOX_DIR: dir },
    timeout,
  })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /agentrun\.agents\.proompteng\.ai\/hello-codex created/)
  t.match(r.stdout, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request: \[spec\.workflow\.steps\[1\]\.name: Duplicate value/)
  return r.stdout
}

t.test('npm start -- --processes --smoke', async (t) => {
  smoke(t, ['--processes'], 180_000)
})

t.test('npm start --smoke: runguard from its image, as pods on a real node', { skip: process.getuid?.() !== 0 ? `needs root: ${nodePreflight()}` : false }, async (t) => {
  // Up to one other node cluster may hold the machine's node lock first (a few minutes).
  const out = smoke(t, [], 540_000)
  t.match(out, /runguard-[0-9a-z]+-[0-9a-z]+ +2\/2 +Running +0/, 'kubectl get pods -n runguard-system: both containers Running and Ready')
  t.equal((out.match(/ 2\/2 +Running /g) ?? []).length, 2, 'two replicas')
})
