/** The Event bodies both transport tests send (client-node's and the webhook's REST transport). */
import type { CoreV1Body, EventsV1Body } from '../../../src/events/transport.ts'

export const eventsV1Body: EventsV1Body = {
  apiVersion: 'events.k8s.io/v1',
  kind: 'Event',
  metadata: { name: 'run-1.18a2b3c4d5e6f708', namespace: 'agents' },
  eventTime: '2026-11-23T11:00:00.123000Z',
  series: { count: 2, lastObservedTime: '2026-11-23T11:00:05.000000Z' },
  reportingController: 'runguard.proompteng.ai/webhook',
  reportingInstance: 'pod-a',
  action: 'Admission',
  reason: 'InvalidSpec',
  note: 'bad',
  type: 'Warning',
  regarding: { apiVersion: 'agents.proompteng.ai/v1alpha1', kind: 'AgentRun', name: 'run-1', namespace: 'agents' },
}

export const coreV1Body: CoreV1Body = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'run-1.abc', namespace: 'agents' },
  involvedObject: eventsV1Body.regarding,
  reason: 'InvalidSpec',
  message: 'bad',
  type: 'Warning',
  action: 'Admission',
  source: { component: 'runguard.proompteng.ai/webhook' },
  firstTimestamp: '2026-11-23T11:00:00Z',
  lastTimestamp: '2026-11-23T11:00:00Z',
  count: 1,
  reportingComponent: 'runguard.proompteng.ai/webhook',
  reportingInstance: 'pod-a',
}
