import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { applyAction, currentCa, inspectMaterial, issuedBy, materialFromSecretData, pemCertificates, secretDataOf, servingLeaf, type TlsMaterial } from '../../../src/tls/material.ts'
import { planCertificates } from '../../../src/tls/plan.ts'

const DAY = 24 * 60 * 60 * 1000
const names = ['svc.ns.svc', 'svc.ns.svc.cluster.local', 'svc', 'svc.ns']
const settings = { dnsNames: names, caValidityDays: 3650, certValidityDays: 365, now: new Date() }

t.test('create: a CA, a serving certificate it signed for the Service names, round-trips through Secret data', async (t) => {
  const material = await applyAction('create', {}, settings)
  const back = materialFromSecretData(secretDataOf(material))
  t.same(back, material)
  const ca = currentCa(back)
  const leaf = servingLeaf(back)
  t.ok(ca && leaf && issuedBy(leaf, ca), 'leaf signed by the CA')
  const facts = inspectMaterial(back, names, true)
  t.ok(facts.leaf?.coversNames && facts.leaf.issuedByCurrentCa && facts.bundleHasCa)
  t.equal(planCertificates(facts, new Date(), 30 * DAY).action, 'keep', 'fresh material needs nothing')
  t.equal(inspectMaterial(back, [...names, 'other'], true).leaf?.coversNames, false, 'another name is not covered')
})

t.test('rotate-ca keeps the serving certificate and puts the new CA first in the bundle; issue-leaf then moves to it', async (t) => {
  const first = await applyAction('create', {}, settings)
  const oldCa = currentCa(first)!
  const rotated = await applyAction('rotate-ca', first, settings)
  t.equal(rotated.tlsCrt, first.tlsCrt, 'serving certificate unchanged')
  const bundle = pemCertificates(rotated.caCrt)
  t.equal(bundle.length, 2, 'bundle holds both CAs (overlap)')
  const newCa = currentCa(rotated)!
  t.not(newCa.fingerprint256, oldCa.fingerprint256)
  t.equal(bundle[0]!.fingerprint256, newCa.fingerprint256, 'new CA first')
  t.ok(bundle.some((c) => c.fingerprint256 === oldCa.fingerprint256), 'old CA still trusted')
  const facts = inspectMaterial(rotated, names, false)
  t.equal(facts.leaf?.issuedByCurrentCa, false)
  t.equal(planCertificates(facts, new Date(), 30 * DAY).action, 'keep', 'waits for injection')
  const moved = await applyAction('issue-leaf', rotated, settings)
  t.ok(issuedBy(servingLeaf(moved)!, newCa), 'new leaf from the new CA')
  t.equal(pemCertificates(moved.caCrt).length, 2, 'old CA stays in the bundle until it expires')
})

t.test('unusable material reads as nothing', async (t) => {
  const broken: TlsMaterial = { tlsCrt: 'nope', tlsKey: 'nope', caCrt: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', caKey: 'x' }
  t.equal(currentCa(broken), undefined)
  t.equal(servingLeaf(broken), undefined)
  t.equal(planCertificates(inspectMaterial(broken, names, true), new Date(), 30 * DAY).action, 'create')
  const a = await applyAction('create', {}, settings)
  const b = await applyAction('create', {}, settings)
  t.equal(servingLeaf({ ...a, tlsKey: b.tlsKey }), undefined, 'a key that does not match is no pair')
  t.ok(new X509Certificate(a.tlsCrt).subjectAltName?.includes('DNS:svc.ns.svc'))
})
