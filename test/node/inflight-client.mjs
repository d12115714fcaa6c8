// Keeps admission requests in flight against one webhook pod, straight to its IP (run inside the
// node's network namespace: nsenter --net=... node inflight-client.mjs ...), so a test can see what
// happens to the requests that are in flight when the pod gets SIGTERM.
//
//   node inflight-client.mjs <podIP> <port> <ca.pem> <servername> <concurrency> <maxMs> <out.jsonl>
//
// Each of <concurrency> loops owns one keep-alive connection and POSTs a server-side dry-run
// AdmissionReview (CREATE of a valid AgentRun) to /validate, back to back. Every request is written
// to <out.jsonl> as {start, end, status, allowed, error, socket}; `socket` numbers the connection.
// A loop stops after its first refused connection (the listener is gone); the whole client stops
// after <maxMs> or on SIGTERM/SIGINT. Plain JavaScript, no dependencies: it runs on the node binary
// alone.
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:https'

const [host, port, caFile, servername, concurrencyText, maxMsText, out] = process.argv.slice(2)
const ca = readFileSync(caFile, 'utf8')
const concurrency = Number(concurrencyText)
const until = Date.now() + Number(maxMsText)
const records = []
let stopping = false
let socketSeq = 0
process.on('SIGTERM', () => (stopping = true))
process.on('SIGINT', () => (stopping = true))

function review() {
  const object = {
    apiVersion: 'agents.proompteng.ai/v1alpha1',
    kind: 'AgentRun',
    metadata: { name: `inflight-${randomUUID().slice(0, 8)}`, namespace: 'default', uid: randomUUID(), generation: 1 },
    spec: { agentRef: { name: 'codex' }, implementationSpecRef: { name: 'inflight' }, runtime: { type: 'job' }, parameters: { repository: 'proompteng/lab' } },
  }
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: 'agents.proompteng.ai', version: 'v1alpha1', kind: 'AgentRun' },
      resource: { group: 'agents.proompteng.ai', version: 'v1alpha1', resource: 'agentruns' },
      name: object.metadata.name,
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'inflight-client', groups: ['system:authenticated'] },
      object,
      oldObject: null,
      dryRun: true,
    },
  })
}

function once(agent) {
  return new Promise((resolve) => {
    const body = review()
    const start = Date.now()
    const req = request(
      { host, port: Number(port), path: '/validate?timeout=5s', method: 'POST', agent, ca, servername, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 10_000 },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c) => (text += c))
        res.on('end', () => {
          let allowed
          try {
            allowed = JSON.parse(text).response?.allowed
          } catch {
            allowed = undefined
          }
          resolve({ start, end: Date.now(), status: res.statusCode, allowed, socket: req.socket?.seq, close: res.headers.connection === 'close' })
        })
      },
    )
    req.on('socket', (socket) => {
      if (socket.seq === undefined) socket.seq = ++socketSeq
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error) => resolve({ start, end: Date.now(), status: 0, error: error.code ?? error.message, socket: req.socket?.seq }))
    req.end(body)
  })
}

async function loop() {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  while (!stopping && Date.now() < until) {
    const r = await once(agent)
    records.push(r)
    if (r.error === 'ECONNREFUSED') break
  }
  agent.destroy()
}

await Promise.all(Array.from({ length: concurrency }, loop))
writeFileSync(out, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
