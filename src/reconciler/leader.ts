/**
 * Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection with a LeaseLock;
 * client-node has none). Only the reconciler competes; webhooks serve on every replica.
 *
 * - acquire: create the Lease, or take it over when its holder is empty or has not renewed for
 *   leaseDurationSeconds — measured on OUR clock from when we last saw the record change (never by
 *   trusting the holder's renewTime, so clock skew cannot cause two leaders). A takeover bumps
 *   leaseTransitions and sets acquireTime.
 * - renew every retryPeriod; all writes are PUTs carrying the resourceVersion last read, so a lost
 *   race is a 409 and nothing else. If no renewal succeeds for renewDeadline (or another holder is
 *   seen), leadership is lost: onStoppedLeading('lost') — the caller must then exit the process,
 *   as controller-runtime does, since work in flight can no longer be trusted.
 * - stop(): stop competing and, when leading, release the Lease (holderIdentity '' and
 *   leaseDurationSeconds 1) so a peer takes over at its next retry; stop({release: false})
 *   simulates a crash. onStoppedLeading('stopped') follows.
 *
 * Times are written as MicroTime (`2026-11-23T11:00:00.000000Z`). runguard_leader is 1 while leading.
 */
import { randomUUID } from 'node:crypto'
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1ObjectMeta } from '@kubernetes/client-node'
import { requestTimeout } from '../kube/client.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { silentLogger } from '../log.ts'
import { realClock, sleep, TimeoutError, withTimeout, type Clock } from './clock.ts'

export interface LeaseRecord {
  /** '' when released. */
  holderIdentity: string
  leaseDurationSeconds: number
  /** MicroTime strings. */
  acquireTime?: string
  renewTime?: string
  leaseTransitions: number
  /** From the API; sent back on update for optimistic concurrency. */
  resourceVersion?: string
}

/** The three calls the elector needs; kubeLeaseClient() is the real one, tests use a fake. */
export interface LeaseClient {
  /** The Lease, or undefined if it does not exist. */
  get(): Promise<LeaseRecord | undefined>
  /** Rejects (409) if it already exists. */
  create(record: LeaseRecord): Promise<LeaseRecord>
  /** Rejects (409) unless record.resourceVersion is still the current one. */
  update(record: LeaseRecord): Promise<LeaseRecord>
}

/** `2026-11-23T11:00:00.123000Z` — metav1.MicroTime's format (RFC 3339 with 6 fractional digits). */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z')
}

/** holderIdentity for this process: the pod name plus a random suffix, so a restarted pod is a new candidate. */
export function leaseIdentity(podName: string): string {
  return `${podName}_${randomUUID().slice(0, 8)}`
}

function microTimeString(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value instanceof Date && !Number.isNaN(value.getTime())) return formatMicroTime(value.getTime())
  return undefined
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'number' ? code : undefined
}

