/**
 * A small Kubernetes REST client over one keep-alive connection pool: the webhook sends its
 * Events through it (importing @kubernetes/client-node costs ~85 MiB RSS by itself, most of the
 * webhook's 100 MiB budget), and the reconciler makes every call through it — lists, watches
 * (the streamer below), the Lease, Events, its reads and writes (reconciler-api.ts; a call through
 * client-node's generated API also costs several times the client CPU of a plain keep-alive
 * request). Nothing here may import client-node (that lives in client.ts, the reconciler's
 * fallback for kubeconfigs this client refuses).
 *
 * Credentials come from the shared resolver (kubeconfig.ts). From the current context it takes the
 * cluster's server, CA (file or data), insecure-skip-tls-verify and tls-server-name, and the user's
 * client certificate and key (file or data), token and tokenFile. Anything else that changes how
 * to authenticate or connect (exec, auth-provider, basic auth, impersonation, proxy-url) is
 * refused with an error naming it, rather than silently ignored.
 *
 * Bound service-account tokens rotate (about hourly): a token file is re-read at most once a
 * minute, and at once when the API server answers 401 (the request is then sent again, once, if
 * the token changed).
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { version } from '../version.ts'
import { KubeApiError } from './errors.ts'
import { resolveKubeconfig, SERVICE_ACCOUNT_DIR, type KubeconfigEnv, type NamedEntry, type ResolvedKubeconfig } from './kubeconfig.ts'
import { isJsonObject, type JsonObject } from './objects.ts'

/** How often a token file is re-read at most (a 401 re-reads it at once). */
export const TOKEN_REREAD_MS = 60_000
const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_SOCKETS = 4
/** Responses larger than this are an error: the Event calls get a few KiB back. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024

export interface RestConfig {
  /** Base URL, e.g. `https://10.96.0.1:443`; a path prefix (`https://host/k8s/clusters/c-1`) is kept. */
  server: string
  /** PEM bundle to trust; undefined: Node's default roots. */
  ca?: string
  insecureSkipTlsVerify: boolean
  /** Name to send as SNI and to check the server certificate against, instead of the server's host. */
  tlsServerName?: string
  /** PEM client certificate and its key. */
  clientCert?: string
  clientKey?: string
  /** A fixed bearer token. */
  token?: string
  /** A file holding the bearer token, re-read as it rotates; once read it wins over `token`. */
  tokenFile?: string
  /** `in-cluster` or the kubeconfig path, for the start-up log line. */
  source: string
}

/**
 * The webhook's credentials from resolveKubeconfig() (explicit file, KUBECONFIG, in-cluster), or
 * undefined when there are none. Throws when a kubeconfig is named but missing, malformed or
 * unsupported.
 */
export function loadRestConfig(env: KubeconfigEnv, explicitFile?: string, serviceAccountDir = SERVICE_ACCOUNT_DIR): RestConfig | undefined {
  const resolved = resolveKubeconfig(env, explicitFile, serviceAccountDir)
  return resolved && restConfigOf(resolved)
}

