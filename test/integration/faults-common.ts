/**
 * Shared by the faults-*.test.ts files (issue 14, "Faults on the real control plane"): Running
 * AgentRuns with their Jobs, lists and waits over a batch of them, and the reconciler settings
 * that let one process ride out a short outage instead of giving up its Lease.
 */
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import type { ControlPlane } from '../harness/controlplane.ts'
import { waitUntil } from '../harness/pods.ts'
import { condition, create, jobManifest, jobPath, mapLimit, runManifest, runPath, writeStatus, type Obj } from './reconcile-harness.ts'

/**
 * A Lease that outlives an outage of up to ~20 s (the renew deadline): the faults under test are
 * shorter, and a reconciler that exits on them would test the restart, not the recovery.
 */
export const OUTAGE_LEASE_ENV: Record<string, string> = {
  RUNGUARD_LEASE_DURATION_SECONDS: '30',
  RUNGUARD_LEASE_RENEW_DEADLINE_SECONDS: '20',
  RUNGUARD_LEASE_RETRY_PERIOD_SECONDS: '2',
}

export interface MadeRun {
  name: string
  uid: string
}

export function runNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)
}

/** `count` Running AgentRuns, each with its Job (ownerReference) recorded in runtimeRef. */
export async function makeRunningRuns(cp: ControlPlane, ns: string, prefix: string, count: number): Promise<MadeRun[]> {
  return mapLimit(runNames(prefix, count), 10, async (name) => {
    const run = await create(cp, runPath('AgentRun', ns), runManifest('AgentRun', ns, name))
    await create(cp, jobPath(ns), jobManifest(ns, `${name}-job`, name, { ownerUid: run.metadata.uid }))
    await writeStatus(cp, runPath('AgentRun', ns, name), { phase: 'Running', runtimeRef: { type: 'job', name: `${name}-job`, namespace: ns } })
    return { name, uid: run.metadata.uid }
  })
}

export async function listRuns(cp: ControlPlane, ns: string, prefix: string): Promise<Obj[]> {
  const r = await cp.request('GET', runPath('AgentRun', ns), undefined, { timeoutMs: 10_000 })
  if (r.status !== 200) throw new Error(`list AgentRuns: HTTP ${r.status} ${r.text.slice(0, 200)}`)
  return (r.body as { items: Obj[] }).items.filter((o) => o.metadata.name.startsWith(`${prefix}-`))
}

/** Jobs of the batch that exist and are not being deleted. */
export async function liveJobs(cp: ControlPlane, ns: string, prefix: string): Promise<string[]> {
  const r = await cp.request('GET', jobPath(ns), undefined, { timeoutMs: 10_000 })
  if (r.status !== 200) throw new Error(`list Jobs: HTTP ${r.status}`)
  return (r.body as { items: Obj[] }).items.filter((j) => j.metadata.name.startsWith(`${prefix}-`) && !j.metadata.deletionTimestamp).map((j) => j.metadata.name)
}

export const isCancelled = (o: Obj): boolean => o.status?.phase === 'Cancelled' && condition(o, 'Cancelled')?.status === 'True'

export async function cancelledCount(cp: ControlPlane, ns: string, prefix: string): Promise<number> {
  return (await listRuns(cp, ns, prefix)).filter(isCancelled).length
}

/** Waits until every run named is Cancelled (Cancelled=True) and none of its Jobs is left; returns the runs. */
export async function waitCancelledAndJobsGone(cp: ControlPlane, ns: string, prefix: string, names: readonly string[], timeoutMs: number): Promise<Obj[]> {
  const wanted = new Set(names)
  return waitUntil(`${names.length} ${prefix} runs Cancelled and their Jobs gone`, { timeoutMs, intervalMs: 250 }, async () => {
    try {
      const runs = (await listRuns(cp, ns, prefix)).filter((o) => wanted.has(o.metadata.name))
      if (runs.length !== wanted.size || !runs.every(isCancelled)) return undefined
      const jobs = (await liveJobs(cp, ns, prefix)).filter((j) => wanted.has(j.replace(/-job$/, '')))
      return jobs.length === 0 ? runs : undefined
    } catch {
      return undefined // the control plane may be recovering
    }
  })
}

