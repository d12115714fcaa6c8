/**
 * A real, throwaway Kubernetes control plane on loopback — etcd, kube-apiserver and
 * kube-controller-manager built from source by test/controlplane/build.sh — for the integration
 * tests and the local sandbox. There is no kubelet and no scheduler: pods stay Pending until a
 * test drives them (see pods.ts).
 *
 *   const cp = await startControlPlane()
 *   try { await cp.kubectl(['get', 'ns']) } finally { await cp.stop() }
 *
 * Every process runs in its own process group with its log under `<workDir>/logs`; see
 * processes.ts for how they are cleaned up even when the test run is interrupted.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { createCertificateAuthority, issueServingCertificate, type CertificateAuthority, type IssuedCertificate } from '../../src/certs/generate.ts'
import { createServiceAccountKeyPair, issueClientCertificate } from '../helpers/certs.ts'
import {
  groupGone,
  recordGroup,
  registerCleanupDir,
  startProcess,
  startWatchdog,
  stopWatchdog,
  unregisterCleanupDir,
  type ManagedProcess,
} from './processes.ts'

const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
const BUILD_SCRIPT = join(REPO_ROOT, 'test', 'controlplane', 'build.sh')

/** What the tests need: Jobs, their TTL, ownerRef garbage collection, SA tokens, namespaces. */
export const DEFAULT_CONTROLLERS = [
  'job-controller',
  'ttl-after-finished-controller',
  'garbage-collector-controller',
  'namespace-controller',
  // The ServiceAccount admission plugin rejects pods until their namespace has a `default`
  // ServiceAccount; this controller creates it.
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  // Publishes kube-root-ca.crt into every namespace, as a real cluster does.
  'root-ca-certificate-publisher-controller',
] as const

export interface ControlPlaneOptions {
  /**
   * Use this directory for certificates, data and logs (created if missing; kept by default).
   * Certificates are made anew on every start; etcd data already there is reused.
   */
  workDir?: string
  /** Keep the work directory after stop(); default false for a temporary one, true for `workDir`. */
  keepWorkDir?: boolean
  /** How long each component may take to become ready; default 90 s. */
  startTimeoutMs?: number
  /** kube-controller-manager `--controllers`; default {@link DEFAULT_CONTROLLERS}. */
  controllers?: readonly string[]
  /** Start kube-controller-manager at all (default true). */
  controllerManager?: boolean
  /** Extra kube-apiserver flags, appended last; a `--flag=value` replaces the default of that flag. */
  apiServerArgs?: string[]
  /** Extra kube-controller-manager flags, appended last; a `--flag=value` replaces the default of that flag. */
  controllerManagerArgs?: string[]
  /** Install SIGINT/SIGTERM/SIGHUP handlers that kill the processes (default true). */
  handleSignals?: boolean
  /** Progress lines; default silent. */
  log?: (message: string) => void
  /**
   * Sign everything with this CA instead of a new one (the node harness issues kubelet and
   * component identities with it, and the API server's kubelet client certificate before start).
   */
  ca?: CertificateAuthority
  /**
   * Run every component inside this network namespace (a path such as `/run/netns/<name>`, entered
   * with `nsenter --net`), e.g. the one a test node lives in. Default: the caller's own.
   */
  netns?: string
  /**
   * The address every component binds and every client dials; default 127.0.0.1. A non-loopback
   * address (one of the network namespace's) also becomes the API server's advertised address, so
   * the `kubernetes` Service gets an endpoint pods can reach.
   */
  host?: string
}

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. for `apply -f -`). */
  input?: string
  /** Resolve with the result instead of throwing when kubectl exits non-zero. */
  allowFailure?: boolean
  /** Kill kubectl after this long; default 60 s. */
  timeoutMs?: number
}

export interface ApiResponse {
  status: number
  /** Parsed JSON when the body is JSON, else the raw text. */
  body: unknown
  text: string
  /** The admission warnings (`Warning: 299 - "…"` headers), unquoted, in order. */
  warnings: string[]
  headers: import('node:http').IncomingHttpHeaders
}

