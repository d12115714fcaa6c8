/**
 * Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection with a LeaseLock;
 * client-node has none). Only the reconciler competes; webhooks serve on every replica.
 *
 * - acquire: create the Lease, or take it over when its holder is empty or has not renewed for
 *   leaseDurationSeconds — measured on OUR clock from when we last saw the record change (never by
 *   trusting the holder's renewTime, so clock skew cannot cause two leaders). A takeover bumps
 *   leaseTransitions and sets acquireTime.
 * - renew every retryPeriod; all writes are PUTs carrying the resourceVersion last read, so a lost
 *   race is a 409 and nothing else. Renewal runs on its own timer and its own client, never behind
 *   reconcile work: the work queues and informers hand the event loop back every few milliseconds
 *   (time-slice.ts), so a renewal is at most one time slice late however big the cache (before,
 *   a resync of 13k cached objects held the loop 2.7 s and a short Lease was lost). If no renewal succeeds for renewDeadline (or another holder is
 *   seen), leadership is lost: onStoppedLeading('lost') — the caller must then exit the process,
 *   as controller-runtime does, since work in flight can no longer be trusted.
 * - stop(): stop competing and, when leading, release the Lease (holderIdentity '' and
 *   leaseDurationSeconds 1) so a peer takes over at its next retry; stop({release: false})
 *   simulates a crash. onStoppedLeading('stopped') follows.
 *
 * The Lease itself is read and written through a LeaseClient (lease-types.ts). This file imports no
 * @kubernetes/client-node: the webhook and the reconciler pass restLeaseClient() (the reconciler's
 * client-node fallback, kubeLeaseClient() in client-node.ts). The `leader` gauge is 1 while leading.
 */
import { randomUUID } from 'node:crypto'
import { statusOf } from '../kube/errors.ts'
import type { Logger } from '../log.ts'
import { silentLogger } from '../log.ts'
import { formatMicroTime } from '../status/rfc3339.ts'
import { realClock, sleep, TimeoutError, withTimeout, type Clock } from './clock.ts'
import type { LeaseClient, LeaseRecord } from './lease-types.ts'
import type { LeaderMetrics } from './metrics.ts'

/** Which Lease to compete for, and how fast (client-go's LeaseDuration, RenewDeadline, RetryPeriod). */
export interface LeaderElectionConfig {
  namespace: string
  name: string
  /** A holder that has not renewed for this long may be replaced (the Lease records it). */
  durationSeconds: number
  /** The leader gives up when no renewal has succeeded for this long. */
  renewDeadlineSeconds: number
  /** The wait between attempts to acquire or renew. */
  retryPeriodSeconds: number
}

/** holderIdentity for this process: the pod name plus a random suffix, so a restarted pod is a new candidate. */
export function leaseIdentity(podName: string): string {
  return `${podName}_${randomUUID().slice(0, 8)}`
}

export type StoppedReason = 'lost' | 'stopped'

export interface LeaderElectionOptions {
  config: LeaderElectionConfig
  /** How the Lease is read and written (rest-lease-client.ts on the small REST client; kubeLeaseClient() in client-node.ts on client-node). */
  leaseClient: LeaseClient
  /** This candidate's holderIdentity, unique per process (leaseIdentity()). */
  identity: string
  /** Called once when this process becomes leader; `signal` aborts when leadership ends. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>
  /** Called once after leading ended: 'lost' (renewal failed; exit the process) or 'stopped' (stop()). */
  onStoppedLeading: (reason: StoppedReason) => void
  /** Called whenever a different holder is observed (including this process). */
  onNewLeader?: (identity: string) => void
  metrics?: LeaderMetrics
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
export function startLeaseElection(options: LeaderElectionOptions): LeaderElector {
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
    this.identity = options.identity
    this.leaseDurationMs = config.durationSeconds * 1000
    this.renewDeadlineMs = config.renewDeadlineSeconds * 1000
    this.retryPeriodMs = config.retryPeriodSeconds * 1000
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration')
    }
    this.lease = options.leaseClient
    this.clock = options.clock ?? realClock
    this.random = options.random ?? Math.random
    this.logger = (options.logger ?? silentLogger()).child({ lease: `${config.namespace}/${config.name}`, identity: this.identity })
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
      const now = formatMicroTime(new Date(this.clock.now()))
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
    const now = formatMicroTime(new Date(this.clock.now()))
    return { ...record, holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationMs / 1000, acquireTime: record.acquireTime ?? now, renewTime: now }
  }

  private takeover(record: LeaseRecord): LeaseRecord {
    const now = formatMicroTime(new Date(this.clock.now()))
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
    const now = formatMicroTime(new Date(this.clock.now()))
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
    if (statusOf(err) === 409) this.logger.debug({ err }, message)
    else this.logger.warn({ err }, message)
  }
}
