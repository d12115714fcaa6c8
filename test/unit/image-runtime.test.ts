import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { imageEnv, imageNodeFlags } from '../harness/image-runtime.ts'

function dockerfile(t: Test, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'image-runtime-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'Dockerfile')
  writeFileSync(path, text)
  return path
}

t.test("the image's own Dockerfile: node flags and environment the benches and tests can pass on", async (t) => {
  const flags = imageNodeFlags()
  t.ok(flags.length > 0, 'at least one flag')
  for (const flag of flags) t.match(flag, /^--[a-z]/, `${flag} is a node option`)
  const env = imageEnv()
  t.notOk('NODE_OPTIONS' in env, 'NODE_OPTIONS is passed as flags, not as environment')
  t.equal(env.NODE_ENV, 'production')
})

t.test("only the final stage counts; the last setting wins; quoted or not; flags split on spaces", async (t) => {
  const path = dockerfile(
    t,
    'FROM a AS build\nENV NODE_OPTIONS=--max-old-space-size=4096\nENV BUILD_ONLY=1\nFROM b\nENV NODE_ENV=production\nENV MALLOC_MMAP_THRESHOLD_=65536\nENV NODE_OPTIONS="--max-semi-space-size=2  --enable-source-maps"\nENV NODE_ENV=prod2\nCMD ["x"]\n',
  )
  t.same(imageNodeFlags(path), ['--max-semi-space-size=2', '--enable-source-maps'])
  t.same(imageEnv(path), { NODE_ENV: 'prod2', MALLOC_MMAP_THRESHOLD_: '65536' })
})

t.test('a final stage without NODE_OPTIONS is an error, not silently no flags', async (t) => {
  t.throws(() => imageNodeFlags(dockerfile(t, 'FROM a\nENV NODE_OPTIONS=--x\nFROM b\nENV NODE_ENV=production\n')), /no ENV NODE_OPTIONS/)
})
