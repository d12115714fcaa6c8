/**
 * Stand-in for the kubelet: the test control plane has no nodes, so a Job's pods stay Pending until
 * a test writes their status. The real Job controller then counts them (it only needs the pod's
 * `status.phase`; it removes its `batch.kubernetes.io/job-tracking` finalizer once counted) and
 * marks the Job Complete or Failed; the TTL-after-finished controller and the garbage collector
 * take it from there.
 *
 * Failing a Job needs `backoffLimit: 0` (or as many failures as the limit allows): otherwise the
 * controller creates a replacement pod, which a test must fail in turn.
 */
import type { ApiResponse, ControlPlane } from './controlplane.ts'

type Api = Pick<ControlPlane, 'request'>

export type PodPhase = 'Running' | 'Succeeded' | 'Failed'

export interface PodLike {
  metadata: { name: string; namespace?: string; deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string> }
  spec: { containers: Array<{ name: string; image?: string }>; initContainers?: Array<{ name: string; image?: string }> }
  status?: { phase?: string }
}

export interface JobCondition {
  type: string
  status: string
  reason?: string
  message?: string
}

export interface JobLike {
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string }
  spec?: { ttlSecondsAfterFinished?: number }
  status?: { conditions?: JobCondition[]; active?: number; succeeded?: number; failed?: number }
}

export interface WaitOptions {
  /** Default 30 s. */
  timeoutMs?: number
  /** Poll interval; default 200 ms. */
  intervalMs?: number
}

export interface SetPodPhaseOptions {
  /** Exit code of every container; default 0 for Succeeded, 1 for Failed. */
  exitCode?: number
  /** Container termination reason; default `Completed` / `Error`. */
  reason?: string
  message?: string
}

const TERMINAL = new Set(['Succeeded', 'Failed'])

/**
 * Waits until the Job controller has created `jobName`'s pods (at least one that is neither
 * terminal nor being deleted) and moves every such pod to `phase`. Returns the pod names.
 */
export async function completeJobPods(
  cp: Api,
  namespace: string,
  jobName: string,
  phase: 'Succeeded' | 'Failed',
  options: SetPodPhaseOptions & WaitOptions = {},
): Promise<string[]> {
  const pods = await waitForJobPods(cp, namespace, jobName, options)
  for (const pod of pods) await setPodPhase(cp, pod, phase, options)
  return pods.map((p) => p.metadata.name)
}

/** `jobName`'s pods that are neither terminal nor being deleted, once there is at least one. */
export async function waitForJobPods(cp: Api, namespace: string, jobName: string, options: WaitOptions = {}): Promise<PodLike[]> {
  const selector = encodeURIComponent(`batch.kubernetes.io/job-name=${jobName}`)
  return waitUntil(`pods of Job ${namespace}/${jobName}`, options, async () => {
    const response = await ok(cp.request('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`), 'list pods')
    const pods = (response.body as { items: PodLike[] }).items.filter(
      (p) => p.metadata.deletionTimestamp === undefined && !TERMINAL.has(p.status?.phase ?? ''),
    )
    return pods.length > 0 ? pods : undefined
  })
}

/**
 * Writes a pod status as the kubelet would for `phase`: container states (running or terminated
 * with an exit code), the Ready/ContainersReady/Initialized conditions and the start time.
 */
export async function setPodPhase(cp: Api, pod: PodLike, phase: PodPhase, options: SetPodPhaseOptions = {}): Promise<void> {
  const namespace = pod.metadata.namespace ?? 'default'
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const failed = phase === 'Failed'
  const exitCode = options.exitCode ?? (failed ? 1 : 0)
  const reason = options.reason ?? (failed ? 'Error' : 'Completed')
  const containerState =
    phase === 'Running'
      ? { running: { startedAt: now } }
      : { terminated: { exitCode, reason, startedAt: now, finishedAt: now, ...(options.message ? { message: options.message } : {}) } }
  const status = (c: { name: string; image?: string }, state: object, ready: boolean): object => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready,
    started: phase === 'Running',
    restartCount: 0,
    state,
  })
  const running = phase === 'Running'
  const condition = (type: string, value: boolean, conditionReason?: string): object => ({
    type,
    status: value ? 'True' : 'False',
    lastTransitionTime: now,
    ...(conditionReason ? { reason: conditionReason } : {}),
  })
  const body = {
    status: {
      phase,
      startTime: now,
      conditions: [
        condition('Initialized', true),
        condition('Ready', running, running ? undefined : 'PodCompleted'),
        condition('ContainersReady', running, running ? undefined : 'PodCompleted'),
      ],
      initContainerStatuses: (pod.spec.initContainers ?? []).map((c) =>
        status(c, { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } }, false),
      ),
      containerStatuses: pod.spec.containers.map((c) => status(c, containerState, running)),
      ...(failed && options.message ? { message: options.message } : {}),
    },
  }
  await ok(
    cp.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, body, {
      contentType: 'application/merge-patch+json',
    }),
    `set pod ${namespace}/${pod.metadata.name} to ${phase}`,
  )
}

/** Waits until the Job has condition `type` (e.g. `Complete`, `Failed`) with status True. */
export async function waitForJobCondition(cp: Api, namespace: string, jobName: string, type: string, options: WaitOptions = {}): Promise<JobLike> {
  return waitUntil(`condition ${type} on Job ${namespace}/${jobName}`, options, async () => {
    const response = await ok(cp.request('GET', `/apis/batch/v1/namespaces/${namespace}/jobs/${jobName}`), 'get job')
    const job = response.body as JobLike
    return job.status?.conditions?.some((c) => c.type === type && c.status === 'True') ? job : undefined
  })
}

/** Waits until GET `path` answers 404. */
export async function waitForGone(cp: Api, path: string, options: WaitOptions = {}): Promise<void> {
  await waitUntil(`${path} to be deleted`, options, async () => {
    const response = await cp.request('GET', path)
    if (response.status === 404) return true
    if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status} ${response.text}`)
    return undefined
  })
}

/** Polls `probe` until it returns something other than undefined. */
export async function waitUntil<T>(what: string, options: WaitOptions, probe: () => Promise<T | undefined>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await probe()
    if (result !== undefined) return result
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200))
  }
}

async function ok(pending: Promise<ApiResponse>, what: string): Promise<ApiResponse> {
  const response = await pending
  if (response.status < 200 || response.status > 299) throw new Error(`${what}: HTTP ${response.status} ${response.text}`)
  return response
}
