/**
 * manifests/crds-patch/ (a kustomize Component of JSON 6902 ops) must turn the upstream CRDs into
 * exactly manifests/crds/: applied to the upstream-only fixture (test/fixtures/upstream-crds/, which
 * crds.test.ts checks against the field list) it yields our CRDs' spec, schema included, deep-equal.
 * The fixture itself must be our CRDs minus the documented additions, and the component's guards must
 * fail the build rather than overwrite a member upstream already defines.
 * kubectl comes from the project's control-plane build (test/controlplane/build.sh, cached).
 */
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import YAML from 'yaml'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

interface Rule {
  rule: string
}
interface Schema {
  properties?: Record<string, Schema>
  'x-kubernetes-validations'?: Rule[]
  [key: string]: unknown
}
interface Crd {
  metadata: { name: string; labels?: Record<string, string> }
  spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }>; [key: string]: unknown }
  [key: string]: unknown
}

const FILES = [
  'agents.proompteng.ai_agentruns.yaml',
  'orchestration.proompteng.ai_orchestrationruns.yaml',
  'tools.proompteng.ai_toolruns.yaml',
]
const ADDED_SPEC_FIELDS = ['cancel', 'desiredState']
const ADDED_RULE_VARIABLES = /\boldSelf\.(cancel|desiredState|startedAt|finishedAt|phase)\b|self\.cancel == \(self\.desiredState/

function load(path: string): Crd {
  return YAML.parse(readFileSync(join(root, path), 'utf8')) as Crd
}

function schemaOf(crd: Crd): Schema {
  return crd.spec.versions[0]!.schema.openAPIV3Schema
}

/** Our CRD with runguard's additions taken out again: what upstream must look like. */
function stripAdditions(ours: Crd): Crd {
  const crd = structuredClone(ours)
  delete crd.metadata.labels
  const props = schemaOf(crd).properties!
  for (const f of ADDED_SPEC_FIELDS) delete props.spec!.properties![f]
  for (const node of [props.spec!, props.status!]) {
    const kept = (node['x-kubernetes-validations'] ?? []).filter((r) => !ADDED_RULE_VARIABLES.test(r.rule))
    if (kept.length) node['x-kubernetes-validations'] = kept
    else delete node['x-kubernetes-validations']
  }
  return crd
}

function crdsByName(multiDoc: string): Map<string, Crd> {
  const out = new Map<string, Crd>()
  for (const doc of YAML.parseAllDocuments(multiDoc)) {
    const crd = doc.toJS() as Crd | null
    if (crd) out.set(crd.metadata.name, crd)
  }
  return out
}

t.test('the upstream-only fixture is exactly our CRDs minus the documented additions', async (t) => {
  for (const file of FILES) {
    const ours = load(`manifests/crds/${file}`)
    const upstream = load(`test/fixtures/upstream-crds/${file}`)
    t.strictSame(upstream, stripAdditions(ours), file)
    const rulesRemoved =
      JSON.stringify(schemaOf(ours)).split('"rule":').length - JSON.stringify(schemaOf(upstream)).split('"rule":').length
    t.equal(rulesRemoved, 3, `${file}: three rules are runguard's, all on spec (none on status: see SPEC §1)`)
  }
})

// Locating kubectl may build the control plane on a fresh machine (cached afterwards). A build
// failure fails this file: the component is only proved by kustomize actually applying it.
async function kubectlPath(): Promise<string> {
  const { stdout } = await run('bash', [join(root, 'test/controlplane/build.sh')], { cwd: root, maxBuffer: 1 << 20 })
  const bin = stdout.trim().split('\n').at(-1)
  if (!bin) throw new Error('test/controlplane/build.sh printed no binary folder')
  return join(bin, 'kubectl')
}

const kubectl = await kubectlPath()

async function kustomize(dir: string): Promise<string> {
  const { stdout } = await run(kubectl, ['kustomize', dir], { cwd: root, maxBuffer: 16 << 20 })
  return stdout
}

t.test('upstream fixture + crds-patch component == manifests/crds', async (t) => {
  const patched = crdsByName(await kustomize('test/fixtures/upstream-crds-patched'))
  const plain = crdsByName(await kustomize('test/fixtures/upstream-crds'))
  const ours = crdsByName(await kustomize('manifests/crds'))
  t.equal(patched.size, 3)
  t.equal(ours.size, 3)
  for (const [name, want] of ours) {
    const got = patched.get(name)
    t.ok(got, `${name} present after patching`)
    if (!got) continue
    t.strictSame(schemaOf(got), schemaOf(want), `${name}: openAPIV3Schema deep-equal`)
    t.strictSame(got.spec, want.spec, `${name}: whole spec (names, columns, subresources) deep-equal`)
    t.strictSame(plain.get(name), stripAdditions(want), `${name}: the unpatched fixture builds to upstream-only`)
    t.notOk(got.metadata.labels, `${name}: the component leaves the chart's metadata alone`)
  }
})

t.test('the component refuses to overwrite what upstream already defines', async (t) => {
  const component = join(root, 'manifests/crds-patch')
  const cases: Array<{ name: string; file: string; edit: (s: Schema) => void; error: RegExp }> = [
    {
      name: 'upstream defines spec.cancel',
      file: FILES[2]!,
      edit: (s) => {
        s.properties!.spec!.properties!.cancel = { type: 'string' }
      },
      error: /testing value \/spec\/versions\/0\/schema\/openAPIV3Schema\/properties\/spec\/properties\/cancel failed/,
    },
    {
      name: 'upstream has its own OrchestrationRun spec rules',
      file: FILES[1]!,
      edit: (s) => {
        s.properties!.spec!['x-kubernetes-validations'] = [{ rule: 'true' }]
      },
      error: /properties\/spec\/x-kubernetes-validations failed/,
    },
  ]
  // kustomize refuses absolute component paths; the test dir lives inside the repo (.tap/fixtures).
  const layout = (dir: string) => YAML.stringify({ resources: ['crd.yaml'], components: [relative(dir, component)] })
  for (const c of cases) {
    const dir = t.testdir()
    writeFileSync(join(dir, 'kustomization.yaml'), layout(dir))
    const crd = load(`test/fixtures/upstream-crds/${c.file}`)
    c.edit(schemaOf(crd))
    writeFileSync(join(dir, 'crd.yaml'), YAML.stringify(crd))
    const failure = await kustomize(dir).then(
      () => 'the build succeeded',
      (e: unknown) => (e && typeof e === 'object' && 'stderr' in e ? String(e.stderr) : String(e)),
    )
    t.match(failure, c.error, `${c.name}: the build fails on the guard`)
  }

  // Sanity: the same layout with the untouched fixture builds.
  const dir = t.testdir()
  writeFileSync(join(dir, 'kustomization.yaml'), layout(dir))
  writeFileSync(join(dir, 'crd.yaml'), readFileSync(join(root, 'test/fixtures/upstream-crds', FILES[1]!)))
  const out = crdsByName(await kustomize(dir))
  t.strictSame(schemaOf(out.get('orchestrationruns.orchestration.proompteng.ai')!), schemaOf(load(`manifests/crds/${FILES[1]}`)))
})
