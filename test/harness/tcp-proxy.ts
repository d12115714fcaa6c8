/**
 * A TCP proxy on loopback for fault-injection tests: put it between a client (e.g. the
 * reconciler, through a kubeconfig whose server is {@link TcpProxy.address}) and a server (the API
 * server), then make the path between them bad and heal it again. It forwards bytes only, so TLS
 * stays end to end and the client still verifies the server's certificate (the API server's
 * serving certificate names 127.0.0.1).
 *
 *   const proxy = await startTcpProxy({ port: cp.ports.apiServer })
 *   proxy.setLatency(200)   // every chunk, each way, arrives 200 ms late (order kept)
 *   proxy.refuse()          // every connection, open or new, is cut at once
 *   proxy.blackHole()       // nothing moves: bytes wait in the proxy, new connections hang
 *   proxy.resetAll()        // one cut: end the open connections abruptly (watches end mid-stream)
 *   proxy.heal()            // pass everything again (held bytes flow on)
 *
 * A black hole behaves like a partition that TCP outlives: held bytes are delivered on heal(),
 * unless one side closed meanwhile — then the other side is cut instead, like a RST arriving
 * before the retransmissions.
 *
 * Every accepted connection is counted with its time ({@link TcpProxy.connectionTimes}), and every
 * chunk the client sends ({@link TcpProxy.clientChunkTimes}): behind TLS the proxy cannot see
 * requests, but each new connection is an attempt, and each request is at least one chunk.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxyOptions {
  /** Where to forward to. */
  port: number
  host?: string
  /** Listen address; default 127.0.0.1. */
  listenHost?: string
}

type Mode = 'pass' | 'refuse' | 'blackhole'

/** One direction of one connection: chunks wait here for their delivery time (latency) or a heal. */
interface Lane {
  queue: Array<{ dueAt: number; chunk: Buffer }>
  timer: NodeJS.Timeout | undefined
}

interface Connection {
  client: Socket
  upstream: Socket | undefined
  toServer: Lane
  toClient: Lane
  closed: boolean
}

export interface TcpProxy {
  /** `host:port` clients dial. */
  readonly host: string
  readonly port: number
  /** `https://host:port`, for a kubeconfig. */
  readonly url: string
  /** Extra one-way delay for every chunk, both directions. */
  setLatency(ms: number): void
  /** Cut this fraction of new connections at once (0…1). */
  setDropProbability(probability: number): void
  /** Cut every open connection and every new one until heal(). */
  refuse(): void
  /** Hold every byte (and new connections) until heal(). */
  blackHole(): void
  /** Cut the connections open now; later ones are unaffected. */
  resetAll(): void
  /** Back to passing everything (latency and drop probability stay as set). */
  heal(): void
  /** Connections open now. */
  openConnections(): number
  /** Epoch-ms time of every accepted connection. */
  readonly connectionTimes: readonly number[]
  /** Epoch-ms time of every chunk a client sent. */
  readonly clientChunkTimes: readonly number[]
  close(): Promise<void>
}

/** How many of `times` fall in [from, to). */
export function countBetween(times: readonly number[], from: number, to: number): number {
  let count = 0
  for (const t of times) if (t >= from && t < to) count++
  return count
}

