/** The README's "run" command: the sandbox comes up, admits the valid example and refuses the invalid one. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { REPO_ROOT } from '../harness/runguard.ts'

t.test('npm start --smoke', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-sandbox-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = spawnSync(process.execPath, ['test/harness/sandbox.ts', '--smoke'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, RUNGUARD_SANDBOX_DIR: dir },
    timeout: 180_000,
  })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /agentrun\.agents\.proompteng\.ai\/hello-codex created/)
  t.match(r.stdout, /admission webhook "validate\.runguard\.proompteng\.ai" denied the request: \[spec\.workflow\.steps\[1\]\.name: Duplicate value/)
})
