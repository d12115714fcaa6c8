/**
 * A real `runguard webhook` process for the HTTP properties and benchmarks, started the way an
 * operator starts it (`node -- src/cli.ts webhook …`, certificates from `node -- src/cli.ts certs`),
 * so these tests do not depend on where the server's modules live. Its JSON log lines are kept;
 * its ports come from the `webhook server listening` line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getHttp, postHttps, type HttpResult } from '../helpers/https.ts'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Certificates {
  dir: string
  ca: string
  certPath: string
  keyPath: string
}

/** A CA and a serving certificate for localhost / 127.0.0.1, made by `runguard certs`. */
export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'runguard-prop-certs-'))
  const r = spawnSync(process.execPath, ['--', 'src/cli.ts', 'certs', '--out', dir], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`runguard certs failed: ${r.stderr}`)
  return { dir, ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), certPath: join(dir, 'tls.crt'), keyPath: join(dir, 'tls.key') }
}

export interface WebhookProcess {
  port: number
  metricsPort: number
  pid: number
  ca: string
  child: ChildProcess
  /** Every stdout line (pino JSON) and stderr chunk so far. */
  stdout: string[]
  stderr: string[]
  /** Exit code once the process has exited (null while it runs). */
  exitCode(): number | null
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>
}

export interface StartOptions {
  certificates?: Certificates
  /** Extra environment (settings such as RUNGUARD_LOG_LEVEL, AGENTS_CONTROLLER_…). */
  env?: Record<string, string>
  kubeconfig?: string
  bodyLimit?: number
  /** Node flags before `--`, e.g. `--max-semi-space-size=2`. */
  nodeArgs?: string[]
}

export async function startWebhook(options: StartOptions = {}): Promise<WebhookProcess> {
  const certificates = options.certificates ?? makeCertificates()
  const args = [
    ...(options.nodeArgs ?? []),
    '--',
    'src/cli.ts',
    'webhook',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tls-cert',
    certificates.certPath,
    '--tls-key',
    certificates.keyPath,
    ...(options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : []),
    ...(options.bodyLimit ? ['--body-limit', String(options.bodyLimit)] : []),
  ]
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    // No KUBECONFIG from the caller: Events go where the test says, or nowhere.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', RUNGUARD_POD_NAME: 'runguard-webhook-prop', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  let partial = ''
  let ready: (ports: { port: number; metricsPort: number }) => void = () => undefined
  const listening = new Promise<{ port: number; metricsPort: number }>((resolve) => {
    ready = resolve
  })
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      stdout.push(line)
      if (line.includes('webhook server listening')) {
        const parsed = JSON.parse(line) as { port: number; metricsPort: number }
        ready({ port: parsed.port, metricsPort: parsed.metricsPort })
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk))
  let exitCode: number | null = null
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve((exitCode = code ?? (signal ? 128 : null)))))
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`webhook did not start: ${stderr.join('')}${stdout.join('\n')}`)), 30_000).unref())
  const ports = await Promise.race([listening, timeout, exited.then((code) => Promise.reject(new Error(`webhook exited with ${code}: ${stderr.join('')}${stdout.join('\n')}`)))])
  return {
    ...ports,
    pid: child.pid as number,
    ca: certificates.ca,
    child,
    stdout,
    stderr,
    exitCode: () => exitCode,
    async stop(graceMs = 10_000) {
      if (exitCode !== null) return exitCode
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const code = await exited
      clearTimeout(killer)
      if (!options.certificates) rmSync(certificates.dir, { recursive: true, force: true })
      return code
    },
  }
}

export type HttpAnswer = HttpResult

/** POST a body over HTTPS to the webhook (keep-alive through `agent` when given). */
export function post(server: Pick<WebhookProcess, 'port' | 'ca'>, path: string, body: string | Buffer, options: { agent?: Agent; contentType?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return postHttps(server.port, path, body, { ca: server.ca, ...options, timeoutMs: options.timeoutMs ?? 10_000 })
}

/** GET from the plain-HTTP metrics port. */
export function getMetricsPort(server: Pick<WebhookProcess, 'metricsPort'>, path: string): Promise<HttpAnswer> {
  return getHttp(server.metricsPort, path, 10_000)
}

/** Resident set size of the process in bytes, from /proc (Linux) or, failing that, its metrics. */
export async function rssOf(server: Pick<WebhookProcess, 'pid' | 'metricsPort'>): Promise<number> {
  try {
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8')
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
    if (kb) return Number(kb) * 1024
  } catch {
    // not Linux: ask the process
  }
  const metrics = await getMetricsPort(server, '/metrics')
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics.body)?.[1] ?? 0)
}

/** A kubeconfig file pointing at `server` (plain HTTP is fine for a loopback fake API server). */
export function writeKubeconfig(dir: string, server: string): string {
  const path = join(dir, 'kubeconfig')
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: fake, cluster: {server: "' + server + '"}}]',
      'users: [{name: fake, user: {token: not-a-secret}}]',
      'contexts: [{name: fake, context: {cluster: fake, user: fake}}]',
      'current-context: fake',
      '',
    ].join('\n'),
  )
  return path
}

export const keepAlive = (ca: string, maxSockets = 4): Agent => new Agent({ keepAlive: true, maxSockets, ca, servername: 'localhost' })
