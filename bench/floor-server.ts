/**
 * The floor for the admission benchmark: a bare Fastify HTTPS server that parses the same
 * bodies and answers a fixed "allowed" AdmissionReview. runguard cannot be faster than this.
 * Usage: node bench/floor-server.ts <port> <cert.pem> <key.pem>
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { DEFAULT_BODY_LIMIT } from '../src/server/limits.ts'

const [port, certFile, keyFile] = process.argv.slice(2)
const app = Fastify({ https: { cert: readFileSync(certFile as string), key: readFileSync(keyFile as string) }, bodyLimit: DEFAULT_BODY_LIMIT })
const answer = (uid: string) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } })
for (const path of ['/validate', '/mutate']) {
  app.post(path, async (request) => answer((request.body as { request?: { uid?: string } }).request?.uid ?? ''))
}
await app.listen({ port: Number(port), host: '127.0.0.1' })
process.stdout.write('ready\n')
