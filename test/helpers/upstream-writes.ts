/**
 * The status writes upstream's Agents controllers make in normal operation, with runguard's
 * expected verdicts (test/fixtures/upstream-writes/status-writes.yaml). One list for the real API
 * server (test/integration/writers.test.ts) and for `runguard check` (test/unit/check-upstream.test.ts).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export interface WriteVerdict {
  allowed: boolean
  /** For a refusal: the rule's reason, e.g. `ImmutableTimestamp`. */
  reason?: string
  /** For a controller identity: the status fields runguard repairs. */
  repaired?: string[]
}

export interface UpstreamWrite {
  name: string
  /** Where upstream makes this write (file ~line, proompteng/lab services/agents/src/server/). */
  source: string
  kind: 'AgentRun' | 'OrchestrationRun' | 'ToolRun'
  old: Record<string, unknown>
  new: Record<string, unknown>
  controller: WriteVerdict
  person: WriteVerdict
  /** Fields of the status the API server holds after the controller's write. */
  stored: Record<string, unknown>
}

/** Upstream chart's default controller ServiceAccount, a controller identity by default. */
export const UPSTREAM_CONTROLLER_SA = 'system:serviceaccount:agents:agents-sa'

export function upstreamStatusWrites(): UpstreamWrite[] {
  const file = fileURLToPath(new URL('../fixtures/upstream-writes/status-writes.yaml', import.meta.url))
  return parse(readFileSync(file, 'utf8')) as UpstreamWrite[]
}
