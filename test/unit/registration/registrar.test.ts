import t from 'tap'
import { silentLogger } from '../../../src/log.ts'
import { createMetrics } from '../../../src/metrics.ts'
import { ARMED_ANNOTATION } from '../../../src/registration/arming.ts'
import type { JsonPatchOp, WebhookConfiguration } from '../../../src/registration/configuration.ts'
import type { ConfigurationClient, FoundConfiguration } from '../../../src/registration/configuration-client.ts'
import { Registrar } from '../../../src/registration/registrar.ts'
import fastJsonPatch from 'fast-json-patch'

const service = { namespace: 'ns', name: 'svc' }

function fakeConfigurations(objects: Record<string, WebhookConfiguration>): ConfigurationClient & { patches: JsonPatchOp[][] } {
  const patches: JsonPatchOp[][] = []
  return {
    patches,
    async get(name) {
      const object = objects[name]
      return object && { kind: 'validatingwebhookconfigurations', name, object: structuredClone(object) }
    },
    async patch(found: FoundConfiguration, ops) {
      patches.push(ops)
      // test ops throw on mismatch, as the API server answers 422.
      objects[found.name] = fastJsonPatch.applyPatch(structuredClone(objects[found.name]!), ops as fastJsonPatch.Operation[], true).newDocument
      return structuredClone(objects[found.name]!)
    },
  }
}

const validating = (): WebhookConfiguration => ({
  metadata: { name: 'v', annotations: { [ARMED_ANNOTATION]: 'validate=Fail' } },
  webhooks: [
    { name: 'controllers.validate', failurePolicy: 'Ignore', clientConfig: { service } },
    { name: 'validate', failurePolicy: 'Ignore', clientConfig: { service } },
  ],
})

t.test('injects, then arms only once the entry trusts what is served; gauge follows', async (t) => {
  const objects = { v: validating() }
  const configurations = fakeConfigurations(objects)
  const metrics = createMetrics({ component: 'webhook', version: 't', processMetrics: false })
  let ready = false
  const registrar = new Registrar({
    configurations,
    names: ['v', 'missing'],
    service,
    canServe: (entry) => ready && entry.clientConfig?.caBundle === 'Q0E=',
    metrics,
    logger: silentLogger(),
  })
  const first = await registrar.pass('Q0E=')
  t.same(first.missing, ['missing'])
  t.same(first.armed, [], 'not ready: not armed')
  t.ok(objects.v.webhooks!.every((w) => w.clientConfig?.caBundle === 'Q0E='), 'CA injected into both Service entries')
  t.equal((await metrics.registry.getSingleMetricAsString('runguard_webhook_armed')).includes('webhook="validate"} 0'), true)
  ready = true
  const second = await registrar.pass('Q0E=')
  t.same(second.armed, ['v/validate'])
  t.same(objects.v.webhooks!.map((w) => w.failurePolicy), ['Ignore', 'Fail'], 'only the annotated entry')
  t.match(await metrics.registry.getSingleMetricAsString('runguard_webhook_armed'), /webhook="validate"\} 1/)
  const patchesBefore = configurations.patches.length
  await registrar.pass('Q0E=')
  t.equal(configurations.patches.length, patchesBefore, 'nothing to do: no patch')
  // A helm upgrade resets the policy: the next pass arms again.
  objects.v.webhooks![1]!.failurePolicy = 'Ignore'
  t.same((await registrar.pass('Q0E=')).armed, ['v/validate'], 're-armed')
})

t.test('without a CA bundle (cert-manager, secret modes) nothing is injected', async (t) => {
  const objects = { v: validating() }
  const configurations = fakeConfigurations(objects)
  const registrar = new Registrar({ configurations, names: ['v'], canServe: () => false, metrics: createMetrics({ component: 'webhook', version: 't', processMetrics: false }), logger: silentLogger() })
  await registrar.pass(undefined)
  t.same(configurations.patches, [])
})
