import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { imageNodeFlags } from '../harness/image-node-flags.ts'

function dockerfile(t: Test, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'node-flags-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'Dockerfile')
  writeFileSync(path, text)
  return path
}

t.test("the image's own Dockerfile sets node flags the benches and tests can pass on", async (t) => {
  const flags = imageNodeFlags()
  t.ok(flags.length > 0, 'at least one flag')
  for (const flag of flags) t.match(flag, /^--[a-z]/, `${flag} is a node option`)
})

t.test('the last NODE_OPTIONS wins (the final stage), quoted or not, split on spaces', async (t) => {
  const path = dockerfile(t, 'FROM a AS build\nENV NODE_OPTIONS=--max-old-space-size=4096\nFROM b\nENV NODE_ENV=production\nENV NODE_OPTIONS="--max-semi-space-size=2  --enable-source-maps"\nCMD ["x"]\n')
  t.same(imageNodeFlags(path), ['--max-semi-space-size=2', '--enable-source-maps'])
  t.same(imageNodeFlags(dockerfile(t, 'FROM b\nENV NODE_OPTIONS=--max-semi-space-size=8\n')), ['--max-semi-space-size=8'])
})

t.test('a Dockerfile without NODE_OPTIONS is an error, not silently no flags', async (t) => {
  t.throws(() => imageNodeFlags(dockerfile(t, 'FROM b\nENV NODE_ENV=production\n')), /no ENV NODE_OPTIONS/)
})
