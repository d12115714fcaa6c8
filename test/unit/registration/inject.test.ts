import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { createCertificateAuthority, issueServingCertificate } from '../../../src/certs/generate.ts'
import type { WebhookConfiguration } from '../../../src/registration/configuration.ts'
import { bundleTrusts, bundleVerifiesLeaf, caBundlePatch, injectedEverywhere } from '../../../src/registration/inject.ts'

const service = { namespace: 'guard-ns', name: 'guard-runguard-webhook' }
const configuration = (caBundles: (string | undefined)[]): WebhookConfiguration => ({
  metadata: { name: 'guard-runguard-validating' },
  webhooks: [
    { name: 'validate.runguard.proompteng.ai', clientConfig: { service: { ...service, path: '/validate' }, ...(caBundles[0] ? { caBundle: caBundles[0] } : {}) } },
    { name: 'elsewhere.example.com', clientConfig: { url: 'https://127.0.0.1:1/validate' } },
    { name: 'other-service.example.com', clientConfig: { service: { namespace: 'guard-ns', name: 'other' } } },
    { name: 'controllers.validate.runguard.proompteng.ai', clientConfig: { service: { ...service, path: '/validate' }, ...(caBundles[1] ? { caBundle: caBundles[1] } : {}) } },
  ],
})

t.test('caBundlePatch: only our Service\'s entries, each guarded by a test of its name', async (t) => {
  const patch = caBundlePatch(configuration([undefined, 'b2xk']), service, 'bmV3')
  t.same(patch, [
    { op: 'test', path: '/webhooks/0/name', value: 'validate.runguard.proompteng.ai' },
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'bmV3' },
    { op: 'test', path: '/webhooks/3/name', value: 'controllers.validate.runguard.proompteng.ai' },
    { op: 'add', path: '/webhooks/3/clientConfig/caBundle', value: 'bmV3' },
  ])
  t.same(caBundlePatch(configuration(['bmV3', 'bmV3']), service, 'bmV3'), [], 'nothing to do when every entry has it')
  t.same(caBundlePatch({ webhooks: [] }, service, 'bmV3'), [])
  t.same(caBundlePatch(configuration([undefined, undefined]), { namespace: 'other-ns', name: service.name }, 'bmV3'), [], 'another namespace\'s Service is not ours')
})

t.test('bundle checks: trusts a CA, verifies a leaf, injected everywhere', async (t) => {
  const ca = await createCertificateAuthority()
  const other = await createCertificateAuthority()
  const leaf = new X509Certificate((await issueServingCertificate(ca, { dnsNames: ['x'] })).certPem)
  const b64 = (pem: string) => Buffer.from(pem).toString('base64')
  const both = b64(other.certPem + ca.certPem)
  t.ok(bundleVerifiesLeaf(both, leaf), 'a bundle holding the issuer verifies')
  t.notOk(bundleVerifiesLeaf(b64(other.certPem), leaf), 'another CA does not')
  t.notOk(bundleVerifiesLeaf(undefined, leaf), 'no bundle does not')
  t.notOk(bundleVerifiesLeaf('not base64 pem', leaf))
  const caCert = new X509Certificate(ca.certPem)
  t.ok(bundleTrusts(both, caCert))
  t.ok(injectedEverywhere([configuration([both, both])], service, caCert))
  t.notOk(injectedEverywhere([configuration([both, undefined])], service, caCert), 'one entry without it')
  t.ok(injectedEverywhere([], service, caCert), 'vacuously, with no configuration')
})

t.test('anyReadyEndpoint', async (t) => {
  const { anyReadyEndpoint } = await import('../../../src/registration/endpoints.ts')
  t.notOk(anyReadyEndpoint({ items: [] }), 'no slices')
  t.notOk(anyReadyEndpoint({ items: [{ endpoints: null }, { endpoints: [{ conditions: { ready: false } }] }] }), 'none ready')
  t.ok(anyReadyEndpoint({ items: [{ endpoints: [{ conditions: { ready: false } }, { conditions: { ready: true } }] }] }))
  t.ok(anyReadyEndpoint({ items: [{ endpoints: [{ conditions: {} }] }] }), 'unset ready counts as ready')
})
