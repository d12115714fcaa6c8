/**
 * The webhook must stay within 100 MiB RSS, and @kubernetes/client-node alone costs ~85 MiB: the
 * webhook's module graph (src/cmd/webhook.ts and everything it imports) must not load it.
 *
 * A fresh `node` imports the module with a module.registerHooks() resolve hook installed first, so
 * every import and require() on the way is seen, and reports what it resolved and its RSS before
 * and after. The TypeScript loader is warmed up first (it costs ~20 MiB by itself, which the built
 * JavaScript in dist/ does not pay), so the delta is the module graph's own.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const MiB = 1024 * 1024

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

interface Probe {
  resolved: string[]
  rssBefore: number
  rssAfter: number
  nodeOptions: string
  execArgv: string[]
}

async function probe(modulePath: string): Promise<Probe> {
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

const clientNode = (p: Probe) => p.resolved.filter((url) => url.includes('/node_modules/@kubernetes/client-node/'))

t.test('the probe sees client-node when a module does load it', async (t) => {
  const reconciler = await probe('src/events/kube-transport.ts')
  t.ok(clientNode(reconciler).length > 0, `${clientNode(reconciler).length} client-node modules seen`)
  t.comment(`src/events/kube-transport.ts: +${((reconciler.rssAfter - reconciler.rssBefore) / MiB).toFixed(1)} MiB RSS`)
})

for (const path of ['src/cmd/webhook.ts', 'src/events/recorder.ts', 'src/events/transport.ts', 'src/kube/rest.ts']) {
  t.test(`${path} does not load @kubernetes/client-node`, async (t) => {
    const result = await probe(path)
    t.ok(result.resolved.some((url) => url.endsWith(path)), 'the module itself was seen')
    t.same(clientNode(result), [])
    const delta = (result.rssAfter - result.rssBefore) / MiB
    t.comment(`${path}: ${result.resolved.length} modules, +${delta.toFixed(1)} MiB RSS (total ${(result.rssAfter / MiB).toFixed(1)} MiB)`)
    // client-node alone is ~80 MiB here; the whole webhook graph measured ~42 MiB.
    t.ok(delta < 60, `import cost ${delta.toFixed(1)} MiB stays well below client-node's ~80 MiB`)
  })
}
