/**
 * A raw HTTP/1.1 client over TLS (or plain TCP) for hostile traffic: it writes exactly the bytes it
 * is given — broken framing, pipelined requests, bodies a byte at a time — and reads responses back
 * one by one, telling an answer from a connection the server closed.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

export type Reply = { kind: 'answer'; status: number; closeAfter: boolean; ms: number } | { kind: 'closed'; ms: number } | { kind: 'timeout'; ms: number }

export interface Target {
  port: number
  ca: string
}

export class RawConnection {
  readonly socket: Socket | TLSSocket
  #buffer: Buffer = Buffer.alloc(0)
  #ended = false
  #waiter: (() => void) | undefined
  #opened = Date.now()

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
      this.#wake()
    })
    const end = () => {
      this.#ended = true
      this.#wake()
    }
    socket.on('end', end)
    socket.on('close', end)
    socket.on('error', end)
  }

  /** A TLS connection that trusts `target.ca`; rejects when the handshake fails. */
  static tls(target: Target, timeoutMs = 10_000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: target.port, ca: target.ca, servername: 'localhost' })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('TLS handshake timed out'))
      }, timeoutMs)
      socket.once('secureConnect', () => {
        clearTimeout(timer)
        resolve(new RawConnection(socket))
      })
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  /** A plain TCP connection to the TLS port (for TLS garbage and silent connections). */
  static tcp(target: Pick<Target, 'port'>): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: target.port })
      socket.once('connect', () => resolve(new RawConnection(socket)))
      socket.once('error', reject)
    })
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Milliseconds since the connection opened. */
  get age(): number {
    return Date.now() - this.#opened
  }

  write(bytes: string | Buffer): void {
    if (!this.#ended && !this.socket.destroyed) this.socket.write(bytes)
  }

  /** Half-closes our side (the server sees the end of the request stream). */
  end(): void {
    if (!this.socket.destroyed) this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }

  #wake(): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.()
  }

  /** Waits for the next complete response, the server closing the connection, or `timeoutMs`. */
  async next(timeoutMs: number): Promise<Reply> {
    const started = Date.now()
    for (;;) {
      const parsed = this.#take()
      if (parsed) return { kind: 'answer', ...parsed, ms: Date.now() - started }
      if (this.#ended) return { kind: 'closed', ms: Date.now() - started }
      const left = timeoutMs - (Date.now() - started)
      if (left <= 0) return { kind: 'timeout', ms: Date.now() - started }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }

  /** Waits until the server closes the connection (true) or `timeoutMs` passes (false). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const started = Date.now()
    while (!this.#ended) {
      const left = timeoutMs - (Date.now() - started)
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000))
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return true
  }

  /** One complete response off the front of the buffer (Content-Length or chunked), if there is one. */
  #take(): { status: number; closeAfter: boolean } | undefined {
    const headEnd = this.#buffer.indexOf('\r\n\r\n')
    if (headEnd < 0) return undefined
    const head = this.#buffer.subarray(0, headEnd).toString('latin1')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
    const closeAfter = /\r\nconnection:\s*close/i.test(head)
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
    let bodyEnd: number
    if (length !== undefined) {
      bodyEnd = headEnd + 4 + Number(length)
      if (this.#buffer.length < bodyEnd) return undefined
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = this.#buffer.indexOf('\r\n0\r\n\r\n', headEnd)
      if (last < 0) return undefined
      bodyEnd = last + 7
    } else {
      bodyEnd = headEnd + 4
    }
    this.#buffer = this.#buffer.subarray(bodyEnd)
    return { status, closeAfter }
  }
}

/** An HTTP/1.1 POST as bytes; a header given as null is left out. */
export function rawPost(path: string, body: string | Buffer, headers: Record<string, string | number | null> = {}): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body
  const all: Record<string, string | number | null> = { 'Content-Type': 'application/json', 'Content-Length': payload.length, ...headers }
  const lines = [`POST ${path} HTTP/1.1`, 'Host: localhost', ...Object.entries(all).flatMap(([k, v]) => (v === null ? [] : [`${k}: ${v}`]))]
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload])
}
