/**
 * The Go-built command-line tools of test/tools/build.sh (helm, promtool): built once into
 * .cache/tools/, then reused. Plus a small runner for Helm with its own config/cache folders, so
 * tests never read or write the user's ~/.config/helm or repositories.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
export const CHART_DIR = join(REPO_ROOT, 'charts', 'runguard')
const BUILD = join(REPO_ROOT, 'test', 'tools', 'build.sh')

export interface Result {
  code: number
  stdout: string
  stderr: string
}

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolveRun({ code: code ?? 1, stdout, stderr })
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

const built = new Map<string, Promise<string>>()

/** Path of the tool's binary, building it on first use (minutes; serialised across processes by flock). */
export function tool(name: 'helm' | 'promtool'): Promise<string> {
  let promise = built.get(name)
  if (!promise) {
    promise = run('bash', [BUILD, name], { timeoutMs: 60 * 60_000 }).then((r) => {
      const path = r.stdout.trim().split('\n').pop()
      if (r.code !== 0 || !path) throw new Error(`test/tools/build.sh ${name} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`)
      return path
    })
    built.set(name, promise)
  }
  return promise
}

export interface Helm {
  (args: string[], options?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<Result>
  binary: string
}

/** A helm runner with private config/cache/data folders and, optionally, a kubeconfig. */
export async function helm(kubeconfig?: string): Promise<Helm> {
  const binary = await tool('helm')
  const home = mkdtempSync(join(tmpdir(), 'runguard-helm-'))
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
  }
  const runner = (async (args, options = {}) => {
    const result = await run(binary, args, { env, ...(options.input === undefined ? {} : { input: options.input }), timeoutMs: options.timeoutMs ?? 180_000 })
    if (result.code !== 0 && options.allowFailure !== true) throw new Error(`helm ${args.join(' ')} exited ${result.code}:\n${result.stderr || result.stdout}`)
    return result
  }) as Helm
  runner.binary = binary
  return runner
}
