/**
 * How the image runs runguard, read from the Dockerfile itself (the final stage's `ENV` lines) so
 * benchmarks and tests run the processes as the image does and cannot drift from it (and
 * test/integration/node-image.test.ts checks the image built for the node tests against it): the node
 * flags (`NODE_OPTIONS`, passed as arguments: tap rewrites a child's NODE_OPTIONS) and the rest of
 * the environment. Both decide how much memory the process keeps: with node's default young
 * generation a reconciler holding 10k runs + 10k Jobs kept ~128 MiB of new space committed (the
 * image's 2 MiB semi-space: 4 MiB), and glibc's default mmap threshold kept ~55 MiB of freed LIST
 * buffers (see the Dockerfile).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './runguard.ts'

const DOCKERFILE = join(REPO_ROOT, 'Dockerfile')

export interface Stage {
  from: string
  run: string[]
  /** COPY lines from the build context (no --from). */
  copies: Array<{ src: string; dest: string }>
}

export interface FinalStage {
  env: Record<string, string>
  workdir: string
  user: string
  expose: string[]
  entrypoint: string[]
  cmd: string[]
  copies: Array<{ from?: string; src: string; dest: string }>
}

/** Just enough of a Dockerfile parser for this one: stages, RUN, and the final stage's instructions. */
export function parseDockerfile(text: string): { stages: Record<string, Stage>; final: FinalStage; nodeMajor: string } {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const stages: Record<string, Stage> = {}
  let current: Stage = { from: '', run: [], copies: [] }
  const final: FinalStage = { env: {}, workdir: '/', user: '', expose: [], entrypoint: [], cmd: [], copies: [] }
  let finalIndex = -1
  lines.forEach((line, i) => {
    if (/^FROM /i.test(line)) finalIndex = i
  })
  lines.forEach((line, i) => {
    const [instruction = '', ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    switch (instruction.toUpperCase()) {
      case 'FROM': {
        const [image = '', , name] = rest
        current = { from: image, run: [], copies: [] }
        if (name) stages[name] = current
        break
      }
      case 'RUN':
        current.run.push(args)
        break
      case 'COPY':
        if (!rest.some((r) => r.startsWith('--'))) current.copies.push({ src: rest.slice(0, -1).join(' '), dest: rest.at(-1) ?? '' })
        break
    }
    if (i < finalIndex) return
    switch (instruction.toUpperCase()) {
      case 'ENV': {
        const [key = '', ...value] = args.split('=')
        // `KEY=value` or `KEY="value with spaces"`.
        final.env[key] = value.join('=').replace(/^"(.*)"$/, '$1')
        break
      }
      case 'WORKDIR':
        final.workdir = args
        break
      case 'USER':
        final.user = args
        break
      case 'EXPOSE':
        final.expose.push(...rest)
        break
      case 'ENTRYPOINT':
        final.entrypoint = JSON.parse(args) as string[]
        break
      case 'CMD':
        final.cmd = JSON.parse(args) as string[]
        break
      case 'COPY': {
        const from = rest.find((r) => r.startsWith('--from='))?.slice('--from='.length)
        const paths = rest.filter((r) => !r.startsWith('--'))
        final.copies.push({ ...(from ? { from } : {}), src: paths.slice(0, -1).join(' '), dest: paths.at(-1) ?? '' })
        break
      }
    }
  })
  const finalFrom = lines[finalIndex]?.split(/\s+/)[1] ?? ''
  return { stages, final, nodeMajor: /^node:(\d+)/.exec(finalFrom)?.[1] ?? '' }
}

/** The Dockerfile's final stage. */
function finalStage(dockerfile: string): FinalStage {
  return parseDockerfile(readFileSync(dockerfile, 'utf8')).final
}

/** The node flags of the image (its NODE_OPTIONS), as arguments. */
export function imageNodeFlags(dockerfile = DOCKERFILE): string[] {
  const options = finalStage(dockerfile).env.NODE_OPTIONS
  if (options === undefined) throw new Error(`${dockerfile}: no ENV NODE_OPTIONS=… line in the final stage`)
  return options.split(/\s+/).filter((flag) => flag !== '')
}

/** The image's other environment settings (NODE_OPTIONS excluded: imageNodeFlags()). */
export function imageEnv(dockerfile = DOCKERFILE): Record<string, string> {
  const env = { ...finalStage(dockerfile).env }
  delete env.NODE_OPTIONS
  return env
}
