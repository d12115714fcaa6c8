/**
 * runguard's controllers and what they watch (controller-runtime's SetupWithManager): the
 * informers on the three run kinds, on run Jobs and on Argo Workflows; one controller per run kind
 * running the run reconciler; one for the AgentRun retention pass; and the informer handlers that
 * turn watch events into queue keys (which keys: triggers.ts):
 *
 *   run added or updated     → that run; its parent OrchestrationRun; an AgentRun also schedules
 *                              its namespace's retention pass at its deadline
 *   run updated to terminal  → agents_run_outcomes_total, once per run
 *   run deleted              → its parent OrchestrationRun
 *   Job or Workflow event    → the runs it belongs to (label, or ownerReference)
 *
 * Every informer keeps only what the reconciler reads (cache-transforms.ts) and counts its
 * relists (runguard_informer_relists_total).
 */
import type { Config } from '../config.ts'
import { Controller } from '../controller/controller.ts'
import { createKubeInformer, type CacheTransform, type Informer } from '../controller/informer.ts'
import type { ListWatchSources } from '../controller/list-watch.ts'
import type { InformerMetrics } from '../controller/metrics.ts'
import type { KubeObject } from '../kube/objects.ts'
import type { ResourceClient } from '../kube/resource-client.ts'
import { JOB_RESOURCE, WORKFLOW_RESOURCE, type ResourceRef } from '../kube/resources.ts'
import { JOB_RUN_LABELS, RUN_KINDS, type RunKind, type RunKindName } from '../kube/run-kinds.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import { transformJob, transformRun, transformWorkflow } from './cache-transforms.ts'
import type { EventSink } from './executor.ts'
import { ReconcileMemory } from './memory.ts'
import { createRunReconciler } from './run-reconciler.ts'
import { createRetentionReconciler, retentionDelay, retentionRequest } from './retention-reconciler.ts'
import { nameOf, namespaceOf, qualified } from './refs.ts'
import { ownerRunsOf, parentRunOf, terminalTransition } from './triggers.ts'

export interface RunguardInformers {
  runs: Record<RunKindName, Informer>
  /** One per label of JOB_RUN_LABELS (a label selector cannot OR two labels). */
  jobs: Informer[]
  /** The same, for Argo Workflows; empty when that API is not served. */
  workflows: Informer[]
}

export function createRunguardInformers(
  sources: ListWatchSources,
  config: Pick<Config, 'namespaces' | 'resyncSeconds'>,
  options: { workflowsServed: boolean; logger: Logger; metrics?: InformerMetrics },
): RunguardInformers {
  const common = {
    namespaces: config.namespaces,
    resyncMs: config.resyncSeconds * 1000,
    logger: options.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  }
  const byLabel = (resource: ResourceRef, transform: CacheTransform) =>
    JOB_RUN_LABELS.map((label) => createKubeInformer<KubeObject>(sources, resource, { ...common, labelSelector: label, transform }))
  return {
    runs: Object.fromEntries(RUN_KINDS.map((kind) => [kind.kind, createKubeInformer<KubeObject>(sources, kind, { ...common, transform: transformRun })])) as Record<RunKindName, Informer>,
    jobs: byLabel(JOB_RESOURCE, transformJob),
    workflows: options.workflowsServed ? byLabel(WORKFLOW_RESOURCE, transformWorkflow) : [],
  }
}

export function allInformers(informers: RunguardInformers): Informer[] {
  return [...Object.values(informers.runs), ...informers.jobs, ...informers.workflows]
}

export interface RunguardControllerDeps {
  config: Config
  informers: RunguardInformers
  api: ResourceClient
  recorder: EventSink | undefined
  metrics: Metrics
  logger: Logger
}

export interface RunguardControllers {
  controllers: Controller[]
  /** Registers the informer handlers; the leader calls it once, after the caches have synced. */
  watch(): void
}

export function createRunguardControllers(deps: RunguardControllerDeps): RunguardControllers {
  const { config, informers, api, recorder, metrics, logger } = deps
  const memory = new ReconcileMemory()
  const runReconciler = createRunReconciler({
    config,
    caches: { runs: informers.runs, jobs: informers.jobs, ...(informers.workflows.length > 0 ? { workflows: informers.workflows } : {}) },
    memory,
    api,
    recorder,
    metrics,
    logger,
  })
  const runControllers = Object.fromEntries(
    RUN_KINDS.map((kind) => [kind.kind, new Controller({ name: kind.kind.toLowerCase(), reconciler: runReconciler, concurrency: config.reconcileConcurrency, metrics, logger })]),
  ) as Record<RunKindName, Controller>
  const retention = config.retentionEnabled
    ? new Controller({
        name: 'agentrun-retention',
        reconciler: createRetentionReconciler({ config, cache: informers.runs.AgentRun, api, recorder, logger }),
        concurrency: 1,
        metrics,
        logger,
      })
    : undefined

  const enqueueRun = (kind: RunKindName, obj: KubeObject): void => runControllers[kind].enqueue({ kind, namespace: namespaceOf(obj), name: nameOf(obj) })
  const enqueueParent = (obj: KubeObject): void => {
    const parent = parentRunOf(obj)
    if (parent) runControllers.OrchestrationRun.enqueue(parent)
  }
  const scheduleRetention = (kind: RunKind, obj: KubeObject): void => {
    if (!retention || kind.kind !== 'AgentRun') return
    const delay = retentionDelay(obj, config, Date.now())
    if (delay !== undefined) retention.enqueueAfter(retentionRequest(namespaceOf(obj)), delay)
  }
  const enqueueOwners = (obj: KubeObject): void => {
    for (const request of ownerRunsOf(obj)) runControllers[request.kind as RunKindName]?.enqueue(request)
  }

  const watch = (): void => {
    for (const kind of RUN_KINDS) {
      informers.runs[kind.kind].addHandlers({
        onAdd: (obj) => {
          enqueueRun(kind.kind, obj)
          enqueueParent(obj)
          scheduleRetention(kind, obj)
        },
        onUpdate: (oldObj, obj) => {
          enqueueRun(kind.kind, obj)
          enqueueParent(obj)
          scheduleRetention(kind, obj)
          const outcome = terminalTransition(kind.kind, oldObj, obj)
          if (outcome) metrics.runOutcomes.inc({ ...outcome })
        },
        onDelete: (obj) => {
          memory.forgetRun(obj.metadata?.uid ?? '')
          enqueueParent(obj)
        },
      })
    }
    for (const informer of informers.jobs) {
      informer.addHandlers({
        onAdd: (job) => {
          memory.noteJobPresent(qualified(namespaceOf(job), nameOf(job)))
          enqueueOwners(job)
        },
        onUpdate: (_old, job) => enqueueOwners(job),
        onDelete: (job) => {
          memory.noteJobGone(qualified(namespaceOf(job), nameOf(job)), Date.now())
          enqueueOwners(job)
        },
      })
    }
    for (const informer of informers.workflows) {
      informer.addHandlers({ onAdd: enqueueOwners, onUpdate: (_old, wf) => enqueueOwners(wf), onDelete: enqueueOwners })
    }
  }

  return { controllers: [...Object.values(runControllers), ...(retention ? [retention] : [])], watch }
}
