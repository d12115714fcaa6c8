/**
 * The node flags the image runs runguard with (the Dockerfile's `ENV NODE_OPTIONS=…`), read from
 * the Dockerfile itself so benchmarks and tests run the processes as the image does and cannot
 * drift from it. They decide how much memory V8 commits: with node's default young generation a
 * reconciler holding 10k runs + 10k Jobs keeps ~128 MiB of new space committed, with the image's
 * 2 MiB semi-space 4 MiB.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './runguard.ts'

export function imageNodeFlags(dockerfile = join(REPO_ROOT, 'Dockerfile')): string[] {
  const text = readFileSync(dockerfile, 'utf8')
  // The final stage's setting wins, as in the image (a later ENV overrides an earlier one).
  const settings = [...text.matchAll(/^ENV\s+NODE_OPTIONS=(?:"([^"]*)"|(\S+))\s*$/gm)].map((m) => m[1] ?? m[2] ?? '')
  const last = settings.at(-1)
  if (last === undefined) throw new Error(`${dockerfile}: no ENV NODE_OPTIONS=… line`)
  return last.split(/\s+/).filter((flag) => flag !== '')
}
