/**
 * The reconciler's Event transport on its client-node fallback (a kubeconfig the lean REST client
 * does not support; otherwise it sends Events through restEventTransport()): a thin adapter over
 * @kubernetes/client-node v2's EventsV1Api and CoreV1Api; what they throw becomes an
 * EventTransportError (a client-node ApiException keeps its status and Status body). Kept apart
 * from transport.ts, and reached only through a dynamic import, so that neither the webhook nor
 * the reconciler loads client-node (~85 MiB RSS) otherwise.
 */
import {
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
  type CoreV1Event,
  type EventsV1Event,
  type KubeConfig,
} from '@kubernetes/client-node'
import { EventTransportError, type CoreV1Body, type EventsV1Body, type EventTransport } from './transport.ts'

const mergePatch = (): ReturnType<typeof setHeaderOptions> => setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

/** EventsV1Api and CoreV1Api from the given credentials. */
export function kubeEventTransport(kubeConfig: KubeConfig): EventTransport {
  const eventsApi = kubeConfig.makeApiClient(EventsV1Api)
  const coreApi = kubeConfig.makeApiClient(CoreV1Api)
  return {
    async createEventsV1(namespace, body) {
      try {
        const created = await eventsApi.createNamespacedEvent({ namespace, body: toEventsV1Model(body) })
        return { name: created.metadata?.name ?? body.metadata.name }
      } catch (err) {
        throw EventTransportError.from(err, `create events.k8s.io/v1 Event ${namespace}/${body.metadata.name}`)
      }
    },
    async patchEventsV1(namespace, name, patch) {
      try {
        await eventsApi.patchNamespacedEvent({ name, namespace, body: patch }, mergePatch())
      } catch (err) {
        throw EventTransportError.from(err, `patch events.k8s.io/v1 Event ${namespace}/${name}`)
      }
    },
    async createCoreV1(namespace, body) {
      try {
        const created = await coreApi.createNamespacedEvent({ namespace, body: toCoreV1Model(body) })
        return { name: created.metadata?.name ?? body.metadata.name }
      } catch (err) {
        throw EventTransportError.from(err, `create v1 Event ${namespace}/${body.metadata.name}`)
      }
    },
    async patchCoreV1(namespace, name, patch) {
      try {
        await coreApi.patchNamespacedEvent({ name, namespace, body: patch }, mergePatch())
      } catch (err) {
        throw EventTransportError.from(err, `patch v1 Event ${namespace}/${name}`)
      }
    },
  }
}

/**
 * client-node types MicroTime as V1MicroTime (a Date whose JSON has six fraction digits) and Time
 * as Date; our bodies carry strings, converted here. Only millisecond precision exists either way.
 */
function toEventsV1Model(body: EventsV1Body): EventsV1Event {
  const { series, eventTime, ...rest } = body
  return {
    ...rest,
    eventTime: new V1MicroTime(eventTime),
    ...(series ? { series: { count: series.count, lastObservedTime: new V1MicroTime(series.lastObservedTime) } } : {}),
  }
}

function toCoreV1Model(body: CoreV1Body): CoreV1Event {
  const { firstTimestamp, lastTimestamp, ...rest } = body
  return { ...rest, firstTimestamp: new Date(firstTimestamp), lastTimestamp: new Date(lastTimestamp) }
}
