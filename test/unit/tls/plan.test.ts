import t from 'tap'
import { planCertificates, servingDnsNames, type CertFacts } from '../../../src/tls/plan.ts'

const DAY = 24 * 60 * 60 * 1000
const now = new Date('2026-11-28T10:00:00Z')
const inDays = (days: number) => new Date(now.getTime() + days * DAY)
const RENEW = 30 * DAY

const healthy = (): CertFacts => ({
  ca: { notAfter: inDays(3000) },
  leaf: { notAfter: inDays(300), issuedByCurrentCa: true, coversNames: true },
  bundle: [inDays(3000)],
  bundleHasCa: true,
  injected: true,
})

t.test('create when there is no usable CA', async (t) => {
  t.equal(planCertificates({ bundle: [], bundleHasCa: false, injected: true }, now, RENEW).action, 'create')
  t.equal(planCertificates({ ...healthy(), ca: undefined }, now, RENEW).action, 'create', 'a leaf without its CA key is useless for renewal')
})

t.test('keep a valid pair', async (t) => {
  t.same(planCertificates(healthy(), now, RENEW), { action: 'keep', reason: 'valid' })
})

t.test('renew the serving certificate renewBefore ahead of its expiry, and when it is wrong', async (t) => {
  t.equal(planCertificates({ ...healthy(), leaf: { ...healthy().leaf!, notAfter: inDays(31) } }, now, RENEW).action, 'keep', '31 days left: keep')
  t.equal(planCertificates({ ...healthy(), leaf: { ...healthy().leaf!, notAfter: inDays(30) } }, now, RENEW).action, 'issue-leaf', '30 days left: renew')
  t.equal(planCertificates({ ...healthy(), leaf: { ...healthy().leaf!, notAfter: inDays(-1) } }, now, RENEW).action, 'issue-leaf', 'expired')
  t.equal(planCertificates({ ...healthy(), leaf: undefined }, now, RENEW).action, 'issue-leaf', 'missing or key mismatch')
  t.equal(planCertificates({ ...healthy(), leaf: { ...healthy().leaf!, coversNames: false } }, now, RENEW).action, 'issue-leaf', 'Service renamed')
})

t.test('rotate the CA with overlap: new CA first, serving certificate only once it is injected', async (t) => {
  const expiring = { ...healthy(), ca: { notAfter: inDays(20) } }
  t.equal(planCertificates(expiring, now, RENEW).action, 'rotate-ca', 'CA inside renewBefore')
  const rotated: CertFacts = { ...healthy(), leaf: { ...healthy().leaf!, issuedByCurrentCa: false }, bundle: [inDays(3650), inDays(20)], injected: false }
  const waiting = planCertificates(rotated, now, RENEW)
  t.equal(waiting.action, 'keep', 'old serving certificate kept while the new CA is not in every caBundle')
  t.match(waiting.reason, /waiting for the rotated CA/)
  t.equal(planCertificates({ ...rotated, injected: true }, now, RENEW).action, 'issue-leaf', 'injected: move the serving certificate to the new CA')
  t.equal(planCertificates({ ...rotated, leaf: { ...rotated.leaf!, notAfter: inDays(-1) } }, now, RENEW).action, 'issue-leaf', 'an expired leaf is replaced even before injection')
})

t.test('rebuild the bundle when it lacks the CA or holds an expired certificate', async (t) => {
  t.equal(planCertificates({ ...healthy(), bundle: [inDays(3000), inDays(-1)] }, now, RENEW).action, 'rebuild-bundle')
  t.equal(planCertificates({ ...healthy(), bundleHasCa: false }, now, RENEW).action, 'rebuild-bundle')
})

t.test('servingDnsNames', async (t) => {
  t.same(servingDnsNames('guard-runguard-webhook', 'guard-ns'), [
    'guard-runguard-webhook.guard-ns.svc',
    'guard-runguard-webhook.guard-ns.svc.cluster.local',
    'guard-runguard-webhook',
    'guard-runguard-webhook.guard-ns',
  ])
})
