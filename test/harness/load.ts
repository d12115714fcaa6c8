/**
 * Load for the node tests: clients that keep writing AgentRuns through the API server while the
 * tests restart, drain, kill and fail over runguard's pods, and record every write.
 *
 * - status writers (≥ 4, each its own keep-alive connection, like separate controllers): merge
 *   patches of `status` on their own AgentRun, back to back. Half write as a person (the admin:
 *   the webhooks with failurePolicy Fail judge them), half as the Agents controller's
 *   ServiceAccount (impersonated: the `controllers.*` webhooks with failurePolicy Ignore). A write
 *   counts as answered by runguard only if the API server's reply carries runguard's fresh
 *   `status.updatedAt` stamp (rule 10) -- so a write admitted because failurePolicy Ignore
 *   skipped an unreachable webhook is seen too ("unstamped").
 * - a run cycler: creates an AgentRun and at once requests its cancel (`spec.cancel: true`),
 *   over and over; `cancelled()` later checks that the reconciler carried out every cancel.
 *
 * A failed write is any non-2xx answer (admission refusals included: every write here is valid),
 * a connection error, or no answer within 15 s. Loops are bounded (stop(), or `maxDurationMs`).
 */
import { Agent } from 'node:https'
import type { ControlPlane } from './controlplane.ts'

export const CONTROLLER_USER = 'system:serviceaccount:agents:agents-sa'
const CONTROLLER_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated']
const RUNS = '/apis/agents.proompteng.ai/v1alpha1'

export type Identity = 'person' | 'controller'

export interface WriteRecord {
  client: string
  op: 'status' | 'create' | 'cancel'
  identity: Identity
  start: number
  end: number
  status: number
  ok: boolean
  /** For status writes: the reply carried runguard's stamp from this write. */
  stamped?: boolean
  error?: string
}

export interface LoadOptions {
  namespace: string
  /** Status writers; default 4 (half people, half the controller). */
  writers?: number
  /** Pause between one writer's writes; default 20 ms. */
  pauseMs?: number
  /** Start the run cycler (create + cancel); default true. */
  cycler?: boolean
  /** Pause between cycles; default 250 ms. */
  cyclePauseMs?: number
  /** Hard stop, whatever happens; default 10 min. */
  maxDurationMs?: number
}

export interface LoadSummary {
  attempted: number
  failed: number
  /** Status writes admitted without runguard's stamp (failurePolicy Ignore skipped it). */
  unstamped: number
  byIdentity: Record<Identity, { attempted: number; failed: number; unstamped: number }>
  byOp: Record<WriteRecord['op'], { attempted: number; failed: number }>
  /** Distinct failure messages with their counts. */
  errors: Record<string, number>
  /** When the failed writes started (ms since the epoch), at most 20. */
  failedAt: number[]
  /** Slowest write (ms). */
  maxLatencyMs: number
  p99LatencyMs: number
}

export interface Load {
  records: WriteRecord[]
  /** Names of the runs the cycler created and asked to cancel. */
  cycled: string[]
  /** Summary of the records whose write started in [from, to). */
  summary(from?: number, to?: number): LoadSummary
  /** Stops every loop and waits for the writes in flight. */
  stop(): Promise<void>
  /**
   * Waits until every cycled run is Cancelled (or `timeoutMs` passes); returns those that are not,
   * with their phase.
   */
  uncancelled(timeoutMs: number): Promise<Array<{ name: string; phase: string }>>
}

interface Answer {
  status: number
  body: unknown
  text: string
}

/** RBAC for the impersonated controller identity: what upstream's ServiceAccount may do to AgentRuns. */
export async function grantControllerIdentity(cp: Pick<ControlPlane, 'apply'>): Promise<void> {
  await cp.apply([
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'runguard-test-agents-controller' },
      rules: [{ apiGroups: ['agents.proompteng.ai'], resources: ['agentruns', 'agentruns/status'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'runguard-test-agents-controller' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'runguard-test-agents-controller' },
      subjects: [{ kind: 'ServiceAccount', name: 'agents-sa', namespace: 'agents' }],
    },
  ])
}

export function agentRun(namespace: string, name: string): object {
  return {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name, namespace, labels: { 'runguard-test/load': 'true' } },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'load' }, runtime: { type: 'job' }, parameters: { client: name } },
  }
}

