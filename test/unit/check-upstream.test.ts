/**
 * `runguard check --as` gives the same verdict for upstream's status writes as the real API server
 * does in test/integration/writers.test.ts: the same fixtures (test/fixtures/upstream-writes), the
 * upstream controller's ServiceAccount repaired, anyone else refused.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { runCli } from '../helpers/cli.ts'
import { UPSTREAM_CONTROLLER_SA, upstreamStatusWrites, type UpstreamWrite } from '../helpers/upstream-writes.ts'

interface CheckReport {
  results: Array<{ name: string; allowed: boolean; messages: string[]; warnings: string[]; patch: unknown[] | null }>
}

const CASES = upstreamStatusWrites()
const GROUPS: Record<UpstreamWrite['kind'], string> = { AgentRun: 'agents', OrchestrationRun: 'orchestration', ToolRun: 'tools' }
const dir = mkdtempSync(join(tmpdir(), 'runguard-upstream-writes-'))

function object(c: UpstreamWrite, status: Record<string, unknown>): object {
  return { apiVersion: `${GROUPS[c.kind]}.proompteng.ai/v1alpha1`, kind: c.kind, metadata: { name: c.name, namespace: 'agents', generation: 1 }, spec: {}, status }
}

function check(c: UpstreamWrite, as: string[]): CheckReport['results'][number] {
  const oldFile = join(dir, `${c.name}.old.yaml`)
  const newFile = join(dir, `${c.name}.new.yaml`)
  writeFileSync(oldFile, stringify(object(c, c.old)))
  writeFileSync(newFile, stringify(object(c, { ...c.old, ...c.new })))
  const r = runCli(['check', '-f', newFile, '--old', oldFile, '--subresource', 'status', ...as, '-o', 'json'])
  const report = JSON.parse(r.stdout) as CheckReport
  return report.results[0]!
}

for (const c of CASES) {
  t.test(`${c.name} — upstream ${c.source}`, async (t) => {
    const controller = check(c, ['--as', UPSTREAM_CONTROLLER_SA])
    t.equal(controller.allowed, c.controller.allowed, 'the upstream controller: admitted')
    for (const field of c.controller.repaired ?? []) t.ok(controller.warnings.some((w) => w.startsWith(`status.${field} `)), `repair of status.${field} reported`)
    const person = check(c, ['--as', 'alice'])
    t.equal(person.allowed, c.person.allowed, `anyone else: ${c.person.allowed ? 'admitted' : 'refused'}`)
    if (!c.person.allowed) t.ok(person.messages.length > 0, 'the refusal says why')
  })
}
