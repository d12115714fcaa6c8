/**
 * A local HTTPS server standing in for the API server: a real certificate from
 * writeCertificateBundle (CA in `caPem`, the CA itself in `ca` to issue client certificates), every
 * request recorded with the client certificate it presented, answers chosen by the test.
 */
import { writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import type { CertificateAuthority } from '../../src/certs/generate.ts'
import { readCertificateAuthority, writeCertificateBundle } from '../../src/certs/write.ts'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** Raw request body, and parsed when it is JSON. */
  text: string
  json: unknown
  /** Subject CN of the client certificate presented, if any. */
  clientCommonName: string | undefined
  /** Which TCP connection carried it (1, 2, …), to see keep-alive at work. */
  connection: number
}

/** `body` a string: sent as text/plain; anything else as JSON. `hang`: never answer; `drop`: close the connection without answering (the client sees ECONNRESET, "socket hang up"). */
export type Answer = { status: number; body?: unknown } | 'hang' | 'drop'

export interface TlsApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string
  port: number
  caPem: string
  ca: CertificateAuthority
  /** Temporary folder holding the bundle; tests may put more files there. Removed by close(). */
  dir: string
  seen: SeenRequest[]
  connections(): number
  /** A kubeconfig in `dir` for this server (its CA trusted) with `user` as the credentials; returns its path. */
  writeKubeconfig(fileName: string, user: Record<string, unknown>): string
  close(): Promise<void>
}

export interface TlsApiServerOptions {
  /** SANs of the serving certificate; default `localhost` and `127.0.0.1`. */
  dnsNames?: string[]
  ipAddresses?: string[]
}

export async function tlsApiServer(answer: (req: SeenRequest) => Answer, options: TlsApiServerOptions = {}): Promise<TlsApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'runguard-api-'))
  const bundle = await writeCertificateBundle(join(dir, 'serving'), {
    dnsNames: options.dnsNames ?? ['localhost'],
    ipAddresses: options.ipAddresses ?? ['127.0.0.1'],
  })
  const ca = await readCertificateAuthority(join(dir, 'serving'))
  const seen: SeenRequest[] = []
  const sockets = new Set<Socket>()
  const connectionIds = new WeakMap<Socket, number>()
  let connectionCount = 0

  const server = createServer(
    {
      cert: await readFile(bundle.certPath, 'utf8'),
      key: await readFile(bundle.keyPath, 'utf8'),
      // Ask for a client certificate signed by our CA, but let the test see requests without one.
      ca: bundle.caPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const socket = req.socket as TLSSocket
        const peer = socket.getPeerCertificate()
        const entry: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          text,
          json: parseJson(text),
          clientCommonName: socket.authorized && peer.subject ? String(peer.subject.CN) : undefined,
          connection: connectionIds.get(req.socket) ?? 0,
        }
        seen.push(entry)
        const reply = answer(entry)
        if (reply === 'hang') return
        if (reply === 'drop') {
          req.socket.destroy()
          return
        }
        const isText = typeof reply.body === 'string'
        const payload = reply.body === undefined ? '' : isText ? String(reply.body) : JSON.stringify(reply.body)
        res.writeHead(reply.status, { 'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json' })
        res.end(payload)
      })
    },
  )
  server.on('secureConnection', (socket: TLSSocket) => {
    connectionIds.set(socket, ++connectionCount)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: bundle.caPem,
    ca,
    dir,
    seen,
    connections: () => connectionCount,
    writeKubeconfig(fileName, user) {
      const path = join(dir, fileName)
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': 'test',
          clusters: [{ name: 'test', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': Buffer.from(bundle.caPem).toString('base64') } }],
          users: [{ name: 'test', user }],
          contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
        }),
      )
      return path
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