/** Resident memory of a process from /proc (Linux), in bytes; undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

export interface WatchedEvent {
  type: string
  /** When the event reached the test (epoch ms). */
  seenAt: number
  object: Obj & { metadata: Obj['metadata'] & { managedFields?: ManagedFieldsEntry[] } }
}

export interface ManagedFieldsEntry {
  manager?: string
  operation?: string
  subresource?: string
  time?: string
}

export interface WatchRecorder {
  readonly events: WatchedEvent[]
  /** The resourceVersion of the last event seen. */
  lastResourceVersion(): string
  /** Resolves once an event at or after `resourceVersion` was seen. */
  caughtUp(resourceVersion: string, timeoutMs?: number): Promise<void>
  stop(): void
}

/**
 * Records every event of a watch on `collectionPath` (as admin) from `resourceVersion` on, resuming
 * from the last one seen whenever the server ends the watch, so no event is missed.
 */
export function recordWatch(cp: ControlPlane, collectionPath: string, resourceVersion: string): WatchRecorder {
  const events: WatchedEvent[] = []
  let lastRv = resourceVersion
  let stopped = false
  let current: import('node:http').ClientRequest | undefined
  let failure: Error | undefined

  const open = (): void => {
    if (stopped) return
    const query = `watch=1&allowWatchBookmarks=false&timeoutSeconds=600&resourceVersion=${encodeURIComponent(lastRv)}`
    const req = httpsRequest({
      host: cp.host,
      port: cp.ports.apiServer,
      method: 'GET',
      path: `${collectionPath}?${query}`,
      ca: cp.caPem,
      cert: cp.adminCertificate.certPem,
      key: cp.adminCertificate.keyPem,
      agent: false,
      headers: { accept: 'application/json' },
    }, (res) => {
      if (res.statusCode !== 200) {
        failure = new Error(`watch ${collectionPath}: HTTP ${res.statusCode}`)
        res.resume()
        return
      }
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffered += chunk
        let newline: number
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim()
          buffered = buffered.slice(newline + 1)
          if (line === '') continue
          const event = JSON.parse(line) as { type: string; object: WatchedEvent['object'] & { code?: number } }
          if (event.type === 'ERROR') {
            failure = new Error(`watch ${collectionPath}: ERROR event ${JSON.stringify(event.object)}`)
            continue
          }
          if (event.object.metadata.resourceVersion) lastRv = event.object.metadata.resourceVersion
          events.push({ type: event.type, seenAt: Date.now(), object: event.object })
        }
      })
      res.on('end', () => setTimeout(open, 100))
      res.on('error', () => setTimeout(open, 100))
    })
    req.on('error', () => setTimeout(open, 250))
    req.end()
    current = req
  }
  open()

  return {
    events,
    lastResourceVersion: () => lastRv,
    caughtUp: (rv, timeoutMs = 30_000) =>
      waitUntil(`the watch to reach resourceVersion ${rv}`, { timeoutMs, intervalMs: 50 }, async () => {
        if (failure) throw failure
        return BigInt(lastRv) >= BigInt(rv) ? true : undefined
      }).then(() => undefined),
    stop: () => {
      stopped = true
      current?.destroy()
    },
  }
}

/** Newest resourceVersion among `objects` (what a watch on them has to reach to have seen them all). */
export function newestResourceVersion(objects: readonly Obj[]): string {
  return objects.reduce((newest, o) => (BigInt(o.metadata.resourceVersion ?? '0') > BigInt(newest) ? (o.metadata.resourceVersion ?? '0') : newest), '0')
}

/** The list's resourceVersion (what a watch from "now" starts at). */
export async function listResourceVersion(cp: ControlPlane, collectionPath: string): Promise<string> {
  const r = await cp.request('GET', `${collectionPath}?limit=1`)
  if (r.status !== 200) throw new Error(`list ${collectionPath}: HTTP ${r.status}`)
  return (r.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion
}

/** A small seeded generator (mulberry32), so shuffles replay. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