/** The current context of a resolved kubeconfig as a RestConfig. */
function restConfigOf({ config, source }: ResolvedKubeconfig): RestConfig {
  const fail = (message: string): Error => new Error(`kubeconfig ${source}: ${message}`)
  const contextName = config.currentContext
  if (contextName === undefined) throw fail('no current-context set')

  const context = entry(config.contexts, 'contexts', 'context', contextName, fail)
  const clusterName = stringField(context, 'cluster', `context "${contextName}"`, fail)
  if (clusterName === undefined) throw fail(`context "${contextName}" names no cluster`)
  const cluster = entry(config.clusters, 'clusters', 'cluster', clusterName, fail)
  const userName = stringField(context, 'user', `context "${contextName}"`, fail)
  const user = userName === undefined || userName === '' ? {} : entry(config.users, 'users', 'user', userName, fail)

  const unsupported = [
    ...['proxy-url'].filter((key) => present(cluster[key])).map((key) => `cluster "${clusterName}" ${key}`),
    ...['exec', 'auth-provider', 'username', 'password', 'as', 'as-uid', 'as-groups', 'as-user-extra']
      .filter((key) => present(user[key]))
      .map((key) => `user "${userName}" ${key}`),
  ]
  if (unsupported.length > 0) {
    throw fail(
      `unsupported: ${unsupported.join(', ')} (runguard's REST client supports client certificates, token and tokenFile; ` +
        'give it a kubeconfig with one of those, or run it in-cluster)',
    )
  }

  const where = (kind: string, name: string | undefined) => `${kind} "${name ?? ''}"`
  // File paths are absolute already: the resolver resolved them against their kubeconfig's folder.
  const material = (obj: JsonObject, owner: string, fileKey: string, dataKey: string): string | undefined => {
    const data = stringField(obj, dataKey, owner, fail)
    if (data) return Buffer.from(data, 'base64').toString('utf8')
    const path = stringField(obj, fileKey, owner, fail)
    if (!path) return undefined
    try {
      return readFileSync(path, 'utf8')
    } catch (err) {
      throw new Error(`kubeconfig ${source}: ${owner} ${fileKey}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  const clusterOwner = where('cluster', clusterName)
  const server = stringField(cluster, 'server', clusterOwner, fail)
  if (!server) throw fail(`${clusterOwner} has no server`)
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw fail(`${clusterOwner} server ${JSON.stringify(server)} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail(`${clusterOwner} server ${server}: only https and http are supported`)

  const userOwner = where('user', userName)
  const ca = material(cluster, clusterOwner, 'certificate-authority', 'certificate-authority-data')
  const clientCert = material(user, userOwner, 'client-certificate', 'client-certificate-data')
  const clientKey = material(user, userOwner, 'client-key', 'client-key-data')
  if ((clientCert === undefined) !== (clientKey === undefined)) throw fail(`${userOwner} has a client certificate or key without the other`)
  const token = stringField(user, 'token', userOwner, fail)
  const tokenFile = stringField(user, 'tokenFile', userOwner, fail) || undefined
  if (tokenFile !== undefined && !existsSync(tokenFile)) throw fail(`${userOwner} tokenFile ${tokenFile} does not exist`)
  const tlsServerName = stringField(cluster, 'tls-server-name', clusterOwner, fail)
  const insecure = cluster['insecure-skip-tls-verify']
  if (insecure !== undefined && typeof insecure !== 'boolean') throw fail(`${clusterOwner} insecure-skip-tls-verify must be true or false`)

  return {
    server: server.replace(/\/+$/, ''),
    ...(ca !== undefined ? { ca } : {}),
    insecureSkipTlsVerify: insecure === true,
    ...(tlsServerName ? { tlsServerName } : {}),
    ...(clientCert !== undefined && clientKey !== undefined ? { clientCert, clientKey } : {}),
    ...(token ? { token } : {}),
    ...(tokenFile !== undefined ? { tokenFile } : {}),
    source,
  }
}

const present = (value: unknown): boolean => value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0)

/** The `[key]` mapping of the entry of `entries` named `name`. */
function entry(entries: readonly NamedEntry[], list: string, key: string, name: string, fail: (message: string) => Error): JsonObject {
  const found = entries.find((e) => e.name === name)
  if (!found) throw fail(`${key} "${name}" not found in ${list}`)
  const value = found[key]
  if (value === undefined || value === null) return {}
  if (!isJsonObject(value)) throw fail(`${key} "${name}" is not a mapping`)
  return value
}

function stringField(obj: JsonObject, key: string, owner: string, fail: (message: string) => Error): string | undefined {
  const value = obj[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw fail(`${owner} ${key} must be a string`)
  return value
}

export interface RestResponse {
  status: number
  /** Parsed JSON when the answer says it is JSON (and parses), else the text; undefined when empty. */
  body: unknown
  /** `Retry-After` as sent (429 and 503 answers carry it); absent when not sent. */
  retryAfter?: string
}

export interface RestClient {
  /**
   * One call: `path` is appended to the server URL (e.g. `/api/v1/namespaces/x/events`); `body`,
   * when given, is sent as JSON with `contentType` (default `application/json`). Every HTTP status
   * resolves; a network error, a timeout or an unreadable token rejects.
   */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<RestResponse>
  /** Closes the kept-alive connections. */
  close(): void
}

export interface RestClientOptions {
  /** Per request, from sending to the end of the answer; default 10 s. */
  timeoutMs?: number
  /** Connections kept to the API server at most; default 4. */
  maxSockets?: number
  /** A larger answer is an error; default 4 MiB (an informer's list pages need more). */
  maxResponseBytes?: number
  /** Clock for token re-reads (tests). */
  now?: () => number
}

/** The connection pool for `config`'s server: its CA, server name and client certificate. */
function agentFor(config: RestConfig, secure: boolean, pool: { keepAlive: boolean; maxSockets?: number }): HttpsAgent | HttpAgent {
  if (!secure) return new HttpAgent(pool)
  return new HttpsAgent({
    ...pool,
    rejectUnauthorized: !config.insecureSkipTlsVerify,
    ...(config.ca !== undefined && !config.insecureSkipTlsVerify ? { ca: config.ca } : {}),
    ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
    ...(config.clientCert !== undefined && config.clientKey !== undefined ? { cert: config.clientCert, key: config.clientKey } : {}),
  })
}

export function createRestClient(config: RestConfig, options: RestClientOptions = {}): RestClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES
  const url = new URL(config.server)
  const secure = url.protocol === 'https:'
  const agent = agentFor(config, secure, { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS })
  const send = secure ? httpsRequest : httpRequest
  const target = {
    // URL keeps IPv6 brackets in hostname; the request options want the bare address.
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
  }
  const basePath = url.pathname.replace(/\/+$/, '')
  const bearer = new BearerToken(config.token, config.tokenFile, options.now ?? Date.now)
  const userAgent = `runguard/${version()}`

  const once = (method: string, path: string, payload: Buffer | undefined, contentType: string, token: string | undefined): Promise<RestResponse> =>
    new Promise((resolvePromise, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json', 'user-agent': userAgent }
      if (token !== undefined) headers.authorization = `Bearer ${token}`
      if (payload !== undefined) {
        headers['content-type'] = contentType
        headers['content-length'] = payload.length
      }
      let answered = false
      const req: ClientRequest = send({ ...target, agent, method, path: basePath + path, headers }, (res: IncomingMessage) => {
        answered = true
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > maxResponseBytes) {
            req.destroy(new Error(`${method} ${path}: response larger than ${maxResponseBytes} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('error', fail)
        res.on('end', () => {
          clearTimeout(timer)
          const retryAfter = res.headers['retry-after']
          resolvePromise({
            status: res.statusCode ?? 0,
            body: decode(Buffer.concat(chunks).toString('utf8'), res.headers['content-type']),
            ...(retryAfter === undefined ? {} : { retryAfter }),
          })
        })
      })
      const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)), timeoutMs)
      function fail(err: Error): void {
        clearTimeout(timer)
        // A kept-alive connection the server closed just as we reused it, before any answer: the
        // request is sent again once on a new connection (the pattern Node's docs recommend).
        const reset = !answered && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET'
        reject(reset ? new StaleConnectionError(err) : err)
      }
      req.on('error', fail)
      req.end(payload)
    })

  const exchange = async (method: string, path: string, payload: Buffer | undefined, contentType: string, token: string | undefined) => {
    try {
      return await once(method, path, payload, contentType, token)
    } catch (err) {
      if (err instanceof StaleConnectionError) return once(method, path, payload, contentType, token)
      throw err
    }
  }

  return {
    async request(method, path, body, contentType = 'application/json') {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8')
      const token = await bearer.get()
      const response = await exchange(method, path, payload, contentType, token)
      if (response.status !== 401 || !(await bearer.reread(token))) return response
      return exchange(method, path, payload, contentType, await bearer.get())
    },
    close() {
      agent.destroy()
    },
  }
}

/** A stream ended because nothing arrived for its idle timeout (a dead or half-open connection). */
export class StreamIdleTimeoutError extends Error {
  override name = 'StreamIdleTimeoutError'
}

class StaleConnectionError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause })
  }
}

function decode(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined
  if (contentType !== undefined && /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }
  return text
}

/** The bearer token: fixed, or read from a file at most once per TOKEN_REREAD_MS (and on demand after a 401). */
class BearerToken {
  readonly #fixed: string | undefined
  readonly #file: string | undefined
  readonly #now: () => number
  #value: string | undefined
  #readAt = Number.NEGATIVE_INFINITY
  #reading: Promise<void> | undefined

  constructor(fixed: string | undefined, file: string | undefined, now: () => number) {
    this.#fixed = fixed
    this.#file = file
    this.#now = now
  }

  async get(): Promise<string | undefined> {
    if (this.#file === undefined) return this.#fixed
    // Until a read succeeds, every call tries again (and fails loudly when there is no fixed token).
    if (this.#value === undefined || this.#now() - this.#readAt >= TOKEN_REREAD_MS) await this.#read()
    return this.#value ?? this.#fixed
  }

  /** After a 401 with `used`: reads the file again; true when there is now a different token to try. */
  async reread(used: string | undefined): Promise<boolean> {
    if (this.#file === undefined) return false
    try {
      await this.#read()
    } catch {
      return false
    }
    return (this.#value ?? this.#fixed) !== used
  }

  /** One read at a time; a failed read keeps the last good token (like client-go) and throws only when there is none. */
  #read(): Promise<void> {
    const file = this.#file
    if (file === undefined) return Promise.resolve()
    this.#reading ??= (async () => {
      try {
        const text = (await readFile(file, 'utf8')).trim()
        if (text === '') throw new Error('file is empty')
        this.#value = text
      } catch (err) {
        if (this.#value === undefined && this.#fixed === undefined) {
          throw new Error(`cannot read token file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
        }
      } finally {
        this.#readAt = this.#now()
        this.#reading = undefined
      }
    })()
    return this.#reading
  }
}

/** A streamed response (a watch): see RestStreamer.stream(). */
export interface RestStream {
  /**
   * Resolves when the server ends a 200 response, or when abort() was called; rejects with a
   * KubeApiError carrying the status for any other status (the body read, up to 64 KiB), or on a
   * network error, or when no byte arrived for `idleTimeoutMs` (a StreamIdleTimeoutError).
   */
  done: Promise<void>
  abort(): void
}

export interface RestStreamer {
  /**
   * A GET whose body is read as it arrives, one line at a time (a watch's JSON events), each
   * non-empty line handed to `onLine` (an exception it throws ends the stream with that error). A 401 re-reads the token file before rejecting, so the next
   * stream uses a rotated token.
   */
  stream(path: string, onLine: (line: string) => void, options?: { idleTimeoutMs?: number }): RestStream
  /** Ends the open streams and their connections. */
  close(): void
}

export interface RestStreamerOptions {
  /** From sending to the response's status line; default 10 s. */
  connectTimeoutMs?: number
  /** Silence that ends a stream as dead, unless stream() says otherwise; default 150 s. */
  idleTimeoutMs?: number
  /** Clock for token re-reads (tests). */
  now?: () => number
}

/** Bytes one line of a stream may hold (one watch event: a whole object). */
const MAX_STREAM_LINE_BYTES = MAX_RESPONSE_BYTES

/**
 * Streaming GETs (watches) with the credentials of `config`, on connections of their own: a watch
 * holds its connection for minutes, so it must not take one of a RestClient's few sockets.
 */
export function createRestStreamer(config: RestConfig, options: RestStreamerOptions = {}): RestStreamer {
  const url = new URL(config.server)
  const secure = url.protocol === 'https:'
  const agent = agentFor(config, secure, { keepAlive: false })
  const send = secure ? httpsRequest : httpRequest
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port)
  const basePath = url.pathname.replace(/\/+$/, '')
  const bearer = new BearerToken(config.token, config.tokenFile, options.now ?? Date.now)
  const userAgent = `runguard/${version()}`
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS
  const idleTimeoutMs = options.idleTimeoutMs ?? 150_000
  const open = new Set<() => void>()

  return {
    stream(path, onLine, streamOptions = {}) {
      const idleMs = streamOptions.idleTimeoutMs ?? idleTimeoutMs
      let aborted = false
      let req: ClientRequest | undefined
      const abort = (): void => {
        aborted = true
        req?.destroy()
      }
      open.add(abort)
      const done = (async () => {
        const token = await bearer.get()
        if (aborted) return
        await new Promise<void>((resolvePromise, reject) => {
          const headers: Record<string, string> = { accept: 'application/json', 'user-agent': userAgent }
          if (token !== undefined) headers.authorization = `Bearer ${token}`
          let timer = setTimeout(() => req?.destroy(new Error(`GET ${path}: no response within ${connectTimeoutMs} ms`)), connectTimeoutMs)
          const idle = (): void => {
            clearTimeout(timer)
            timer = setTimeout(() => req?.destroy(new StreamIdleTimeoutError(`GET ${path}: nothing received for ${idleMs} ms`)), idleMs)
          }
          // Settled once: by the end of the answer, or by a failure before it.
          let ended = false
          const settle = (err?: unknown): void => {
            clearTimeout(timer)
            if (err === undefined || aborted) resolvePromise()
            else reject(err)
          }
          req = send({ hostname, port, agent, method: 'GET', path: basePath + path, headers }, (res: IncomingMessage) => {
            const status = res.statusCode ?? 0
            idle()
            if (status !== 200) {
              const chunks: Buffer[] = []
              let size = 0
              res.on('data', (chunk: Buffer) => {
                if ((size += chunk.length) <= 64 * 1024) chunks.push(chunk)
              })
              res.on('error', settle)
              res.on('end', () => {
                ended = true
                const error = KubeApiError.fromResponse(`GET ${path}`, status, decode(Buffer.concat(chunks).toString('utf8'), res.headers['content-type']))
                if (status === 401) void bearer.reread(token).finally(() => settle(error))
                else settle(error)
              })
              return
            }
            let pending: Buffer = Buffer.alloc(0)
            res.on('data', (chunk: Buffer) => {
              idle()
              pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
              let newline: number
              while ((newline = pending.indexOf(10)) !== -1) {
                const line = pending.subarray(0, newline).toString('utf8').trim()
                pending = pending.subarray(newline + 1)
                if (line !== '') {
                  try {
                    onLine(line)
                  } catch (err) {
                    req?.destroy(err instanceof Error ? err : new Error(String(err)))
                    return
                  }
                }
                if (aborted) return
              }
              if (pending.length > MAX_STREAM_LINE_BYTES) req?.destroy(new Error(`GET ${path}: a line longer than ${MAX_STREAM_LINE_BYTES} bytes`))
            })
            res.on('error', settle)
            res.on('end', () => {
              ended = true
              const line = pending.toString('utf8').trim()
              try {
                if (line !== '' && !aborted) onLine(line)
                settle()
              } catch (err) {
                settle(err)
              }
            })
          })
          req.on('error', settle)
          req.on('close', () => {
            if (!ended) settle(aborted ? undefined : new Error(`GET ${path}: connection closed before the end of the answer`))
          })
          req.end()
        })
      })().finally(() => open.delete(abort))
      return { done, abort }
    },
    close() {
      for (const abort of [...open]) abort()
      agent.destroy()
    },
  }
}
