/**
 * Shared by the reconcile-*.test.ts files: run `runguard reconcile` as a real child process
 * against the test control plane (so kill -9, restarts and two replicas are real), build run and
 * Job objects, read and write them, wait for conditions, and scrape /metrics.
 */
import { join } from 'node:path'
import type { ApiResponse, ControlPlane } from '../harness/controlplane.ts'
import { freePorts } from '../harness/controlplane.ts'
import { waitUntil, type WaitOptions } from '../harness/pods.ts'
import { startProcess, type ManagedProcess } from '../harness/processes.ts'
import { imageEnv, imageNodeFlags } from '../harness/image-runtime.ts'
import { installCrds, REPO_ROOT, waitForHttpReady } from '../harness/runguard.ts'

export const CLI = join(REPO_ROOT, 'src', 'cli.ts')
export const LEASE_NAMESPACE = 'runguard-system'

/** Short lease, timeouts and grace periods, so the tests take seconds, not minutes. */
export const FAST_ENV: Record<string, string> = {
  RUNGUARD_LEASE_DURATION_SECONDS: '4',
  RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: '3',
  RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: '1',
  RUNGUARD_LEASE_NAMESPACE: LEASE_NAMESPACE,
  RUNGUARD_POD_NAMESPACE: LEASE_NAMESPACE,
  AGENTS_ORCHESTRATION_CANCEL_TIMEOUT_MS: '5000',
  RUNGUARD_JOB_MISSING_GRACE_SECONDS: '2',
  RUNGUARD_RESYNC_SECONDS: '60',
  RUNGUARD_LOG_LEVEL: 'info',
}

export interface ReconcilerProcess {
  name: string
  process: ManagedProcess
  metricsPort: number
  logPath: string
  scrape(): Promise<string>
  isLeader(): Promise<boolean>
  /** SIGTERM (graceful: finishes in-flight work, releases the lease); `0` = SIGKILL. */
  stop(graceMs?: number): Promise<void>
}

export interface ReconcilerStart {
  name: string
  env?: Record<string, string>
  kubeconfigPath?: string
  /** Wait until /readyz answers 200 (informers synced); default true. */
  waitReady?: boolean
  /** How long to wait for /readyz; default 60 s. */
  readyTimeoutMs?: number
  /** The CLI to run; default the TypeScript source (a benchmark passes its compiled copy). */
  cli?: string
}

export async function startReconcilerProcess(cp: ControlPlane, options: ReconcilerStart): Promise<ReconcilerProcess> {
  const [metricsPort = 0] = await freePorts(1)
  const logPath = join(cp.logsDir, `${options.name}.log`)
  const process_ = startProcess({
    name: options.name,
    command: process.execPath,
    // With the image's node flags and environment: they decide how much memory the process keeps (image-runtime.ts).
    args: [...imageNodeFlags(), options.cli ?? CLI, 'reconcile', '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1', '--kubeconfig', options.kubeconfigPath ?? cp.kubeconfigPath],
    logPath,
    env: { ...imageEnv(), PATH: process.env.PATH ?? '', RUNGUARD_POD_NAME: options.name, ...FAST_ENV, ...options.env },
  })
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const started: ReconcilerProcess = {
    name: options.name,
    process: process_,
    metricsPort,
    logPath,
    scrape,
    isLeader: async () => {
      try {
        return metricValue(await scrape(), 'runguard_leader') === 1
      } catch {
        return false
      }
    },
    stop: (graceMs = 10_000) => process_.stop(graceMs),
  }
  if (options.waitReady !== false) await waitForHttpReady(metricsPort, `reconciler ${options.name}`, process_, options.readyTimeoutMs ?? 60_000)
  return started
}

export async function waitForLeader(candidates: readonly ReconcilerProcess[], timeoutMs = 20_000): Promise<ReconcilerProcess> {
  return waitUntil('a reconciler to lead', { timeoutMs, intervalMs: 100 }, async () => {
    for (const c of candidates) if (c.process.running && (await c.isLeader())) return c
    return undefined
  })
}

