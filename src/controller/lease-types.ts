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

/** Labels and annotations read from the stored Lease, carried over on update. */
export interface LeaseMetadata {
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

/**
 * The coordination.k8s.io/v1 Lease for `record`, shared by both LeaseClients. `time` turns a
 * MicroTime string into what the client serialises (client-node wants V1MicroTime objects).
 */
export function leaseObject<Time>(name: string, namespace: string, stored: LeaseMetadata | undefined, record: LeaseRecord, time: (value: string) => Time) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      ...(stored?.labels ? { labels: stored.labels } : {}),
      ...(stored?.annotations ? { annotations: stored.annotations } : {}),
      ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      leaseTransitions: record.leaseTransitions,
      ...(record.acquireTime ? { acquireTime: time(record.acquireTime) } : {}),
      ...(record.renewTime ? { renewTime: time(record.renewTime) } : {}),
    },
  }
}