export interface ApiRequestOptions {
  /** Default `application/json`; use `application/merge-patch+json` etc. for PATCH. */
  contentType?: string
  timeoutMs?: number
  /** Extra request headers, e.g. `Impersonate-User`. */
  headers?: Record<string, string | string[]>
  /** A keep-alive agent (it must carry the same client certificate); default a connection of its own. */
  agent?: HttpsAgent
  /**
   * Retry a 429 after its `Retry-After` (at most 5 s each, 10 times), as client-go does: a
   * freshly restarted API server sheds load with 429 while priority and fairness warms up. Off by
   * default, so tests that expect a 429 (eviction under a PDB) still see it.
   */
  retryThrottled?: boolean
}

export interface ControlPlane {
  /** `https://<host>:<port>` (host 127.0.0.1 unless the `host` option said otherwise) */
  server: string
  /** The address the components bind and clients dial. */
  host: string
  /** Admin kubeconfig (client certificate with O=system:masters). */
  kubeconfigPath: string
  /** The cluster CA (signs the API server's serving certificate and the admin client certificate). */
  caPem: string
  /** The admin client certificate and key, for direct HTTPS calls. */
  adminCertificate: IssuedCertificate
  binDir: string
  workDir: string
  logsDir: string
  ports: { etcd: number; etcdPeer: number; apiServer: number; controllerManager: number }
  /** Runs the cached kubectl with `--kubeconfig <admin>`; throws on a non-zero exit unless allowFailure. */
  kubectl(args: string[], options?: KubectlOptions): Promise<CommandResult>
  /** `kubectl apply -f -` with YAML text or objects. */
  apply(manifest: string | object | object[]): Promise<CommandResult>
  /** One API call as admin, e.g. `request('GET', '/api/v1/namespaces')`; never throws on HTTP status. */
  request(method: string, path: string, body?: unknown, options?: ApiRequestOptions): Promise<ApiResponse>
  /**
   * Stops kube-apiserver only (etcd and the controller manager keep running). SIGTERM by default
   * (about 1 s); `{ crash: true }` SIGKILLs it instead, like a node or process dying.
   */
  stopApiServer(options?: { crash?: boolean }): Promise<void>
  /** Starts kube-apiserver again on the same port and etcd; waits for /readyz. */
  startApiServer(): Promise<void>
  /** stopApiServer() then startApiServer(); data survives (same etcd). */
  restartApiServer(options?: { crash?: boolean }): Promise<void>
  /**
   * Stops etcd only (kube-apiserver and the controller manager keep running and fail their
   * storage calls meanwhile). SIGTERM by default; `{ crash: true }` SIGKILLs it.
   */
  stopEtcd(options?: { crash?: boolean }): Promise<void>
  /** Starts etcd again on the same ports and data directory; waits for its /health. */
  startEtcd(): Promise<void>
  /** stopEtcd() then startEtcd(); data survives (same data directory). */
  restartEtcd(options?: { crash?: boolean }): Promise<void>
  /** etcd's current revision (read through etcd's JSON gateway). */
  etcdRevision(): Promise<number>
  /**
   * Compacts etcd's history up to `revision` (default: the current one) and returns it: a watch
   * that the API server serves from etcd (no watch cache) from an older resourceVersion then
   * gets `410 Gone`.
   */
  compactEtcd(revision?: number): Promise<number>
  /**
   * Writes a kubeconfig for this cluster to `path`: `server` (default {@link ControlPlane.server},
   * e.g. a proxy in front of it) and a client certificate for `user` (default the admin's own).
   */
  writeKubeconfig(path: string, options?: KubeconfigOptions): Promise<string>
  /** A client certificate for `user`, issued by the cluster CA (for {@link ControlPlane.requestAs}). */
  issueClientCertificate(user: { commonName: string; organizations?: string[] }): Promise<IssuedCertificate>
  /** Like request(), as the holder of `certificate` instead of the admin. */
  requestAs(certificate: IssuedCertificate, method: string, path: string, body?: unknown, options?: ApiRequestOptions): Promise<ApiResponse>
  /** PIDs of the control-plane processes still running. */
  pids(): number[]
  /** Stops everything (SIGTERM, SIGKILL after a grace period) and removes the work directory unless kept. Idempotent. */
  stop(): Promise<void>
}

export interface KubeconfigOptions {
  /** `https://host:port` the client dials; default the API server itself. */
  server?: string
  /** A client identity of its own (issued by the cluster CA); default the admin certificate. */
  user?: { commonName: string; organizations?: string[] }
}