/** Counts of `times` per whole second from `from` to `to`. */
export function perSecond(times: readonly number[], from: number, to: number): number[] {
  const bins: number[] = []
  for (let start = from; start < to; start += 1000) bins.push(countBetween(times, start, Math.min(to, start + 1000)))
  return bins
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = options.host ?? '127.0.0.1'
  const listenHost = options.listenHost ?? '127.0.0.1'
  let mode: Mode = 'pass'
  let latencyMs = 0
  let dropProbability = 0
  const connections = new Set<Connection>()
  /** Every socket not yet closed, including half-closed ones no longer in `connections`: close() ends them all. */
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const connectionTimes: number[] = []
  const clientChunkTimes: number[] = []

  const lane = (): Lane => ({ queue: [], timer: undefined })

  const destroy = (connection: Connection): void => {
    if (connection.closed) return
    connection.closed = true
    for (const l of [connection.toServer, connection.toClient]) {
      clearTimeout(l.timer)
      l.queue.length = 0
    }
    // destroy(), not resetAndDestroy(): the peer sees the connection end abruptly either way (a
    // FIN in the middle of a TLS record or an HTTP message, or a RST when it had unread data).
    // With resetAndDestroy() the test process was seen, in about one run of four, to spin at
    // 100 % CPU in its main thread once the tests had ended (cause not pinned down).
    if (!connection.client.destroyed) connection.client.destroy()
    if (connection.upstream && !connection.upstream.destroyed) connection.upstream.destroy()
    connections.delete(connection)
  }

  /** Delivers what is due on `l` to `to`; reschedules itself for the rest. Holds everything while black-holed. */
  const pump = (connection: Connection, l: Lane, to: () => Socket | undefined): void => {
    clearTimeout(l.timer)
    l.timer = undefined
    if (connection.closed || mode === 'blackhole') return
    const target = to()
    if (target === undefined) return // upstream still connecting: flushed once it is
    const now = Date.now()
    while (l.queue.length > 0 && l.queue[0]!.dueAt <= now) target.write(l.queue.shift()!.chunk)
    if (l.queue.length > 0) l.timer = setTimeout(() => pump(connection, l, to), Math.max(0, l.queue[0]!.dueAt - now))
  }

  const enqueue = (connection: Connection, l: Lane, to: () => Socket | undefined, chunk: Buffer): void => {
    // Order is kept even when the latency changes: nothing is due before what is ahead of it.
    const last = l.queue.at(-1)?.dueAt ?? 0
    l.queue.push({ dueAt: Math.max(Date.now() + latencyMs, last), chunk })
    if (l.timer === undefined) pump(connection, l, to)
  }

  const connectUpstream = (connection: Connection): void => {
    if (connection.closed || connection.upstream) return
    const upstream = connect({ host: targetHost, port: options.port })
    track(upstream)
    upstream.setNoDelay(true)
    connection.upstream = upstream
    upstream.on('connect', () => pump(connection, connection.toServer, () => (upstream.connecting ? undefined : upstream)))
    upstream.on('data', (chunk: Buffer) => enqueue(connection, connection.toClient, () => connection.client, chunk))
    upstream.on('error', () => destroy(connection))
    upstream.on('close', () => {
      // The server ended it: pass the end on once the held bytes are out (unless black-holed: then cut).
      if (connection.closed) return
      if (mode === 'blackhole') return destroy(connection)
      const finish = (): void => {
        if (connection.toClient.queue.length > 0) setTimeout(finish, 5)
        else {
          connection.closed = true
          connection.client.end()
          connections.delete(connection)
        }
      }
      finish()
    })
  }

  const server: Server = createServer((client) => {
    connectionTimes.push(Date.now())
    track(client)
    client.setNoDelay(true)
    const connection: Connection = { client, upstream: undefined, toServer: lane(), toClient: lane(), closed: false }
    connections.add(connection)
    client.on('error', () => destroy(connection))
    if (mode === 'refuse' || (dropProbability > 0 && Math.random() < dropProbability)) {
      destroy(connection)
      return
    }
    client.on('data', (chunk: Buffer) => {
      clientChunkTimes.push(Date.now())
      enqueue(connection, connection.toServer, () => (connection.upstream && !connection.upstream.connecting ? connection.upstream : undefined), chunk)
    })
    client.on('close', () => {
      if (connection.closed) return
      // The client went away while its bytes were held: drop them (see the module comment).
      if (mode === 'blackhole' || connection.toServer.queue.length === 0) destroy(connection)
      else {
        const finish = (): void => {
          if (connection.closed) return
          if (connection.toServer.queue.length > 0) setTimeout(finish, 5)
          else destroy(connection)
        }
        finish()
      }
    })
    if (mode !== 'blackhole') connectUpstream(connection)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, listenHost, () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('unexpected proxy address')
  const port = address.port

  const resetAll = (): void => {
    for (const connection of [...connections]) destroy(connection)
  }

  return {
    host: listenHost,
    port,
    url: `https://${listenHost}:${port}`,
    connectionTimes,
    clientChunkTimes,
    setLatency(ms) {
      latencyMs = Math.max(0, ms)
    },
    setDropProbability(probability) {
      dropProbability = Math.min(1, Math.max(0, probability))
    },
    refuse() {
      mode = 'refuse'
      resetAll()
    },
    blackHole() {
      mode = 'blackhole'
      for (const connection of connections) {
        clearTimeout(connection.toServer.timer)
        clearTimeout(connection.toClient.timer)
        connection.toServer.timer = undefined
        connection.toClient.timer = undefined
      }
    },
    resetAll,
    heal() {
      mode = 'pass'
      for (const connection of [...connections]) {
        if (!connection.upstream) connectUpstream(connection)
        const upstream = connection.upstream
        pump(connection, connection.toServer, () => (upstream && !upstream.connecting ? upstream : undefined))
        pump(connection, connection.toClient, () => connection.client)
      }
    },
    openConnections: () => connections.size,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      resetAll()
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}
