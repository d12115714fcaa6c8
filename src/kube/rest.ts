/**
 * A small Kubernetes REST client for the webhook, which only sends Events: importing
 * @kubernetes/client-node costs ~85 MiB RSS by itself, most of the webhook's 100 MiB budget.
 * The reconciler keeps using client-node (src/kube/client.ts); nothing here may import it.
 *
 * Credentials come from the same places, in the same order, as loadKubeConfig(): an explicit file
 * or KUBECONFIG (its first file, current-context) first, then the in-cluster service account.
 * From a kubeconfig it takes the cluster's server, CA (file or data), insecure-skip-tls-verify and
 * tls-server-name, and the user's client certificate and key (file or data), token and tokenFile.
 * Anything else that changes how to authenticate or connect (exec, auth-provider, basic auth,
 * impersonation, proxy-url) is refused with an error naming it, rather than silently ignored.
 *
 * Bound service-account tokens rotate (about hourly): a token file is re-read at most once a
 * minute, and at once when the API server answers 401 (the request is then sent again, once, if
 * the token changed).
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { delimiter, dirname, join, resolve } from 'node:path'
import { parse } from 'yaml'
import { version } from '../version.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** How often a token file is re-read at most (a 401 re-reads it at once). */
export const TOKEN_REREAD_MS = 60_000
export const DEFAULT_TIMEOUT_MS = 10_000
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
 * The webhook's credentials: `explicitFile` or KUBECONFIG (first file of the list), else the
 * service account in `serviceAccountDir` when KUBERNETES_SERVICE_HOST/PORT are set and its token
 * exists, else undefined. Throws when a kubeconfig is named but missing, malformed or unsupported.
 */
export function loadRestConfig(env: NodeJS.ProcessEnv = process.env, explicitFile?: string, serviceAccountDir = SERVICE_ACCOUNT_DIR): RestConfig | undefined {
  const list = explicitFile ?? env.KUBECONFIG
  if (list) {
    const file = list.split(delimiter).find((f) => f !== '')
    if (file === undefined || !existsSync(file)) throw new Error(`kubeconfig ${list} does not exist`)
    return restConfigFromKubeconfig(resolve(file))
  }
  return inClusterConfig(env, serviceAccountDir)
}

function inClusterConfig(env: NodeJS.ProcessEnv, dir: string): RestConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  const tokenFile = join(dir, 'token')
  if (!host || !port || !existsSync(tokenFile)) return undefined
  const caFile = join(dir, 'ca.crt')
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    // Like client-go: without ca.crt, Node's default roots.
    ...(existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
    insecureSkipTlsVerify: false,
    tokenFile,
    source: 'in-cluster',
  }
}

type Yaml = Record<string, unknown>

const isRecord = (value: unknown): value is Yaml => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Reads one kubeconfig file and resolves its current context to a RestConfig. */
export function restConfigFromKubeconfig(file: string): RestConfig {
  const fail = (message: string): Error => new Error(`kubeconfig ${file}: ${message}`)
  let doc: unknown
  try {
    doc = parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  if (!isRecord(doc)) throw fail('not a kubeconfig (expected a YAML mapping)')
  const contextName = doc['current-context']
  if (typeof contextName !== 'string' || contextName === '') throw fail('no current-context set')

  const context = entry(doc, 'contexts', 'context', contextName, fail)
  const clusterName = stringField(context, 'cluster', `context "${contextName}"`, fail)
  if (clusterName === undefined) throw fail(`context "${contextName}" names no cluster`)
  const cluster = entry(doc, 'clusters', 'cluster', clusterName, fail)
  const userName = stringField(context, 'user', `context "${contextName}"`, fail)
  const user = userName === undefined || userName === '' ? {} : entry(doc, 'users', 'user', userName, fail)

  const unsupported = [
    ...['proxy-url'].filter((key) => present(cluster[key])).map((key) => `cluster "${clusterName}" ${key}`),
    ...['exec', 'auth-provider', 'username', 'password', 'as', 'as-uid', 'as-groups', 'as-user-extra']
      .filter((key) => present(user[key]))
      .map((key) => `user "${userName}" ${key}`),
  ]
  if (unsupported.length > 0) {
    throw fail(
      `unsupported: ${unsupported.join(', ')} (runguard's webhook supports client certificates, token and tokenFile; ` +
        'give it a kubeconfig with one of those, or run it in-cluster)',
    )
  }

  const dir = dirname(file)
  const where = (kind: string, name: string | undefined) => `${kind} "${name ?? ''}"`
  const material = (obj: Yaml, owner: string, fileKey: string, dataKey: string): string | undefined => {
    const data = stringField(obj, dataKey, owner, fail)
    if (data) return Buffer.from(data, 'base64').toString('utf8')
    const path = stringField(obj, fileKey, owner, fail)
    if (!path) return undefined
    try {
      return readFileSync(resolve(dir, path), 'utf8')
    } catch (err) {
      throw new Error(`kubeconfig ${file}: ${owner} ${fileKey}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
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
  const tokenFileField = stringField(user, 'tokenFile', userOwner, fail)
  const tokenFile = tokenFileField ? resolve(dir, tokenFileField) : undefined
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
    source: file,
  }
}

const present = (value: unknown): boolean => value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0)

/** `doc[list]` is `[{name, [key]: {...}}]`; returns the `[key]` mapping of the entry named `name`. */
function entry(doc: Yaml, list: string, key: string, name: string, fail: (message: string) => Error): Yaml {
  const entries = doc[list]
  const found = Array.isArray(entries) ? entries.find((e: unknown) => isRecord(e) && e.name === name) : undefined
  if (!isRecord(found)) throw fail(`${key} "${name}" not found in ${list}`)
  const value = found[key]
  if (value === undefined || value === null) return {}
  if (!isRecord(value)) throw fail(`${key} "${name}" is not a mapping`)
  return value
}

function stringField(obj: Yaml, key: string, owner: string, fail: (message: string) => Error): string | undefined {
  const value = obj[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw fail(`${owner} ${key} must be a string`)
  return value
}

export interface RestResponse {
  status: number
  /** Parsed JSON when the answer says it is JSON (and parses), else the text; undefined when empty. */
  body: unknown
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
  /** Clock for token re-reads (tests). */
  now?: () => number
}

export function createRestClient(config: RestConfig, options: RestClientOptions = {}): RestClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const url = new URL(config.server)
  const secure = url.protocol === 'https:'
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS }
  const agent = secure
    ? new HttpsAgent({
        ...agentOptions,
        rejectUnauthorized: !config.insecureSkipTlsVerify,
        ...(config.ca !== undefined && !config.insecureSkipTlsVerify ? { ca: config.ca } : {}),
        ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
        ...(config.clientCert !== undefined && config.clientKey !== undefined ? { cert: config.clientCert, key: config.clientKey } : {}),
      })
    : new HttpAgent(agentOptions)
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
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error(`${method} ${path}: response larger than ${MAX_RESPONSE_BYTES} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('error', fail)
        res.on('end', () => {
          clearTimeout(timer)
          resolvePromise({ status: res.statusCode ?? 0, body: decode(Buffer.concat(chunks).toString('utf8'), res.headers['content-type']) })
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