/** Anything with tap's `teardown`. */
export interface TeardownHost {
  teardown(fn: () => unknown): void
}

/** startControlPlane() with `stop()` registered as a teardown of the tap test `t`. */
export async function startControlPlaneForTest(t: TeardownHost, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const cp = await startControlPlane(options)
  t.teardown(() => cp.stop())
  return cp
}

/**
 * The bin directory with etcd, kube-apiserver, kube-controller-manager and kubectl (building them
 * once); with `{ node: true }` also kubelet, kube-scheduler and kube-proxy.
 */
export async function controlPlaneBinDir(options: { node?: boolean } = {}): Promise<string> {
  const { code, stdout } = await run('bash', [BUILD_SCRIPT, ...(options.node === true ? ['--node'] : [])], { inheritStderr: true, timeoutMs: 60 * 60_000 })
  const binDir = stdout.trim().split('\n').pop()
  if (code !== 0 || !binDir) throw new Error(`test/controlplane/build.sh failed (exit ${code})`)
  return binDir
}

/** Starts etcd, kube-apiserver and (by default) kube-controller-manager; resolves once all are ready. */
/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports. The ports are
 * free when chosen but not reserved: another process's outgoing connection can take one before
 * the component binds it (seen once in a CI-sized run, "bind: address already in use"). Such a
 * start is stopped and retried on new ports, twice at most, when the work directory is ours.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlaneOnce(options)
    } catch (error) {
      const portTaken = error instanceof Error && /address already in use/.test(error.message)
      if (!portTaken || options.workDir !== undefined || attempt >= 3) throw error
      options.log?.(`control plane: a port was taken before its component bound it; starting again on new ports (attempt ${attempt + 1})`)
    }
  }
}

