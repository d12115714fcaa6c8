/**
 * The Lease record the leader elector reads and writes, and the three calls it makes. No client
 * import here: the webhook (rest-lease-client.ts) and the reconciler (lease-client.ts) both
 * implement LeaseClient. Times are MicroTime strings (`2026-11-23T11:00:00.000000Z`).
 */

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