/** The value of the first sample of `name` whose labels include `labels`, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const present = new Map<string, string>()
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) present.set(pair[1]!, pair[2]!)
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) return Number(match[4])
  }
  return undefined
}

// --- cluster set-up ----------------------------------------------------------------------------

export async function prepareCluster(cp: ControlPlane, namespaces: string[], options: { argo?: boolean } = {}): Promise<void> {
  await installCrds(cp)
  if (options.argo) {
    await cp.kubectl(['apply', '-f', join(REPO_ROOT, 'test', 'fixtures', 'argo-workflow-crd.yaml')])
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/workflows.argoproj.io'])
  }
  for (const ns of [LEASE_NAMESPACE, ...namespaces]) await cp.kubectl(['create', 'namespace', ns], { allowFailure: true })
}

// --- objects -------------------------------------------------------------------------------------

export type Kind = 'AgentRun' | 'OrchestrationRun' | 'ToolRun'

const RESOURCES: Record<Kind, { group: string; plural: string }> = {
  AgentRun: { group: 'agents.proompteng.ai', plural: 'agentruns' },
  OrchestrationRun: { group: 'orchestration.proompteng.ai', plural: 'orchestrationruns' },
  ToolRun: { group: 'tools.proompteng.ai', plural: 'toolruns' },
}

export function runPath(kind: Kind, ns: string, name?: string): string {
  const r = RESOURCES[kind]
  return `/apis/${r.group}/v1alpha1/namespaces/${ns}/${r.plural}${name ? `/${name}` : ''}`
}

export function jobPath(ns: string, name?: string): string {
  return `/apis/batch/v1/namespaces/${ns}/jobs${name ? `/${name}` : ''}`
}

export function workflowPath(ns: string, name?: string): string {
  return `/apis/argoproj.io/v1alpha1/namespaces/${ns}/workflows${name ? `/${name}` : ''}`
}

type Json = Record<string, unknown>

export interface RunSpecOptions {
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  spec?: Json
}

export function runManifest(kind: Kind, ns: string, name: string, options: RunSpecOptions = {}): Json {
  const base: Json =
    kind === 'AgentRun'
      ? { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'impl' }, runtime: { type: 'job' } }
      : kind === 'ToolRun'
        ? { toolRef: { name: 'tool' }, runtime: { type: 'job' } }
        : { orchestrationRef: { name: 'release' } }
  return {
    apiVersion: `${RESOURCES[kind].group}/v1alpha1`,
    kind,
    metadata: {
      name,
      namespace: ns,
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.finalizers ? { finalizers: options.finalizers } : {}),
    },
    spec: { ...base, ...(options.spec ?? {}) },
  }
}

export interface JobSpecOptions {
  runKind?: 'AgentRun' | 'ToolRun'
  /** ownerReference to the run (as upstream sets for AgentRuns). */
  ownerUid?: string
  annotations?: Record<string, string>
  finalizers?: string[]
  ttlSecondsAfterFinished?: number
}

export function jobManifest(ns: string, name: string, runName: string, options: JobSpecOptions = {}): Json {
  const runKind = options.runKind ?? 'AgentRun'
  const label = runKind === 'AgentRun' ? 'agents.proompteng.ai/agent-run' : 'agents.proompteng.ai/tool-run'
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: ns,
      labels: { [label]: runName },
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.finalizers ? { finalizers: options.finalizers } : {}),
      ...(options.ownerUid
        ? { ownerReferences: [{ apiVersion: `${RESOURCES[runKind].group}/v1alpha1`, kind: runKind, name: runName, uid: options.ownerUid, controller: true, blockOwnerDeletion: true }] }
        : {}),
    },
    spec: {
      backoffLimit: 0,
      ...(options.ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished: options.ttlSecondsAfterFinished } : {}),
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.37', command: ['sleep', '3600'] }] } },
    },
  }
}

// --- API helpers ---------------------------------------------------------------------------------

export interface Obj {
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[]; annotations?: Record<string, string> }
  spec?: Json
  status?: {
    phase?: string
    startedAt?: string
    finishedAt?: string
    updatedAt?: string
    observedGeneration?: number
    conditions?: Array<{ type: string; status: string; reason: string; message: string; lastTransitionTime: string }>
    [key: string]: unknown
  }
}

async function ok(response: Promise<ApiResponse>, what: string): Promise<ApiResponse> {
  const r = await response
  if (r.status < 200 || r.status > 299) throw new Error(`${what}: HTTP ${r.status} ${r.text}`)
  return r
}

export async function create(cp: ControlPlane, path: string, body: Json): Promise<Obj> {
  return (await ok(cp.request('POST', path, body, { retryThrottled: true }), `POST ${path}`)).body as Obj
}

export async function get(cp: ControlPlane, path: string): Promise<Obj | undefined> {
  const r = await cp.request('GET', path, undefined, { retryThrottled: true })
  if (r.status === 404) return undefined
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status} ${r.text}`)
  return r.body as Obj
}

export async function mergePatch(cp: ControlPlane, path: string, body: Json): Promise<Obj> {
  return (await ok(cp.request('PATCH', path, body, { contentType: 'application/merge-patch+json', retryThrottled: true }), `PATCH ${path}`)).body as Obj
}

/** What an upstream controller does: write the run's status (merge patch of the status subresource). */
export async function writeStatus(cp: ControlPlane, path: string, status: Json): Promise<Obj> {
  return mergePatch(cp, `${path}/status`, { status })
}

export async function cancel(cp: ControlPlane, path: string): Promise<Obj> {
  return mergePatch(cp, path, { spec: { cancel: true } })
}

export async function waitForObject(cp: ControlPlane, path: string, what: string, predicate: (obj: Obj) => boolean, options: WaitOptions = {}): Promise<Obj> {
  return waitUntil(what, { timeoutMs: 30_000, intervalMs: 100, ...options }, async () => {
    const obj = await get(cp, path)
    return obj && predicate(obj) ? obj : undefined
  })
}

export function condition(obj: Obj | undefined, type: string): { status: string; reason: string; message: string; lastTransitionTime: string } | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type)
}

export interface EventLike {
  reason?: string
  note?: string
  type?: string
  regarding?: { kind?: string; name?: string }
  series?: { count: number }
}

/** events.k8s.io/v1 Events in `ns` about `name` with `reason`. */
export async function eventsFor(cp: ControlPlane, ns: string, name: string, reason?: string): Promise<EventLike[]> {
  const r = await ok(cp.request('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, undefined, { retryThrottled: true }), 'list events')
  const items = (r.body as { items: EventLike[] }).items
  return items.filter((e) => e.regarding?.name === name && (reason === undefined || e.reason === reason))
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** 0, 1, …, count − 1: the items of a mapLimit over a count. */
export const indices = (count: number): number[] => Array.from({ length: count }, (_, i) => i)

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++
      if (index >= items.length) return
      results[index] = await fn(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