/** A LeaseClient on the coordination.k8s.io/v1 API. */
export function kubeLeaseClient(kubeConfig: KubeConfig, namespace: string, name: string, requestTimeoutMs = 10_000): LeaseClient {
  const api = kubeConfig.makeApiClient(CoordinationV1Api)
  // Labels and annotations someone put on the Lease survive our PUTs.
  let lastMetadata: V1ObjectMeta | undefined

  const fromLease = (lease: V1Lease): LeaseRecord => {
    lastMetadata = lease.metadata
    const spec = lease.spec ?? {}
    const record: LeaseRecord = {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      leaseTransitions: spec.leaseTransitions ?? 0,
    }
    // The generated deserializer leaves MicroTime fields as strings despite their declared type.
    const acquireTime = microTimeString(spec.acquireTime as unknown)
    const renewTime = microTimeString(spec.renewTime as unknown)
    if (acquireTime) record.acquireTime = acquireTime
    if (renewTime) record.renewTime = renewTime
    if (lease.metadata?.resourceVersion) record.resourceVersion = lease.metadata.resourceVersion
    return record
  }

  const toLease = (record: LeaseRecord): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      ...(lastMetadata?.labels ? { labels: lastMetadata.labels } : {}),
      ...(lastMetadata?.annotations ? { annotations: lastMetadata.annotations } : {}),
      ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      leaseTransitions: record.leaseTransitions,
      // V1MicroTime serialises with six fractional digits.
      ...(record.acquireTime ? { acquireTime: new V1MicroTime(record.acquireTime) } : {}),
      ...(record.renewTime ? { renewTime: new V1MicroTime(record.renewTime) } : {}),
    },
  })

  return {
    async get() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }, requestTimeout(requestTimeoutMs)))
      } catch (err) {
        if (statusCode(err) === 404) return undefined
        throw err
      }
    },
    async create(record) {
      lastMetadata = undefined
      return fromLease(await api.createNamespacedLease({ namespace, body: toLease(record) }, requestTimeout(requestTimeoutMs)))
    },
    async update(record) {
      return fromLease(await api.replaceNamespacedLease({ name, namespace, body: toLease(record) }, requestTimeout(requestTimeoutMs)))
    },
  }
}

export type LeaderElectionConfig = Pick<
  Config,
  'leaseName' | 'leaseNamespace' | 'leaseDurationSeconds' | 'leaseRenewDeadlineSeconds' | 'leaseRetryPeriodSeconds' | 'podName'
>

export type StoppedReason = 'lost' | 'stopped'

export interface LeaderElectionOptions {
  config: LeaderElectionConfig
  /** Used to build kubeLeaseClient() when no leaseClient is given. */
  kubeConfig?: KubeConfig
  leaseClient?: LeaseClient
  /** Defaults to leaseIdentity(config.podName). */
  identity?: string
  /** Called once when this process becomes leader; `signal` aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>
  /** Called once after leading ended: 'lost' (renewal failed; exit the process) or 'stopped' (stop()). */
  onStoppedLeading: (reason: StoppedReason) => void
  /** Called whenever a different holder is observed (including this process). */
  onNewLeader?: (identity: string) => void
  metrics?: Pick<Metrics, 'leader'>
  logger?: Logger
  clock?: Clock
  random?: () => number
}

export interface LeaderElector {
  readonly identity: string
  isLeader(): boolean
  /** The holder last observed ('' when released, undefined before the first read). */
  observedLeader(): string | undefined
  /**
   * Stop competing and wait until the elector has finished. When leading, the Lease is released
   * unless `release: false` (which leaves it to expire, as a crash would).
   */
  stop(options?: { release?: boolean }): Promise<void>
  /** Resolves when the elector has finished (lost, or stopped). */
  readonly done: Promise<void>
}

/** Starts competing for the Lease at once; see the module comment for the protocol. */
export function runLeaderElection(options: LeaderElectionOptions): LeaderElector {
  return new LeaseElector(options)
}

class LeaseElector implements LeaderElector {
  readonly identity: string
  readonly done: Promise<void>
  private readonly lease: LeaseClient
  private readonly leaseDurationMs: number
  private readonly renewDeadlineMs: number
  private readonly retryPeriodMs: number
  private readonly options: LeaderElectionOptions
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly random: () => number
  private readonly stopController = new AbortController()
  private leaderController: AbortController | undefined
  private releaseOnStop = true
  private leading = false
  private observed: LeaseRecord | undefined
  private observedSpec = ''
  private observedTime = 0

