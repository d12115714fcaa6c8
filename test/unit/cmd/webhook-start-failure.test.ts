/** A webhook server that fails half-way through start-up leaves no port open behind it. */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { writeCertificateBundle } from '../../../src/certs/write.ts'
import { loadConfig } from '../../../src/config.ts'
import { silentLogger } from '../../../src/log.ts'
import { startWebhookServer } from '../../../src/cmd/webhook.ts'
import { freePorts, portIsFree } from '../../harness/controlplane.ts'

t.test('metrics port taken: start-up fails and the HTTPS port is released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-start-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const certs = await writeCertificateBundle(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const [port = 0, taken = 0] = await freePorts(2)
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  await t.rejects(
    startWebhookServer({ port, host: '127.0.0.1', tlsCert: certs.certPath, tlsKey: certs.keyPath, metricsPort: taken }, loadConfig({}), silentLogger(), {}),
    /EADDRINUSE/,
  )
  t.ok(await portIsFree(port), 'the HTTPS port was closed again')
})
