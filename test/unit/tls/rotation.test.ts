import t from 'tap'
import { KubeApiError } from '../../../src/kube/errors.ts'
import { silentLogger } from '../../../src/log.ts'
import { servingLeaf, type TlsMaterial } from '../../../src/tls/material.ts'
import { reconcileTlsSecret } from '../../../src/tls/rotation.ts'
import type { OwnerReference, StoredSecret, TlsSecretClient } from '../../../src/tls/secret-client.ts'

const settings = { dnsNames: ['svc.ns.svc'], caValidityDays: 3650, certValidityDays: 365, renewBeforeDays: 30 }

/** An in-memory Secret with resourceVersion checks, like the API server's. */
function fakeSecrets(options: { conflicts?: number } = {}): TlsSecretClient & { stored: StoredSecret; writes: number } {
  let conflicts = options.conflicts ?? 0
  let version = 0
  const fake = {
    namespace: 'ns',
    name: 'tls',
    stored: { material: {}, resourceVersion: undefined } as StoredSecret,
    writes: 0,
    async get() {
      return fake.stored
    },
    async write(previous: StoredSecret, material: Required<TlsMaterial>, owner?: OwnerReference) {
      if (conflicts > 0) {
        conflicts--
        // Someone else wrote in between: the stored version moves on.
        version++
        fake.stored = { ...fake.stored, resourceVersion: String(version) }
        throw new KubeApiError('conflict', { statusCode: 409 })
      }
      if (previous.resourceVersion !== fake.stored.resourceVersion) throw new KubeApiError('conflict', { statusCode: 409 })
      version++
      fake.writes++
      const owners = [...(previous.ownerReferences ?? []).filter((ref) => ref.uid !== owner?.uid), ...(owner ? [owner] : [])]
      fake.stored = { material, resourceVersion: String(version), ...(owners.length > 0 ? { ownerReferences: owners } : {}) }
      return fake.stored
    },
  }
  return fake
}

t.test('creates the Secret, then keeps it', async (t) => {
  const secrets = fakeSecrets()
  const first = await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  t.equal(first.plan.action, 'create')
  t.ok(first.written)
  t.ok(servingLeaf(secrets.stored.material), 'a usable pair is stored')
  const second = await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  t.equal(second.plan.action, 'keep')
  t.equal(secrets.writes, 1)
})

t.test('a 409 re-reads and decides again; too many give up', async (t) => {
  const secrets = fakeSecrets({ conflicts: 2 })
  const result = await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  t.ok(result.written, 'written after two conflicts')
  const stubborn = fakeSecrets({ conflicts: 10 })
  await t.rejects(reconcileTlsSecret(stubborn, settings, async () => true, silentLogger()), { message: 'conflict' })
})

t.test('renews the serving certificate when `now` reaches renewBefore', async (t) => {
  const secrets = fakeSecrets()
  await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  const before = secrets.stored.material.tlsCrt
  const later = () => new Date(Date.now() + 340 * 24 * 60 * 60 * 1000)
  const result = await reconcileTlsSecret(secrets, settings, async () => true, silentLogger(), later)
  t.equal(result.plan.action, 'issue-leaf')
  t.not(secrets.stored.material.tlsCrt, before, 'new serving certificate')
  t.equal(secrets.stored.material.caKey, result.secret.material.caKey, 'same CA')
})

t.test('owned by the webhook Service: every write names it; an unowned Secret is adopted as it is, once', async (t) => {
  const service: OwnerReference = { apiVersion: 'v1', kind: 'Service', name: 'guard-runguard-webhook', uid: 'svc-uid-1' }
  // A Secret from before ownership (or made by hand): complete, not owned.
  const secrets = fakeSecrets()
  await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  const material = secrets.stored.material
  t.notOk(secrets.stored.ownerReferences, 'made without an owner')

  const adopted = await reconcileTlsSecret(secrets, { ...settings, owner: service }, async () => true, silentLogger())
  t.equal(adopted.plan.action, 'keep', 'nothing to renew')
  t.ok(adopted.written && adopted.adopted, 'written only to add the owner')
  t.same(secrets.stored.material, material, 'contents kept: same CA, same serving pair')
  t.same(secrets.stored.ownerReferences, [service], 'owned by the Service')
  const again = await reconcileTlsSecret(secrets, { ...settings, owner: service }, async () => true, silentLogger())
  t.notOk(again.written, 'owned already: no write')
  t.equal(secrets.writes, 2)

  // A fresh Secret is created owned; a renewal keeps the owner (and anyone else's).
  const fresh = fakeSecrets()
  await reconcileTlsSecret(fresh, { ...settings, owner: service }, async () => true, silentLogger())
  t.same(fresh.stored.ownerReferences, [service], 'created owned')
  const other: OwnerReference = { apiVersion: 'example.com/v1', kind: 'Keeper', name: 'k', uid: 'other' }
  fresh.stored = { ...fresh.stored, ownerReferences: [other, service] }
  const later = () => new Date(Date.now() + 340 * 24 * 60 * 60 * 1000)
  const renewed = await reconcileTlsSecret(fresh, { ...settings, owner: service }, async () => true, silentLogger(), later)
  t.equal(renewed.plan.action, 'issue-leaf')
  t.same(fresh.stored.ownerReferences, [other, service], 'owners kept across a renewal')
})

t.test('no owner given: an unowned Secret is left as it is', async (t) => {
  const secrets = fakeSecrets()
  await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  const second = await reconcileTlsSecret(secrets, settings, async () => true, silentLogger())
  t.notOk(second.written)
  t.equal(secrets.writes, 1)
})
