/** A tiny HTTPS client for server tests: real TLS, caller-chosen CA, keep-alive optional. */
import { Agent, request as httpsRequest } from 'node:https'
import { request as httpRequest } from 'node:http'
import type { TLSSocket } from 'node:tls'

export interface HttpResult {
  status: number
  body: string
  json: unknown
  /** SHA-256 fingerprint of the certificate the server presented. */
  peerFingerprint?: string
}

export interface PostOptions {
  ca: string | string[]
  agent?: Agent
  contentType?: string
  /** Send the body in two halves with a pause between them (to keep a request in flight). */
  pauseMidBodyMs?: number
  onFirstHalfSent?: () => void
  /** Fail when no answer comes within this long (default: wait). */
  timeoutMs?: number
}

/** Rejects the request when it has not been answered within `timeoutMs`. */
function failAfter(req: ReturnType<typeof httpsRequest>, timeoutMs: number | undefined): void {
  if (timeoutMs === undefined) return
  req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

export function postHttps(port: number, path: string, body: string | Buffer, options: PostOptions): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca: options.ca,
        servername: 'localhost',
        agent: options.agent ?? false,
        headers: { 'content-type': options.contentType ?? 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const socket = res.socket as TLSSocket
        const peerFingerprint = socket.getPeerCertificate?.()?.fingerprint256
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, body: text, json: parse(text), peerFingerprint })
        })
        res.on('error', reject)
      },
    )
    failAfter(req, options.timeoutMs)
    req.on('error', reject)
    if (options.pauseMidBodyMs) {
      const half = Math.floor(payload.length / 2)
      req.write(payload.subarray(0, half))
      options.onFirstHalfSent?.()
      setTimeout(() => req.end(payload.subarray(half)), options.pauseMidBodyMs)
    } else {
      req.end(payload)
    }
  })
}

type Request = typeof httpsRequest

/** GET over HTTPS (trusting `ca`) or, without a CA, plain HTTP. */
function get(port: number, path: string, ca?: string, timeoutMs?: number): Promise<HttpResult> {
  const send: Request = ca ? httpsRequest : (httpRequest as Request)
  const options = ca ? { host: '127.0.0.1', port, path, ca, servername: 'localhost', agent: false } : { host: '127.0.0.1', port, path }
  return new Promise((resolve, reject) => {
    const req = send(options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, body: text, json: parse(text) })
      })
    })
    failAfter(req, timeoutMs)
    req.on('error', reject)
    req.end()
  })
}

export const getHttps = (port: number, path: string, ca: string): Promise<HttpResult> => get(port, path, ca)
export const getHttp = (port: number, path: string, timeoutMs?: number): Promise<HttpResult> => get(port, path, undefined, timeoutMs)