export async function startLoad(cp: ControlPlane, options: LoadOptions): Promise<Load> {
  const ns = options.namespace
  const writers = options.writers ?? 4
  const pauseMs = options.pauseMs ?? 20
  const deadline = Date.now() + (options.maxDurationMs ?? 10 * 60_000)
  const records: WriteRecord[] = []
  const cycled: string[] = []
  let running = true
  const call = client(cp)

  // One AgentRun per writer, created before the clock starts.
  const names = Array.from({ length: writers }, (_, i) => `writer-${i}`)
  for (const name of names) {
    const r = await call.once('POST', `${RUNS}/namespaces/${ns}/agentruns`, agentRun(ns, name), 'person')
    if (r.status !== 201 && r.status !== 409) throw new Error(`create ${name}: HTTP ${r.status} ${r.text}`)
  }

  const statusWriter = async (name: string, identity: Identity): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    let n = 0
    try {
      while (running && Date.now() < deadline) {
        n++
        const body = n === 1 ? { status: { phase: 'Running', message: `${name} write ${n}` } } : { status: { message: `${name} write ${n}` } }
        const start = Date.now()
        const record: WriteRecord = { client: name, op: 'status', identity, start, end: 0, status: 0, ok: false }
        try {
          const r = await call.with(agent, 'PATCH', `${RUNS}/namespaces/${ns}/agentruns/${name}/status`, body, identity, 'application/merge-patch+json')
          record.status = r.status
          record.ok = r.status >= 200 && r.status < 300
          if (record.ok) {
            const updatedAt = Date.parse((r.body as { status?: { updatedAt?: string } }).status?.updatedAt ?? '')
            record.stamped = updatedAt >= start - 2_000
          } else {
            record.error = errorText(r)
          }
        } catch (error) {
          record.error = (error as Error).message
        }
        record.end = Date.now()
        records.push(record)
        if (pauseMs > 0) await sleep(pauseMs)
      }
    } finally {
      agent.destroy()
    }
  }

  const loadId = Date.now().toString(36)
  const cycler = async (): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    let n = 0
    try {
      while (running && Date.now() < deadline) {
        n++
        const name = `cycle-${loadId}-${n}`
        for (const op of ['create', 'cancel'] as const) {
          const start = Date.now()
          const record: WriteRecord = { client: 'cycler', op, identity: 'person', start, end: 0, status: 0, ok: false }
          try {
            const r =
              op === 'create'
                ? await call.with(agent, 'POST', `${RUNS}/namespaces/${ns}/agentruns`, agentRun(ns, name), 'person')
                : await call.with(agent, 'PATCH', `${RUNS}/namespaces/${ns}/agentruns/${name}`, { spec: { cancel: true } }, 'person', 'application/merge-patch+json')
            record.status = r.status
            record.ok = r.status >= 200 && r.status < 300
            if (!record.ok) record.error = errorText(r)
          } catch (error) {
            record.error = (error as Error).message
          }
          record.end = Date.now()
          records.push(record)
          if (!record.ok) break
          if (op === 'cancel') cycled.push(name)
        }
        await sleep(options.cyclePauseMs ?? 250)
      }
    } finally {
      agent.destroy()
    }
  }

  const loops = [
    ...names.map((name, i) => statusWriter(name, i % 2 === 0 ? 'person' : 'controller')),
    ...(options.cycler === false ? [] : [cycler()]),
  ]

  return {
    records,
    cycled,
    summary: (from = 0, to = Number.POSITIVE_INFINITY) => summarize(records.filter((r) => r.start >= from && r.start < to)),
    stop: async () => {
      running = false
      await Promise.all(loops)
    },
    uncancelled: async (timeoutMs) => {
      const until = Date.now() + timeoutMs
      for (;;) {
        const r = await call.once('GET', `${RUNS}/namespaces/${ns}/agentruns?labelSelector=${encodeURIComponent('runguard-test/load=true')}`, undefined, 'person')
        const phases = new Map(((r.body as { items?: Array<{ metadata: { name: string }; status?: { phase?: string } }> }).items ?? []).map((o) => [o.metadata.name, o.status?.phase ?? '']))
        const left = cycled.filter((name) => phases.get(name) !== 'Cancelled').map((name) => ({ name, phase: phases.get(name) ?? '(missing)' }))
        if (left.length === 0 || Date.now() > until) return left
        await sleep(500)
      }
    },
  }
}

export function summarize(records: WriteRecord[]): LoadSummary {
  const zero = (): { attempted: number; failed: number; unstamped: number } => ({ attempted: 0, failed: 0, unstamped: 0 })
  const summary: LoadSummary = {
    attempted: 0,
    failed: 0,
    unstamped: 0,
    byIdentity: { person: zero(), controller: zero() },
    byOp: { status: { attempted: 0, failed: 0 }, create: { attempted: 0, failed: 0 }, cancel: { attempted: 0, failed: 0 } },
    errors: {},
    failedAt: [],
    maxLatencyMs: 0,
    p99LatencyMs: 0,
  }
  for (const r of records) {
    const unstamped = r.ok && r.op === 'status' && r.stamped === false
    summary.attempted++
    summary.byIdentity[r.identity].attempted++
    summary.byOp[r.op].attempted++
    if (!r.ok) {
      summary.failed++
      summary.byIdentity[r.identity].failed++
      summary.byOp[r.op].failed++
      // Addresses, ports and numbers vary; the kind of failure does not.
      const key = (r.error ?? `HTTP ${r.status}`).replace(/\b\d+(\.\d+){3}(:\d+)?\b/g, '<addr>').replace(/\d{3,}/g, 'N').slice(0, 400)
      summary.errors[key] = (summary.errors[key] ?? 0) + 1
      if (summary.failedAt.length < 20) summary.failedAt.push(r.start)
    }
    if (unstamped) {
      summary.unstamped++
      summary.byIdentity[r.identity].unstamped++
    }
  }
  const latencies = records.map((r) => r.end - r.start).sort((a, b) => a - b)
  summary.maxLatencyMs = latencies.at(-1) ?? 0
  summary.p99LatencyMs = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0
  return summary
}

function errorText(r: Answer): string {
  const message = (r.body as { message?: string } | undefined)?.message
  return `HTTP ${r.status}: ${typeof message === 'string' ? message : r.text.slice(0, 300)}`
}

function client(cp: ControlPlane): {
  with(agent: Agent, method: string, path: string, body: unknown, identity: Identity, contentType?: string): Promise<Answer>
  once(method: string, path: string, body: unknown, identity: Identity): Promise<Answer>
} {
  const send = (agent: Agent | undefined, method: string, path: string, body: unknown, identity: Identity, contentType = 'application/json'): Promise<Answer> =>
    cp.request(method, path, body, {
      contentType,
      timeoutMs: 15_000,
      ...(agent ? { agent } : {}),
      ...(identity === 'controller' ? { headers: { 'Impersonate-User': CONTROLLER_USER, 'Impersonate-Group': CONTROLLER_GROUPS } } : {}),
    })
  return {
    with: (agent, method, path, body, identity, contentType) => send(agent, method, path, body, identity, contentType),
    once: (method, path, body, identity) => send(undefined, method, path, body, identity),
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