async function startControlPlaneOnce(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? (() => {})
  const timeoutMs = options.startTimeoutMs ?? 90_000
  const startedAt = Date.now()

  const binDir = await controlPlaneBinDir()
  const workDir = options.workDir !== undefined ? resolve(options.workDir) : await mkdtemp(join(tmpdir(), 'runguard-cp-'))
  const keepWorkDir = options.keepWorkDir ?? options.workDir !== undefined
  const logsDir = join(workDir, 'logs')
  const pkiDir = join(workDir, 'pki')
  await mkdir(logsDir, { recursive: true })
  await mkdir(pkiDir, { recursive: true, mode: 0o700 })
  if (!keepWorkDir) registerCleanupDir(workDir)

  const [etcdPort = 0, etcdPeerPort = 0, apiPort = 0, kcmPort = 0] = await freePorts(4)
  const ports = { etcd: etcdPort, etcdPeer: etcdPeerPort, apiServer: apiPort, controllerManager: kcmPort }
  const host = options.host ?? '127.0.0.1'
  const loopback = host.startsWith('127.')
  const server = `https://${host}:${apiPort}`

  // PKI: one CA for serving and client certificates, an admin identity, the SA signing key pair.
  const ca = options.ca ?? (await createCertificateAuthority({ commonName: 'runguard-test-cluster-ca', days: 30 }))
  const apiServing = await issueServingCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: [...new Set(['127.0.0.1', '10.0.0.1', host])],
    days: 30,
  })
  const admin = await issueClientCertificate(ca, { commonName: 'runguard-test-admin', organizations: ['system:masters'], days: 30 })
  const serviceAccount = await createServiceAccountKeyPair()
  const pki = {
    caCert: join(pkiDir, 'ca.crt'),
    apiCert: join(pkiDir, 'apiserver.crt'),
    apiKey: join(pkiDir, 'apiserver.key'),
    saKey: join(pkiDir, 'sa.key'),
    saPub: join(pkiDir, 'sa.pub'),
  }
  await writeFile(pki.caCert, ca.certPem)
  await writeFile(pki.apiCert, apiServing.certPem)
  await writeFile(pki.apiKey, apiServing.keyPem, { mode: 0o600 })
  await writeFile(pki.saKey, serviceAccount.privateKeyPem, { mode: 0o600 })
  await writeFile(pki.saPub, serviceAccount.publicKeyPem)
  const kubeconfigPath = join(workDir, 'admin.kubeconfig')
  await writeFile(kubeconfigPath, adminKubeconfig(server, ca.certPem, admin), { mode: 0o600 })

  const pgidFile = join(workDir, 'pgids')
  await writeFile(pgidFile, '') // a reused work dir must not hand the watchdog stale process groups
  const watchdog = startWatchdog(pgidFile, workDir, keepWorkDir)
  const processes: { etcd?: ManagedProcess; apiServer?: ManagedProcess; controllerManager?: ManagedProcess } = {}
  const start = (name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager', args: string[]): ManagedProcess => {
    const command = join(binDir, name)
    const managed = startProcess(
      options.netns === undefined
        ? { name, command, args, logPath: join(logsDir, `${name}.log`) }
        : { name, command: 'nsenter', args: [`--net=${options.netns}`, '--', command, ...args], logPath: join(logsDir, `${name}.log`) },
      { handleSignals: options.handleSignals ?? true },
    )
    recordGroup(pgidFile, managed.pid)
    return managed
  }

  const etcdArgs = [
    '--name=runguard-test',
    `--data-dir=${join(workDir, 'etcd')}`,
    `--listen-client-urls=http://${host}:${etcdPort}`,
    `--advertise-client-urls=http://${host}:${etcdPort}`,
    `--listen-peer-urls=http://${host}:${etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://${host}:${etcdPeerPort}`,
    `--initial-cluster=runguard-test=http://${host}:${etcdPeerPort}`,
    '--unsafe-no-fsync', // a throwaway member: durability buys nothing, fsync only slows writes
    '--log-level=warn',
  ]
  const apiServerArgs = overridden([
    `--etcd-servers=http://${host}:${etcdPort}`,
    `--secure-port=${apiPort}`,
    `--bind-address=${host}`,
    `--advertise-address=${host}`,
    `--cert-dir=${pkiDir}`, // unused with explicit TLS files, but keeps it away from /var/run/kubernetes
    `--tls-cert-file=${pki.apiCert}`,
    `--tls-private-key-file=${pki.apiKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=RBAC',
    // The `kubernetes` Service's endpoint may not be a loopback address; without this the
    // reconciler logs a validation error every 10 s. Nothing here dials that Service -- except
    // pods on a test node, which get a non-loopback `host` and so the usual lease reconciler.
    `--endpoint-reconciler-type=${loopback ? 'none' : 'lease'}`,
    // With watches open (the controller manager's) a SIGTERM'd API server otherwise waits for
    // its 60 s HTTP shutdown timeout; this ends watches after 1 s, so a restart takes ~1 s.
    '--shutdown-watch-termination-grace-period=1s',
  ], options.apiServerArgs)
  const controllerManagerArgs = overridden([
    `--kubeconfig=${kubeconfigPath}`,
    `--authentication-kubeconfig=${kubeconfigPath}`,
    `--authorization-kubeconfig=${kubeconfigPath}`,
    `--controllers=${(options.controllers ?? DEFAULT_CONTROLLERS).join(',')}`,
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCert}`,
    '--use-service-account-credentials',
    '--leader-elect=false',
    `--bind-address=${host}`,
    `--secure-port=${kcmPort}`,
    `--cert-dir=${join(workDir, 'kube-controller-manager')}`,
  ], options.controllerManagerArgs)

  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const p of [processes.controllerManager, processes.apiServer, processes.etcd]) await p?.stop()
      await stopWatchdog(watchdog)
      if (!keepWorkDir) {
        await rm(workDir, { recursive: true, force: true, maxRetries: 3 })
        unregisterCleanupDir(workDir)
      }
    })()
    return stopped
  }

  const adminTls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem }
  const request = (method: string, path: string, body?: unknown, requestOptions: ApiRequestOptions = {}): Promise<ApiResponse> =>
    httpsCall({ host, port: apiPort, method, path, ...adminTls }, body, requestOptions)

  const waitForApiServer = async (): Promise<void> => {
    const apiServer = processes.apiServer
    if (!apiServer) throw new Error('kube-apiserver is not started')
    await waitFor('kube-apiserver /readyz', timeoutMs, apiServer, async () => {
      const response = await request('GET', '/readyz', undefined, { timeoutMs: 5_000 })
      return response.status === 200 ? true : `HTTP ${response.status}: ${response.text.slice(-2000)}`
    })
  }
  const startApiServer = async (): Promise<void> => {
    if (processes.apiServer?.running) throw new Error('kube-apiserver is already running')
    processes.apiServer = start('kube-apiserver', apiServerArgs)
    await waitForApiServer()
  }
  const stopApiServer = async (stopOptions: { crash?: boolean } = {}): Promise<void> => {
    await processes.apiServer?.stop(stopOptions.crash === true ? 0 : 10_000)
  }

  const startEtcd = async (): Promise<void> => {
    if (processes.etcd?.running) throw new Error('etcd is already running')
    const etcd = start('etcd', etcdArgs)
    processes.etcd = etcd
    await waitFor('etcd /health', timeoutMs, etcd, async () => {
      const response = await httpGet(`http://${host}:${etcdPort}/health`)
      return response.status === 200 && /"health":\s*"true"/.test(response.text) ? true : `HTTP ${response.status}: ${response.text}`
    })
  }
  const stopEtcd = async (stopOptions: { crash?: boolean } = {}): Promise<void> => {
    await processes.etcd?.stop(stopOptions.crash === true ? 0 : 10_000)
  }
  // etcd's gRPC gateway (JSON over HTTP on the client port; keys and values are base64).
  const etcdRevision = async (): Promise<number> => {
    const response = await httpPost(`http://${host}:${etcdPort}/v3/kv/range`, { key: Buffer.from('/').toString('base64'), limit: 1 })
    const header = (response.body as { header?: { revision?: string } } | undefined)?.header
    const revision = Number(header?.revision)
    if (response.status !== 200 || !Number.isSafeInteger(revision)) throw new Error(`etcd range: HTTP ${response.status} ${response.text}`)
    return revision
  }
  const compactEtcd = async (revision?: number): Promise<number> => {
    const target = revision ?? (await etcdRevision())
    const response = await httpPost(`http://${host}:${etcdPort}/v3/kv/compaction`, { revision: String(target), physical: true })
    if (response.status !== 200) throw new Error(`etcd compaction to ${target}: HTTP ${response.status} ${response.text}`)
    return target
  }
  const writeKubeconfig = async (path: string, kubeconfigOptions: KubeconfigOptions = {}): Promise<string> => {
    const identity = kubeconfigOptions.user === undefined ? admin : await issueClientCertificate(ca, { ...kubeconfigOptions.user, days: 7 })
    await writeFile(path, adminKubeconfig(kubeconfigOptions.server ?? server, ca.certPem, identity), { mode: 0o600 })
    return path
  }

  try {
    log(`control plane: work dir ${workDir}, API server ${server}`)
    await startEtcd()
    log(`control plane: etcd ready after ${Date.now() - startedAt} ms`)

    await startApiServer()
    log(`control plane: kube-apiserver ready after ${Date.now() - startedAt} ms`)

    if (options.controllerManager !== false) {
      const kcm = start('kube-controller-manager', controllerManagerArgs)
      processes.controllerManager = kcm
      await waitFor('kube-controller-manager /healthz', timeoutMs, kcm, async () => {
        const response = await httpsCall({ host, port: kcmPort, method: 'GET', path: '/healthz', rejectUnauthorized: false }, undefined, {
          timeoutMs: 5_000,
        })
        return response.status === 200 ? true : `HTTP ${response.status}: ${response.text.slice(-2000)}`
      })
      // Proof that controllers act, not just that the process serves: the serviceaccount
      // controller creates `default` in every namespace (and pods cannot be created before it).
      await waitFor('the default ServiceAccount (created by kube-controller-manager)', timeoutMs, kcm, async () => {
        const response = await request('GET', '/api/v1/namespaces/default/serviceaccounts/default')
        return response.status === 200 ? true : `HTTP ${response.status}`
      })
      log(`control plane: kube-controller-manager ready after ${Date.now() - startedAt} ms`)
    }
  } catch (error) {
    await stop()
    throw error
  }

  return {
    server,
    host,
    kubeconfigPath,
    caPem: ca.certPem,
    adminCertificate: admin,
    binDir,
    workDir,
    logsDir,
    ports,
    kubectl: (args, kubectlOptions = {}) => kubectl(join(binDir, 'kubectl'), kubeconfigPath, args, kubectlOptions),
    apply: (manifest) => kubectl(join(binDir, 'kubectl'), kubeconfigPath, ['apply', '-f', '-'], { input: toYaml(manifest) }),
    request,
    stopApiServer,
    startApiServer,
    restartApiServer: async (restartOptions = {}) => {
      await stopApiServer(restartOptions)
      await startApiServer()
    },
    stopEtcd,
    startEtcd,
    restartEtcd: async (restartOptions = {}) => {
      await stopEtcd(restartOptions)
      await startEtcd()
    },
    etcdRevision,
    compactEtcd,
    writeKubeconfig,
    issueClientCertificate: (user) => issueClientCertificate(ca, { ...user, days: 7 }),
    requestAs: (certificate, method, path, body, requestOptions = {}) =>
      httpsCall({ host, port: apiPort, method, path, ca: ca.certPem, cert: certificate.certPem, key: certificate.keyPem }, body, requestOptions),
    pids: () => [processes.etcd, processes.apiServer, processes.controllerManager].flatMap((p) => (p?.running === true ? [p.pid] : [])),
    stop,
  }
}

