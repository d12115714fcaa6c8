/**
 * The image test/node/build-images.sh assembles (umoci, no Docker daemon) and the Dockerfile
 * describe the same image:
 * - config: USER, WORKDIR, ENTRYPOINT, CMD, EXPOSE and every ENV of the Dockerfile's final stage,
 *   PATH reaching /usr/local/bin, Node of the Dockerfile's major version;
 * - files: /app holds exactly what the Dockerfile's COPY lines put there -- `npm run build`
 *   output, the deps stage's `npm ci --omit=dev ...` (its RUN line, executed verbatim) and
 *   package.json -- byte for byte, with the same modes, owned by root;
 * - and it runs: the image's entrypoint started by runc as 65532, read-only root filesystem,
 *   no capabilities, in its own network namespace.
 * Image size and build time are printed as `# figure:` comments (BENCHMARKS.md).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import t, { type Test } from 'tap'
import { parseDockerfile } from '../harness/image-runtime.ts'
import { buildImages, nodePreflight } from '../harness/node.ts'
import { REPO_ROOT } from '../harness/runguard.ts'

const problem = nodePreflight()
if (problem !== undefined) {
  t.plan(0, `cannot build or run the image here: ${problem}`)
} else {
  const work = mkdtempSync(join(tmpdir(), 'runguard-image-parity-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const run = (command: string, args: string[], cwd = work, timeout = 300_000): string => {
    const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules', 'node', 'bin')}:${process.env.PATH ?? ''}` } })
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
    return r.stdout
  }

  const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'))
  const images = await buildImages()
  const image = images.runguard
  const layout = join(work, 'oci')
  run('tar', ['-C', work, '--one-top-level=oci', '-xf', image.archive])
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> }
  const blob = (digest: string): Buffer => readFileSync(join(layout, 'blobs', 'sha256', digest.replace('sha256:', '')))
  const manifest = JSON.parse(blob(index.manifests[0]?.digest ?? '').toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> }
  const config = JSON.parse(blob(manifest.config.digest).toString()) as {
    os: string
    architecture: string
    config: { User?: string; WorkingDir?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; ExposedPorts?: Record<string, object> }
  }

  t.test('config: the Dockerfile final stage', async (t) => {
    const final = dockerfile.final
    t.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], image.tag, `tagged ${image.tag}`)
    t.equal(image.tag, JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version, 'tag = package.json version = the tag the manifests run')
    t.match(readFileSync(join(REPO_ROOT, 'manifests', 'base', 'deployment.yaml'), 'utf8'), new RegExp(`image: runguard:${image.tag.replace(/\./g, '\\.')}`), 'the manifests run this tag')
    t.equal(`${config.os}/${config.architecture}`, 'linux/amd64')
    t.equal(config.config.User, final.user, `USER ${final.user}`)
    t.equal(config.config.WorkingDir, final.workdir, `WORKDIR ${final.workdir}`)
    t.same(config.config.Entrypoint, final.entrypoint, `ENTRYPOINT ${JSON.stringify(final.entrypoint)}`)
    t.same(config.config.Cmd, final.cmd, `CMD ${JSON.stringify(final.cmd)}`)
    t.same(Object.keys(config.config.ExposedPorts ?? {}).sort(), final.expose.map((p) => (p.includes('/') ? p : `${p}/tcp`)).sort(), `EXPOSE ${final.expose.join(' ')}`)
    const env = Object.fromEntries((config.config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
    for (const [key, value] of Object.entries(final.env)) t.equal(env[key], value, `ENV ${key}=${value}`)
    t.ok(env.PATH?.split(':').includes('/usr/local/bin'), 'PATH has /usr/local/bin, where node is (as in the node image)')
    t.equal(env.NODE_VERSION?.split('.')[0], dockerfile.nodeMajor, `Node ${env.NODE_VERSION}, the Dockerfile's node:${dockerfile.nodeMajor}`)
    t.equal(Object.keys(env).sort().join(' '), [...Object.keys(final.env), 'NODE_VERSION', 'PATH'].sort().join(' '), 'no other environment')
  })

  const bundle = join(work, 'bundle')
  run('umoci', ['unpack', '--image', `${layout}:${image.tag}`, bundle])
  const rootfs = join(bundle, 'rootfs')

  t.test('files: /app is what the Dockerfile copies, byte for byte', async (t) => {
    // The Dockerfile's stages, by their own instructions: build (npm run build) and deps (its RUN).
    // Sources edited while this runs (a developer's tree) would compare two different trees: the
    // image is the one for the sources as they are before and after the Dockerfile build here.
    let appRoot = join(rootfs, 'app')
    let expected = ''
    for (let attempt = 1; ; attempt++) {
      const before = attempt === 1 ? images : await buildImages()
      if (attempt > 1) {
        const again = join(work, `attempt-${attempt}`)
        run('tar', ['-C', work, `--one-top-level=attempt-${attempt}-oci`, '-xf', before.runguard.archive])
        run('umoci', ['unpack', '--image', `${join(work, `attempt-${attempt}-oci`)}:${before.runguard.tag}`, again])
        appRoot = join(again, 'rootfs', 'app')
      }
      expected = dockerfileApp(t, join(work, `dockerfile-${attempt}`))
      if ((await buildImages()).dir === before.dir || attempt === 3) break
      t.comment(`sources changed during attempt ${attempt}; again`)
    }
    const ours = tree(appRoot)
    const theirs = tree(expected)
    const onlyOurs = [...ours.keys()].filter((k) => !theirs.has(k))
    const onlyTheirs = [...theirs.keys()].filter((k) => !ours.has(k))
    const differ = [...ours.keys()].filter((k) => theirs.has(k) && ours.get(k)?.hash !== theirs.get(k)?.hash)
    t.same(onlyOurs.slice(0, 20), [], 'no file in the image the Dockerfile would not put there')
    t.same(onlyTheirs.slice(0, 20), [], 'no file the Dockerfile puts there is missing')
    t.same(differ.slice(0, 20), [], `the ${ours.size} entries under /app have the same content and mode`)
    t.ok(ours.has('dist/src/cli.js') && ours.has('node_modules/fastify/package.json'), 'entry point and dependencies present')
    for (const dev of ['typescript', 'tap', 'node', 'autocannon']) t.notOk(ours.has(`node_modules/${dev}/package.json`), `no dev dependency ${dev}`)
    const owners = new Set(walk(appRoot).map((p) => `${lstatSync(p).uid}:${lstatSync(p).gid}`))
    t.same([...owners], ['0:0'], 'every file owned by root (COPY without --chown), so 65532 cannot change them')
    t.equal(lstatSync(join(rootfs, 'usr', 'local', 'bin', 'node')).mode & 0o777, 0o755, '/usr/local/bin/node, as in the node image')
    t.notOk(exists(join(rootfs, 'bin', 'sh')) || exists(join(rootfs, 'usr', 'bin', 'sh')), 'no shell')
  })

  /** The /app of the Dockerfile's final stage, made by following the Dockerfile, in `dir`. */
  function dockerfileApp(t: Test, dir: string): string {
    const expected = join(dir, 'app')
    // The build stage (its /src): its COPY lines from the context, its `npm ci` as a link to the dev
    // toolchain already installed, then its other RUN lines (`npm run build`).
    const buildDir = join(dir, 'build')
    const build = dockerfile.stages.build
    t.ok(build && build.copies.length > 0, 'the Dockerfile has a build stage that copies sources')
    for (const copy of build?.copies ?? []) {
      for (const src of copy.src.split(' ')) cpSync(join(REPO_ROOT, src), join(buildDir, copy.dest.endsWith('/') ? src : copy.dest), { recursive: true })
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(buildDir, 'node_modules'))
    for (const command of build?.run.filter((r) => !r.startsWith('npm ci')) ?? []) {
      const [program, ...args] = command.split(/\s+/)
      run(program ?? '', args, buildDir)
    }
    cpSync(join(REPO_ROOT, 'package.json'), join(expected, 'package.json'))
    cpSync(join(REPO_ROOT, 'package-lock.json'), join(dir, 'deps', 'package-lock.json'))
    cpSync(join(REPO_ROOT, 'package.json'), join(dir, 'deps', 'package.json'))
    const depsRun = dockerfile.stages.deps?.run.find((r) => r.startsWith('npm ci'))
    t.ok(depsRun, `the deps stage runs ${depsRun}`)
    const [npm, ...npmArgs] = (depsRun ?? '').split(/\s+/)
    run(npm ?? 'npm', [...npmArgs, '--prefer-offline', '--loglevel=error'], join(dir, 'deps'))
    // COPY --from=deps /app/node_modules ./node_modules; COPY --from=build /src/dist ./dist; COPY package.json ./
    const copies = dockerfile.final.copies
    t.same(
      copies.map((c) => `${c.from ?? 'context'} ${c.src} → ${c.dest}`),
      ['deps /app/node_modules → ./node_modules', 'build /src/dist → ./dist', 'context package.json → ./'],
      'the final stage copies node_modules, dist and package.json, nothing else',
    )
    cpSync(join(dir, 'deps', 'node_modules'), join(expected, 'node_modules'), { recursive: true, verbatimSymlinks: true })
    cpSync(join(buildDir, 'dist'), join(expected, 'dist'), { recursive: true })
    return expected
  }

  t.test('it runs: entrypoint under runc, as 65532, read-only root filesystem, no capabilities', async (t) => {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      process: { args: string[]; user: { uid: number; gid: number }; capabilities?: Record<string, string[]>; terminal?: boolean; noNewPrivileges?: boolean }
      root: { readonly?: boolean }
      mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>
      linux?: { namespaces?: Array<{ type: string }> }
    }
    t.same(spec.process.user, { uid: 65532, gid: 65532, ...(spec.process.user as object) }, 'umoci derives uid/gid 65532 from USER')
    spec.process.args = [...(config.config.Entrypoint ?? []), '--version']
    spec.process.terminal = false
    spec.process.noNewPrivileges = true
    spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] }
    spec.root.readonly = true
    spec.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=16m'] })
    t.ok(spec.linux?.namespaces?.some((n) => n.type === 'network'), 'its own network namespace')
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec))
    const state = join(work, 'runc')
    const id = `runguard-image-${process.pid}`
    const started = process.hrtime.bigint()
    const r = spawnSync('runc', ['--root', state, 'run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000 })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    spawnSync('runc', ['--root', state, 'delete', '--force', id])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout.trim(), image.tag, `node -- /app/dist/src/cli.js --version → ${r.stdout.trim()}`)
    t.comment(`figure: image: ${(image.compressedBytes / 1e6).toFixed(1)} MB compressed layers, ${(image.unpackedBytes / 1e6).toFixed(1)} MB unpacked (Node ${image.nodeVersion} binary ${(lstatSync(join(rootfs, 'usr', 'local', 'bin', 'node')).size / 1e6).toFixed(1)} MB); ${manifest.layers.length} layers; built in ${images.buildSeconds} s`)
    t.comment(`figure: image: runc run of the entrypoint (--version) ${ms.toFixed(0)} ms, read-only root, uid 65532, no capabilities`)
  })
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    return e.isDirectory() ? [path, ...walk(path)] : [path]
  })
}

/** relative path → hash of (type, mode, content or link target). */
function tree(dir: string): Map<string, { hash: string }> {
  const entries = new Map<string, { hash: string }>()
  for (const path of walk(dir)) {
    const stat = lstatSync(path)
    const kind = stat.isSymbolicLink() ? `l ${readlinkSync(path)}` : stat.isDirectory() ? 'd' : `f ${createHash('sha256').update(readFileSync(path)).digest('hex')}`
    entries.set(relative(dir, path), { hash: `${(stat.mode & 0o7777).toString(8)} ${kind}` })
  }
  return entries
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}
