import t from 'tap'
import { ConfigError, loadConfig } from '../../../src/config.ts'

const selfManaged = {
  RUNGUARD_TLS_MODE: 'self-managed',
  RUNGUARD_TLS_SECRET_NAME: 'guard-runguard-webhook-tls',
  RUNGUARD_TLS_SERVICE_NAME: 'guard-runguard-webhook',
  RUNGUARD_TLS_LEASE_NAME: 'guard-runguard-webhook-tls',
  RUNGUARD_WEBHOOK_CONFIGURATIONS: 'guard-runguard-mutating,guard-runguard-validating',
}

t.test('defaults: no mode, nothing managed', async (t) => {
  t.same(loadConfig({}, 'p').tls, {
    mode: '',
    secretName: '',
    serviceName: 'runguard-webhook',
    leaseName: 'runguard-webhook-tls',
    webhookConfigurations: [],
    caValidityDays: 3650,
    certValidityDays: 365,
    renewBeforeDays: 30,
  })
})

t.test('the chart\'s self-managed environment', async (t) => {
  const tls = loadConfig({ ...selfManaged, RUNGUARD_TLS_RENEW_BEFORE_DAYS: '10' }, 'p').tls
  t.equal(tls.mode, 'self-managed')
  t.same(tls.webhookConfigurations, ['guard-runguard-mutating', 'guard-runguard-validating'])
  t.equal(tls.renewBeforeDays, 10)
})

t.test('validation names the variable', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ RUNGUARD_TLS_MODE: 'selfmanaged' }, /RUNGUARD_TLS_MODE/],
    [{ ...selfManaged, RUNGUARD_TLS_SECRET_NAME: '' }, /needs RUNGUARD_TLS_SECRET_NAME/],
    [{ ...selfManaged, RUNGUARD_TLS_SECRET_NAME: 'Bad_Name' }, /RUNGUARD_TLS_SECRET_NAME: "Bad_Name" is not a valid Secret name/],
    [{ ...selfManaged, RUNGUARD_TLS_SERVICE_NAME: 'a.b' }, /RUNGUARD_TLS_SERVICE_NAME/],
    [{ ...selfManaged, RUNGUARD_WEBHOOK_CONFIGURATIONS: 'ok,NOT OK' }, /RUNGUARD_WEBHOOK_CONFIGURATIONS/],
    [{ ...selfManaged, RUNGUARD_TLS_CERT_VALIDITY_DAYS: '0' }, /RUNGUARD_TLS_CERT_VALIDITY_DAYS/],
    [{ ...selfManaged, RUNGUARD_TLS_RENEW_BEFORE_DAYS: '365' }, /RUNGUARD_TLS_RENEW_BEFORE_DAYS \(365\) must be less than RUNGUARD_TLS_CERT_VALIDITY_DAYS \(365\)/],
    [{ ...selfManaged, RUNGUARD_TLS_CA_VALIDITY_DAYS: '100' }, /must not exceed RUNGUARD_TLS_CA_VALIDITY_DAYS/],
  ]
  for (const [env, message] of bad) t.throws(() => loadConfig(env, 'p'), message instanceof RegExp ? { message } : ConfigError, JSON.stringify(env))
})