/**
 * `defaults` then `extra`, where a `--flag=value` in `extra` replaces the default of the same flag
 * (list flags such as --authorization-mode would otherwise accumulate both).
 */
function overridden(defaults: string[], extra: readonly string[] = []): string[] {
  const name = (arg: string): string => arg.split('=', 1)[0] ?? arg
  const replaced = new Set(extra.filter((a) => a.startsWith('--') && a.includes('=')).map(name))
  return [...defaults.filter((a) => !replaced.has(name(a))), ...extra]
}

/** True once every process group the control plane started is gone. */
export function controlPlaneGone(pids: number[]): boolean {
  return pids.every(groupGone)
}

/**
 * Ports free right now on 127.0.0.1, all distinct: every listener stays open until all are picked.
 * A tiny window remains between closing and the child binding; the kernel does not hand out the
 * same ephemeral port again that quickly in practice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolvePort, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolvePort(server))
    })),
  )
  const ports = servers.map((s) => {
    const address = s.address()
    if (address === null || typeof address === 'string') throw new Error('unexpected listener address')
    return address.port
  })
  await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))))
  return ports
}

/** Resolves when `port` can be bound on 127.0.0.1 again. */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer()
    server.once('error', () => resolvePort(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)))
  })
}

function adminKubeconfig(server: string, caPem: string, admin: IssuedCertificate): string {
  const b64 = (text: string): string => Buffer.from(text).toString('base64')
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'runguard-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: 'runguard-test-admin', user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) } }],
    contexts: [{ name: 'runguard-test', context: { cluster: 'runguard-test', user: 'runguard-test-admin', namespace: 'default' } }],
    'current-context': 'runguard-test',
  })
}

