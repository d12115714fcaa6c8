/**
 * Builds RuleContexts for the rule and mutator tests: an AdmissionRequest shaped like the API
 * server's, a default Config from loadConfig({}) with overrides, and a fixed `now`.
 */
import { loadConfig, type Config } from '../../src/config.ts'
import type { AdmissionRequest, Operation, RuleContext } from '../../src/admission/types.ts'
import type { KubeObject } from '../../src/kube/objects.ts'
import { runKindByName, type RunKindName } from '../../src/kube/run-kinds.ts'

export const NOW = new Date('2026-02-07T10:00:00.000Z')
/** NOW as runguard stamps it: toISOString(), milliseconds like upstream's controllers. */
export const NOW_TEXT = '2026-02-07T10:00:00.000Z'

export { UPSTREAM_CONTROLLER_SA as UPSTREAM_CONTROLLER } from './upstream-writes.ts'

const DEFAULT_CONFIG = loadConfig({})

export function config(overrides: Partial<Config> = {}): Config {
  return { ...structuredClone(DEFAULT_CONFIG), ...overrides }
}

export interface ContextOptions {
  operation?: Operation
  kind?: RunKindName | 'Job'
  subResource?: string
  oldObject?: KubeObject
  newObject?: KubeObject
  config?: Partial<Config>
  now?: Date
  dryRun?: boolean
  /** Who writes; default a ServiceAccount that is not a controller identity. */
  userInfo?: AdmissionRequest['userInfo']
}

export function context(opts: ContextOptions = {}): RuleContext {
  const kindName = opts.kind ?? 'AgentRun'
  const runKind = kindName === 'Job' ? undefined : runKindByName(kindName)
  const gvk = runKind ? { group: runKind.group, version: runKind.version, kind: runKind.kind } : { group: 'batch', version: 'v1', kind: 'Job' }
  const resource = runKind ? { group: runKind.group, version: runKind.version, resource: runKind.plural } : { group: 'batch', version: 'v1', resource: 'jobs' }
  const operation = opts.operation ?? 'CREATE'
  const request: AdmissionRequest = {
    uid: '00000000-0000-0000-0000-000000000001',
    kind: gvk,
    resource,
    name: opts.newObject?.metadata?.name ?? opts.oldObject?.metadata?.name ?? 'run-1',
    namespace: 'agents',
    operation,
    userInfo: opts.userInfo ?? { username: 'system:serviceaccount:agents:agents-controller', groups: ['system:serviceaccounts'] },
    object: opts.newObject ?? null,
    oldObject: opts.oldObject ?? null,
    dryRun: opts.dryRun ?? false,
  }
  if (opts.subResource) request.subResource = opts.subResource
  return {
    request,
    oldObject: opts.oldObject,
    newObject: opts.newObject,
    config: config(opts.config),
    now: opts.now ?? NOW,
  }
}

/** An AgentRun with the given spec/status/labels; everything else minimal and valid. */
export function agentRun(parts: { spec?: unknown; status?: unknown; labels?: unknown; generation?: number } = {}): KubeObject {
  const obj: KubeObject = {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name: 'run-1', namespace: 'agents', generation: parts.generation ?? 1 },
    spec: (parts.spec === undefined ? { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } } : parts.spec) as KubeObject['spec'],
  }
  if (parts.labels !== undefined) (obj.metadata as Record<string, unknown>).labels = parts.labels
  if (parts.status !== undefined) obj.status = parts.status as KubeObject['status']
  return obj
}

/** Spec of a minimal valid AgentRun plus `extra`. */
export function spec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' }, ...extra }
}
