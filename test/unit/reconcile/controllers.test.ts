/** runguard's controllers and their watches: which watch events enqueue which keys, on which controller. */
import t from 'tap'
import { loadConfig } from '../../../src/config.ts'
import type { Controller } from '../../../src/controller/controller.ts'
import type { Informer, InformerHandlers } from '../../../src/controller/informer.ts'
import type { KubeObject } from '../../../src/kube/objects.ts'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { createRunguardControllers, type RunguardInformers } from '../../../src/reconcile/controllers.ts'
import { agentRun, childOf, FakeApi, FakeRecorder, iso, job, orchestrationRun, T0_MS, toolRun, workflow } from './fixtures.ts'

/** An informer stand-in: the test fires its handlers. */
class FakeInformer {
  handlers: Array<InformerHandlers<KubeObject>> = []
  addHandlers(handlers: InformerHandlers<KubeObject>): () => void {
    this.handlers.push(handlers)
    return () => {}
  }
  get(): KubeObject | undefined {
    return undefined
  }
  list(): KubeObject[] {
    return []
  }
  add(obj: KubeObject): void {
    for (const h of this.handlers) h.onAdd?.(obj)
  }
  update(oldObj: KubeObject, newObj: KubeObject): void {
    for (const h of this.handlers) h.onUpdate?.(oldObj, newObj)
  }
  delete(obj: KubeObject): void {
    for (const h of this.handlers) h.onDelete?.(obj)
  }
}

function setup(env: Record<string, string> = {}) {
  const fakes = { AgentRun: new FakeInformer(), OrchestrationRun: new FakeInformer(), ToolRun: new FakeInformer(), jobs: new FakeInformer(), workflows: new FakeInformer() }
  const informers = {
    runs: { AgentRun: fakes.AgentRun, OrchestrationRun: fakes.OrchestrationRun, ToolRun: fakes.ToolRun },
    jobs: [fakes.jobs],
    workflows: [fakes.workflows],
  } as unknown as RunguardInformers
  const metrics = createMetrics({ component: 'reconciler', version: 'test', processMetrics: false })
  const { controllers, watch } = createRunguardControllers({
    config: loadConfig(env),
    informers,
    api: new FakeApi(),
    recorder: new FakeRecorder(),
    metrics,
    logger: silentLogger(),
  })
  const byName = new Map(controllers.map((c) => [c.name, c]))
  /** Keys queued now, per controller (the controllers are not started). */
  const queued = (name: string): number => (byName.get(name) as Controller).queue.len()
  const delayed = (name: string): number => (byName.get(name) as Controller).queue.waitingCount()
  t.teardown(() => Promise.all(controllers.map((c) => c.stop())))
  return { fakes, controllers, watch, queued, delayed, metrics }
}

t.test('one controller per run kind, plus retention when it is enabled', async (t) => {
  t.same(setup().controllers.map((c) => c.name), ['agentrun', 'orchestrationrun', 'toolrun', 'agentrun-retention'])
  t.same(setup({ RUNGUARD_RETENTION_ENABLED: 'false' }).controllers.map((c) => c.name), ['agentrun', 'orchestrationrun', 'toolrun'])
})

t.test('nothing is enqueued before watch(); only the cancel clock listens from the start', async (t) => {
  const s = setup()
  t.equal(s.fakes.AgentRun.handlers.length, 1, 'the run reconciler notes when cancels are first seen, leader or not')
  t.equal(s.fakes.jobs.handlers.length, 0)
  s.fakes.AgentRun.add(agentRun('early', { cancel: true }))
  t.equal(s.queued('agentrun'), 0, 'that listener enqueues nothing')
  s.watch()
  t.equal(s.fakes.AgentRun.handlers.length, 2)
  t.equal(s.fakes.jobs.handlers.length, 1)
  t.equal(s.fakes.workflows.handlers.length, 1)
})

t.test('a run event enqueues the run and its parent OrchestrationRun', async (t) => {
  const s = setup()
  s.watch()
  s.fakes.AgentRun.add(agentRun('step', childOf('parent', { status: { phase: 'Running' } })))
  t.equal(s.queued('agentrun'), 1)
  t.equal(s.queued('orchestrationrun'), 1, 'the parent')
  s.fakes.OrchestrationRun.add(orchestrationRun('parent'))
  t.equal(s.queued('orchestrationrun'), 1, 'the same key, once')
  s.fakes.ToolRun.delete(toolRun('gone', childOf('other')))
  t.equal(s.queued('toolrun'), 0, 'a deleted run is not reconciled')
  t.equal(s.queued('orchestrationrun'), 2, 'its parent is')
})

t.test('Job and Workflow events enqueue the runs they belong to', async (t) => {
  const s = setup()
  s.watch()
  s.fakes.jobs.add(job('j1', 'r1'))
  s.fakes.jobs.delete(job('j2', 'lint', { label: 'tool' }))
  s.fakes.workflows.update(workflow('wf', 'r2'), workflow('wf', 'r2', { phase: 'Failed' }))
  t.equal(s.queued('agentrun'), 2, 'r1 and r2')
  t.equal(s.queued('toolrun'), 1, 'lint')
})

t.test('a terminal transition is counted once; a terminal AgentRun schedules its namespace\'s retention pass', async (t) => {
  const s = setup()
  s.watch()
  const running = agentRun('r', { status: { phase: 'Running' } })
  const finished = agentRun('r', { status: { phase: 'Succeeded', finishedAt: iso(T0_MS) } })
  s.fakes.AgentRun.update(running, finished)
  s.fakes.AgentRun.update(finished, finished)
  t.match(await s.metrics.registry.getSingleMetricAsString('agents_run_outcomes_total'), /agents_run_outcomes_total\{kind="AgentRun",outcome="Succeeded",runtime="job"\} 1$/m, 'counted once')
  t.equal(s.delayed('agentrun-retention'), 1, 'the pass waits for the deadline')
})
