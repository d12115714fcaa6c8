/**
 * Leader election for the reconciler: the elector of elector.ts (client-go's leaderelection with a
 * LeaseLock), plus the client-node Lease client as the default when a kubeConfig is given. The
 * webhook imports elector.ts directly with a REST Lease client (it must not load client-node).
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { startLeaseElection, type LeaderElectionOptions, type LeaderElector } from './elector.ts'
import { kubeLeaseClient } from './lease-client.ts'

export { leaseIdentity, type LeaderElectionConfig, type LeaderElector, type StoppedReason } from './elector.ts'

export type ReconcilerLeaderElectionOptions = Omit<LeaderElectionOptions, 'leaseClient'> & {
  /** Used to build kubeLeaseClient() when no leaseClient is given. */
  kubeConfig?: KubeConfig
  leaseClient?: LeaderElectionOptions['leaseClient']
}

export type { LeaderElectionOptions }

/** Starts competing for the Lease at once; see elector.ts for the protocol. */
export function runLeaderElection(options: ReconcilerLeaderElectionOptions): LeaderElector {
  const { kubeConfig, leaseClient, ...rest } = options
  const { config } = rest
  if (leaseClient) return startLeaseElection({ ...rest, leaseClient })
  if (kubeConfig) return startLeaseElection({ ...rest, leaseClient: kubeLeaseClient(kubeConfig, config.namespace, config.name, config.renewDeadlineSeconds * 1000) })
  throw new Error('runLeaderElection needs a kubeConfig or a leaseClient')
}