  constructor(options: LeaderElectionOptions) {
    const { config } = options
    this.options = options
    this.identity = options.identity ?? leaseIdentity(config.podName)
    this.leaseDurationMs = config.leaseDurationSeconds * 1000
    this.renewDeadlineMs = config.leaseRenewDeadlineSeconds * 1000
    this.retryPeriodMs = config.leaseRetryPeriodSeconds * 1000
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration')
    }
    if (options.leaseClient) this.lease = options.leaseClient
    else if (options.kubeConfig) this.lease = kubeLeaseClient(options.kubeConfig, config.leaseNamespace, config.leaseName, this.renewDeadlineMs)
    else throw new Error('runLeaderElection needs a kubeConfig or a leaseClient')
    this.clock = options.clock ?? realClock
    this.random = options.random ?? Math.random
    this.logger = (options.logger ?? silentLogger()).child({ lease: `${config.leaseNamespace}/${config.leaseName}`, identity: this.identity })
    options.metrics?.leader.set(0)
    this.done = this.run()
  }

  isLeader(): boolean {
    return this.leading
  }

  observedLeader(): string | undefined {
    return this.observed?.holderIdentity
  }

  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.stopController.signal.aborted) {
      this.releaseOnStop = options.release ?? true
      this.stopController.abort()
    }
    await this.done
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted
  }

  private async run(): Promise<void> {
    this.logger.info('waiting to acquire the lease')
    let acquired = false
    while (!this.stopping) {
      acquired = await this.tryAcquireOrRenew(this.renewDeadlineMs)
      if (acquired) break
      // A little jitter so candidates do not retry in lock-step.
      await sleep(this.clock, this.retryPeriodMs * (1 + 0.1 * this.random()), this.stopController.signal)
    }
    if (this.stopping) {
      // The last attempt may have won the lease just as we were told to stop.
      if (acquired && this.releaseOnStop) await this.release()
      return
    }

    this.leading = true
    this.leaderController = new AbortController()
    this.options.metrics?.leader.set(1)
    this.logger.info({ leaseTransitions: this.observed?.leaseTransitions }, 'acquired the lease; leading')
    this.startLeading(this.leaderController.signal)

    let lastRenew = this.clock.now()
    let wait = this.retryPeriodMs
    let lostReason: string | undefined
    while (!this.stopping) {
      await sleep(this.clock, wait, this.stopController.signal)
      if (this.stopping) break
      const remaining = lastRenew + this.renewDeadlineMs - this.clock.now()
      if (remaining > 0 && (await this.tryAcquireOrRenew(remaining))) {
        lastRenew = this.clock.now()
        wait = this.retryPeriodMs
        continue
      }
      // After a failure, retry on the usual cadence but wake up exactly at the renew deadline.
      wait = Math.min(this.retryPeriodMs, Math.max(0, lastRenew + this.renewDeadlineMs - this.clock.now()))
      const holder = this.observed?.holderIdentity
      if (holder !== undefined && holder !== '' && holder !== this.identity) {
        lostReason = `the lease is now held by ${holder}`
        break
      }
      if (this.clock.now() - lastRenew >= this.renewDeadlineMs) {
        lostReason = `no renewal succeeded within the renew deadline (${this.renewDeadlineMs / 1000} s)`
        break
      }
    }

    this.leading = false
    this.options.metrics?.leader.set(0)
    this.leaderController.abort()
    if (lostReason !== undefined) {
      this.logger.error({ reason: lostReason }, 'leader election lost')
      this.notifyStopped('lost')
      return
    }
    if (this.releaseOnStop) await this.release()
    this.logger.info({ released: this.releaseOnStop }, 'stopped leading')
    this.notifyStopped('stopped')
  }

  private startLeading(signal: AbortSignal): void {
    try {
      const result = this.options.onStartedLeading(signal)
      if (result instanceof Promise) result.catch((err: unknown) => this.logger.error({ err }, 'onStartedLeading failed'))
    } catch (err) {
      this.logger.error({ err }, 'onStartedLeading failed')
    }
  }

  private notifyStopped(reason: StoppedReason): void {
    try {
      this.options.onStoppedLeading(reason)
    } catch (err) {
      this.logger.error({ err }, 'onStoppedLeading failed')
    }
  }

  /** One attempt, all its calls within `timeoutMs`; true when this process holds the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs
    const call = <T>(request: () => Promise<T>, what: string): Promise<T> => {
      const left = deadline - this.clock.now()
      if (left <= 0) return Promise.reject(new TimeoutError(`no time left for lease ${what}`))
      return withTimeout(this.clock, request(), left, `lease ${what} timed out after ${left} ms`)
    }

    // Fast path while leading: renew from the record we wrote last, without reading first.
    const mine = this.observed
    if (this.leading && mine?.holderIdentity === this.identity) {
      try {
        this.observe(await call(() => this.lease.update(this.renewal(mine)), 'renew'))
        return true
      } catch (err) {
        this.logFailure(err, 'renewing the lease failed; re-reading it')
      }
    }

    let current: LeaseRecord | undefined
    try {
      current = await call(() => this.lease.get(), 'read')
    } catch (err) {
      this.logFailure(err, 'reading the lease failed')
      return false
    }

    if (!current) {
      const now = formatMicroTime(this.clock.now())
      const fresh: LeaseRecord = {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationMs / 1000,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      }
      try {
        this.observe(await call(() => this.lease.create(fresh), 'create'))
        return true
      } catch (err) {
        this.logFailure(err, 'creating the lease failed')
        return false
      }
    }

    this.observe(current)
    const heldByOther = current.holderIdentity !== '' && current.holderIdentity !== this.identity
    if (heldByOther && this.observedTime + current.leaseDurationSeconds * 1000 > this.clock.now()) return false

    const next = current.holderIdentity === this.identity ? this.renewal(current) : this.takeover(current)
    try {
      this.observe(await call(() => this.lease.update(next), heldByOther ? 'takeover' : 'acquire'))
      if (heldByOther) this.logger.info({ previousHolder: current.holderIdentity }, 'took over an expired lease')
      return true
    } catch (err) {
      this.logFailure(err, 'updating the lease failed')
      return false
    }
  }

  private renewal(record: LeaseRecord): LeaseRecord {
    const now = formatMicroTime(this.clock.now())
    return { ...record, holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationMs / 1000, acquireTime: record.acquireTime ?? now, renewTime: now }
  }

  private takeover(record: LeaseRecord): LeaseRecord {
    const now = formatMicroTime(this.clock.now())
    return {
      ...record,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: record.leaseTransitions + 1,
    }
  }

  /** Remembers the record; its expiry clock restarts only when its content changed. */
  private observe(record: LeaseRecord): void {
    const spec = JSON.stringify([record.holderIdentity, record.leaseDurationSeconds, record.acquireTime, record.renewTime, record.leaseTransitions])
    const previousHolder = this.observed?.holderIdentity
    this.observed = record
    if (spec !== this.observedSpec) {
      this.observedSpec = spec
      this.observedTime = this.clock.now()
    }
    if (record.holderIdentity !== previousHolder && record.holderIdentity !== '') {
      this.logger.info({ leader: record.holderIdentity }, 'new leader observed')
      try {
        this.options.onNewLeader?.(record.holderIdentity)
      } catch (err) {
        this.logger.error({ err }, 'onNewLeader failed')
      }
    }
  }

  /** Hand the Lease back so a peer can take it at its next retry instead of waiting for expiry. */
  private async release(): Promise<void> {
    const observed = this.observed
    if (!observed || observed.holderIdentity !== this.identity) return
    const now = formatMicroTime(this.clock.now())
    try {
      const released = await withTimeout(
        this.clock,
        this.lease.update({ ...observed, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now }),
        this.renewDeadlineMs,
        'lease release timed out',
      )
      this.observe(released)
      this.logger.info('released the lease')
    } catch (err) {
      this.logger.warn({ err }, 'releasing the lease failed; peers will take over when it expires')
    }
  }

  private logFailure(err: unknown, message: string): void {
    // Conflicts are how optimistic concurrency says "someone else wrote first": expected, not alarming.
    if (statusCode(err) === 409) this.logger.debug({ err }, message)
    else this.logger.warn({ err }, message)
  }
}