function toYaml(manifest: string | object | object[]): string {
  if (typeof manifest === 'string') return manifest
  const documents = Array.isArray(manifest) ? manifest : [manifest]
  return documents.map((d) => stringify(d)).join('---\n')
}

/**
 * Polls `probe` every 250 ms until it returns true. Fails at once when `process` exits, or after
 * `timeoutMs`, with the last probe result and the tail of the process's log.
 */
export async function waitFor(what: string, timeoutMs: number, watched: ManagedProcess, probe: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    if (!watched.running) {
      throw new Error(`${watched.spec.name} exited (${String(watched.exitStatus)}) while waiting for ${what}; last lines of ${watched.spec.logPath}:\n${watched.logTail()}`)
    }
    try {
      const result = await probe()
      if (result === true) return
      last = result
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last}); last lines of ${watched.spec.logPath}:\n${watched.logTail()}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

interface HttpsCallOptions {
  host: string
  port: number
  method: string
  path: string
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized?: boolean
}

/** A keep-alive client as the admin over at most `maxSockets` connections, e.g. a benchmark's floor. */
export interface KeepAliveApiClient {
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse>
  close(): void
}

/**
 * A plain keep-alive HTTPS client to `cp`'s API server as the admin: the floor the benchmarks hold
 * runguard's own clients against, and their way to set up objects fast. `headers` go on every
 * request (e.g. impersonation).
 */
