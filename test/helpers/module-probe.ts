/**
 * What importing one module costs: a fresh `node` imports it with a module.registerHooks() resolve
 * hook installed first, so every import and require() on the way is seen, and reports what it
 * resolved and its RSS before and after. The TypeScript loader is warmed up first (it costs
 * ~20 MiB by itself, which the built JavaScript in dist/ does not pay), so the delta is the module
 * graph's own. Only static imports are followed: a dynamic import() the module does not run at
 * load time is not.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Test } from 'tap'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const MiB = 1024 * 1024

const PROBE = `
import { registerHooks } from 'node:module'
import { pathToFileURL } from 'node:url'
const resolved = new Set()
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context)
    resolved.add(result.url)
    return result
  },
})
await import(pathToFileURL('src/version.ts').href)
const rssBefore = process.memoryUsage().rss
await import(pathToFileURL(process.argv[1]).href)
const rssAfter = process.memoryUsage().rss
console.log(JSON.stringify({ resolved: [...resolved], rssBefore, rssAfter, nodeOptions: process.env.NODE_OPTIONS ?? '', execArgv: process.execArgv }))
`

export interface Probe {
  resolved: string[]
  rssBefore: number
  rssAfter: number
  nodeOptions: string
  execArgv: string[]
}

/** Imports `modulePath` (relative to the repository) in a clean `node` and reports what it loaded. */
export async function probe(modulePath: string): Promise<Probe> {
  // A clean `node`: tap's process-info hook adds its own --import to every child's NODE_OPTIONS,
  // even when env is replaced (it more than doubles the heap); `env -u` drops it before exec.
  const { stdout } = await promisify(execFile)('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', PROBE, modulePath], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    maxBuffer: 16 * MiB,
  })
  const result = JSON.parse(stdout) as Probe
  if (result.nodeOptions !== '' || result.execArgv.some((arg) => arg.startsWith('--import') || arg.startsWith('--require'))) {
    throw new Error(`probe not clean: NODE_OPTIONS=${result.nodeOptions} execArgv=${result.execArgv.join(' ')}`)
  }
  return result
}

/** The client-node modules a probe saw resolved. */
export const clientNodeModules = (p: Probe): string[] => p.resolved.filter((url) => url.includes('/node_modules/@kubernetes/client-node/'))

/** RSS the import added, in MiB. */
export const rssDeltaMiB = (p: Probe): number => (p.rssAfter - p.rssBefore) / MiB

/**
 * `modulePath`'s static graph loads no client-node, and importing it costs less than
 * `maxDeltaMiB` of RSS (client-node alone is ~85–89 MiB).
 */
export async function checkNoClientNode(t: Test, modulePath: string, maxDeltaMiB: number): Promise<void> {
  const result = await probe(modulePath)
  t.ok(result.resolved.some((url) => url.endsWith(modulePath)), 'the module itself was seen')
  t.same(clientNodeModules(result), [])
  const delta = rssDeltaMiB(result)
  t.comment(`${modulePath}: ${result.resolved.length} modules, +${delta.toFixed(1)} MiB RSS (total ${(result.rssAfter / MiB).toFixed(1)} MiB)`)
  t.ok(delta < maxDeltaMiB, `import cost ${delta.toFixed(1)} MiB stays below ${maxDeltaMiB} MiB, well under client-node's own`)
}