export function keepAliveApiClient(cp: ControlPlane, maxSockets: number, options: { headers?: Record<string, string | string[]>; timeoutMs?: number } = {}): KeepAliveApiClient {
  const agent = adminAgent(cp, maxSockets)
  return {
    call: (method, path, body, contentType) => cp.request(method, path, body, { ...options, agent, timeoutMs: options.timeoutMs ?? 60_000, ...(contentType ? { contentType } : {}) }),
    close: () => agent.destroy(),
  }
}

/**
 * `call` until the API server accepts it (2xx): a 429 or 5xx is retried after 500 ms, at most 10
 * times — a benchmark's own set-up writes meet the API server's throttling too. Anything else
 * throws with the status and the start of the answer.
 */
export async function callUntilAccepted(call: KeepAliveApiClient['call'], method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse> {
  for (let attempt = 0; ; attempt++) {
    const answer = await call(method, path, body, contentType)
    if (answer.status >= 200 && answer.status < 300) return answer
    if ((answer.status === 429 || answer.status >= 500) && attempt < 10) {
      await new Promise((resolveSleep) => setTimeout(resolveSleep, 500))
      continue
    }
    throw new Error(`${method} ${path}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`)
  }
}

/** A keep-alive agent with the admin's client certificate, for ControlPlane.request's `agent`. */
export function adminAgent(cp: ControlPlane, maxSockets: number): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, maxSockets, ca: cp.caPem, cert: cp.adminCertificate.certPem, key: cp.adminCertificate.keyPem })
}

async function httpsCall(target: HttpsCallOptions, body: unknown, options: ApiRequestOptions): Promise<ApiResponse> {
  for (let attempt = 1; ; attempt++) {
    const response = await httpsCallOnce(target, body, options)
    if (response.status !== 429 || options.retryThrottled !== true || attempt >= 10) return response
    const retryAfterSeconds = Number(response.headers['retry-after'])
    await new Promise((resolveSleep) => setTimeout(resolveSleep, Math.min(5_000, Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : 1_000)))
  }
}

function httpsCallOnce(target: HttpsCallOptions, body: unknown, options: ApiRequestOptions): Promise<ApiResponse> {
  return new Promise((resolveCall, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    const req = httpsRequest(
      {
        ...target,
        agent: options.agent ?? false,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => collect(res, resolveCall, reject),
    )
    req.on('timeout', () => req.destroy(new Error(`${target.method} ${target.path} timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

function httpGet(url: string): Promise<ApiResponse> {
  return new Promise((resolveCall, reject) => {
    const req = httpRequest(url, { agent: false, timeout: 5_000 }, (res) => collect(res, resolveCall, reject))
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

function httpPost(url: string, body: unknown): Promise<ApiResponse> {
  return new Promise((resolveCall, reject) => {
    const payload = JSON.stringify(body)
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, timeout: 5_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => collect(res, resolveCall, reject),
    )
    req.on('timeout', () => req.destroy(new Error(`POST ${url} timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

function collect(res: import('node:http').IncomingMessage, resolveCall: (r: ApiResponse) => void, reject: (e: Error) => void): void {
  let text = ''
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => (text += chunk))
  res.on('error', reject)
  res.on('end', () => {
    let body: unknown = text
    if ((res.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
    }
    // One `Warning: 299 - "<text>"` header per admission warning (RFC 7234 quoting).
    const warnings: string[] = []
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push((res.rawHeaders[i + 1] ?? '').replace(/^299 - "(.*)"$/, '$1').replace(/\\(.)/g, '$1'))
    }
    resolveCall({ status: res.statusCode ?? 0, body, text, warnings, headers: res.headers })
  })
}

async function kubectl(binary: string, kubeconfigPath: string, args: string[], options: KubectlOptions): Promise<CommandResult> {
  const result = await run(binary, ['--kubeconfig', kubeconfigPath, ...args], {
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: options.timeoutMs ?? 60_000,
  })
  if (result.code !== 0 && options.allowFailure !== true) {
    throw new Error(`kubectl ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`)
  }
  return result
}

interface RunOptions {
  input?: string
  timeoutMs: number
  inheritStderr?: boolean
}

function run(command: string, args: string[], options: RunOptions): Promise<CommandResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', options.inheritStderr === true ? 'inherit' : 'pipe'],
      env: { ...process.env, KUBECONFIG: undefined },
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs} ms)`
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr })
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}
