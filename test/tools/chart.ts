/**
 * `npm run chart`: writes the parts of charts/runguard/ that have another source of truth, so the
 * chart and the kustomize manifests/ cannot drift apart:
 *
 * - templates/admission.yaml — the Validating/MutatingWebhookConfigurations and the status
 *   ValidatingAdmissionPolicy, rendered by the same code as manifests/webhooks/ and the running
 *   webhook's routes (src/admission/manifests.ts renderAdmission over webhooks/). It is rendered
 *   with sentinel values for everything a chart value or the release decides (names, namespace,
 *   controller and break-glass identities, namespaceSelector, caBundle, failurePolicy, timeout) and
 *   each sentinel becomes the Helm expression that computes it;
 * - files/crds/*.yaml, files/dashboard.json, files/prometheusrule.yaml — copies of manifests/crds
 *   and manifests/monitoring (Helm reads only files inside the chart);
 * - the README's chart-values table (between its `chart-values` markers).
 *
 * `npm run chart -- --check` writes nothing and exits 1 naming every file that is out of date
 * (test/unit/chart.test.ts runs it).
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { renderAdmission } from '../../src/admission/manifests.ts'
import { EXCLUDED_NAMESPACES, WEBHOOKS } from '../../webhooks/index.ts'
import { chartSettingsMarkdown } from './chart-settings.ts'

const root = resolve(import.meta.dirname, '../..')
const chart = join(root, 'charts', 'runguard')

const S = {
  namespace: '__RG_NAMESPACE__',
  service: '__RG_SERVICE__',
  fullname: '__RG_FULLNAME__',
  controller: '__RG_CONTROLLER__',
  breakGlass: '__RG_BREAK_GLASS__',
} as const

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A piece of template text standing in for a scalar, or a block placed under a key / as a list item. */
class Tpl {
  readonly kind: 'scalar' | 'block' | 'optional-entry'
  readonly text: string
  /** optional-entry: the Helm condition; the content is rendered normally. */
  readonly condition: string | undefined
  readonly content: Json | Tpl | { [key: string]: unknown } | undefined
  constructor(kind: Tpl['kind'], text: string, condition?: string, content?: Json | Tpl | { [key: string]: unknown }) {
    this.kind = kind
    this.text = text
    this.condition = condition
    this.content = content
  }
}

type Node = Json | Tpl | Node[] | { [key: string]: Node }

const peopleWebhooks = WEBHOOKS.filter((w) => w.splitByWriter).map((w) => w.name)

function quoteGo(text: string): string {
  return JSON.stringify(text) // a valid Go string literal for the CEL and names we emit
}

/** A string with sentinels → a Tpl scalar computing it, or the string when it has none. */
function substitute(text: string): string | Tpl {
  const controllerCel = `request.userInfo.username in ['${S.controller}']`
  const breakGlassCel = `request.userInfo.username in ['${S.breakGlass}']`
  const parts: Array<[string, string]> = [
    // First, so the alternation below prefers it to the two lists it is made of.
    [`(${controllerCel}) || (${breakGlassCel}) || `, '$policyExempt'],
    [controllerCel, '$controllerCel'],
    [breakGlassCel, '$breakGlassCel'],
    [S.fullname, '$fullname'],
    [S.namespace, '$namespace'],
    [S.service, '$service'],
  ]
  if (!parts.some(([sentinel]) => text.includes(sentinel))) return text
  const args: string[] = []
  let format = text.replace(/%/g, '%%')
  // Replace in a single left-to-right pass so the arguments line up with the %s in order.
  const pattern = new RegExp(parts.map(([s]) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
  format = format.replace(pattern, (match) => {
    args.push(parts.find(([s]) => s === match)![1])
    return '%s'
  })
  if (text.includes('__RG_')) {
    for (const leftover of text.match(/__RG_[A-Z_]+__/g) ?? []) if (!parts.some(([s]) => s.includes(leftover))) throw new Error(`unhandled sentinel ${leftover} in ${text}`)
  }
  if (format === '%s') return new Tpl('scalar', `{{ ${args[0]} | toJson }}`)
  return new Tpl('scalar', `{{ printf ${quoteGo(format)} ${args.join(' ')} | toJson }}`)
}

/** Walks what renderAdmission returned and marks every chart-decided place. */
function templatize(value: Json, path: string[]): Node {
  const key = path[path.length - 1]
  const parentKey = path[path.length - 2]
  if (Array.isArray(value)) {
    return value.map((item, i) => templatize(item, [...path, String(i)]))
  }
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Node } = {}
    const webhookName = typeof value.name === 'string' ? value.name : undefined
    for (const [k, v] of Object.entries(value)) {
      if (k === 'labels' && key === 'metadata') {
        out[k] = new Tpl('block', '{{- include "runguard.labels" . | nindent INDENT }}')
        out.annotations = new Tpl('optional-entry', '', 'ANNOTATIONS', null) // placeholder, see annotationsFor
        continue
      }
      if (k === 'namespaceSelector') {
        out[k] = new Tpl('block', '{{- $namespaceSelector | nindent INDENT }}')
        continue
      }
      if (webhookName && path.includes('webhooks') && k === 'failurePolicy' && peopleWebhooks.includes(webhookName)) {
        out[k] = new Tpl('scalar', '{{ $peopleFailurePolicy }}')
        continue
      }
      if (webhookName && path.includes('webhooks') && k === 'timeoutSeconds' && peopleWebhooks.some((n) => webhookName === n || webhookName === `controllers.${n}`)) {
        out[k] = new Tpl('scalar', '{{ $timeoutSeconds }}')
        continue
      }
      out[k] = templatize(v, [...path, k])
    }
    if (key === 'clientConfig') {
      out.caBundle = new Tpl('optional-entry', '', '$caBundle', new Tpl('scalar', '{{ $caBundle }}'))
    }
    void parentKey
    return out
  }
  if (typeof value === 'string') return substitute(value)
  return value
}

function scalar(value: Json | Tpl): string {
  if (value instanceof Tpl) return value.text
  if (typeof value === 'string') {
    if (value.includes('{{') || value.includes('}}')) throw new Error(`a literal string would be read as a template: ${value}`)
    // Plain where YAML cannot read it as anything but this string.
    const plain = /^[A-Za-z][A-Za-z0-9._/-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n|~)$/i.test(value)
    return plain ? value : JSON.stringify(value)
  }
  return JSON.stringify(value)
}

/** Emits YAML (with Helm template text) for a templatized tree. */
function emit(node: Node, indent: number, lines: string[], annotations: string): void {
  if (Array.isArray(node)) {
    for (const item of node) emitItem(item, indent, lines, annotations)
    return
  }
  if (node !== null && typeof node === 'object' && !(node instanceof Tpl)) {
    for (const [key, value] of Object.entries(node)) emitEntry(key, value, indent, lines, annotations)
    return
  }
  throw new Error('emit: scalar at top level')
}

function emitEntry(key: string, value: Node, indent: number, lines: string[], annotations: string): void {
  const pad = ' '.repeat(indent)
  if (value instanceof Tpl) {
    if (value.kind === 'scalar') lines.push(`${pad}${key}: ${value.text}`)
    else if (value.kind === 'block') lines.push(`${pad}${key}:`, `${pad}  ${value.text.replace('INDENT', String(indent + 2))}`)
    else if (value.kind === 'optional-entry' && value.condition === 'ANNOTATIONS') {
      if (annotations === '') return
      lines.push(`${pad}{{- with ${annotations} }}`, `${pad}${key}:`, `${pad}  {{- . | nindent ${indent + 2} }}`, `${pad}{{- end }}`)
    } else if (value.kind === 'optional-entry') {
      lines.push(`${pad}{{- if ${value.condition} }}`)
      emitEntry(key, value.content as Node, indent, lines, annotations)
      lines.push(`${pad}{{- end }}`)
    } else throw new Error(`unexpected ${value.kind} under ${key}`)
    return
  }
  if (Array.isArray(value)) {
    if (value.length === 0) {
      lines.push(`${pad}${key}: []`)
      return
    }
    lines.push(`${pad}${key}:`)
    emit(value, indent + 2, lines, annotations)
    return
  }
  if (value !== null && typeof value === 'object') {
    if (Object.keys(value).length === 0) {
      lines.push(`${pad}${key}: {}`)
      return
    }
    lines.push(`${pad}${key}:`)
    emit(value, indent + 2, lines, annotations)
    return
  }
  lines.push(`${pad}${key}: ${scalar(value)}`)
}

function emitItem(item: Node, indent: number, lines: string[], annotations: string): void {
  const pad = ' '.repeat(indent)
  if (item instanceof Tpl || item === null || typeof item !== 'object' || Array.isArray(item)) {
    if (Array.isArray(item)) throw new Error('nested lists are not used here')
    lines.push(`${pad}- ${scalar(item as Json | Tpl)}`)
    return
  }
  const sub: string[] = []
  emit(item, indent + 2, sub, annotations)
  // The first line that is not a template control line carries the `- `.
  const first = sub.findIndex((line) => !line.trimStart().startsWith('{{-'))
  sub[first] = `${pad}- ${sub[first]!.slice(indent + 2)}`
  lines.push(...sub)
}

export function admissionTemplate(): string {
  const objects = renderAdmission(WEBHOOKS, {
    target: { service: { namespace: S.namespace, name: S.service, port: 443 } },
    excludedNamespaces: [...EXCLUDED_NAMESPACES, S.namespace],
    controllers: { users: [S.controller], groups: [] },
    breakGlass: { users: [S.breakGlass], groups: [] },
    namePrefix: S.fullname,
  }) as Json[]
  const header = [
    '{{- /*',
    'Generated by `npm run chart` from webhooks/ through src/admission/manifests.ts renderAdmission —',
    'the code that writes manifests/webhooks/ — do not edit by hand. Every value a release decides',
    "comes from a helper in _helpers.tpl; test/unit/chart.test.ts compares the result with",
    'renderAdmission for the same settings, object by object.',
    '*/}}',
    '{{- $fullname := include "runguard.fullname" . }}',
    '{{- $namespace := include "runguard.namespace" . }}',
    '{{- $service := include "runguard.webhookServiceName" . }}',
    '{{- $controllerCel := include "runguard.controllerCel" . }}',
    '{{- $breakGlassCel := include "runguard.breakGlassCel" . }}',
    // The status policy's exemptions, as renderStatusPolicy writes them: each identity list that is not empty, then `||`.
    '{{- $policyExempt := "" }}',
    '{{- range (list $controllerCel $breakGlassCel) }}{{ if ne . "false" }}{{ $policyExempt = printf "%s(%s) || " $policyExempt . }}{{ end }}{{ end }}',
    '{{- $peopleFailurePolicy := include "runguard.peopleFailurePolicy" . }}',
    '{{- $timeoutSeconds := .Values.webhook.timeoutSeconds }}',
    '{{- $caBundle := include "runguard.caBundle" . }}',
    '{{- $namespaceSelector := include "runguard.namespaceSelector" . }}',
  ]
  const documents = objects.map((object) => {
    const kind = (object as { kind: string }).kind
    const lines: string[] = []
    const isWebhookConfiguration = kind.endsWith('WebhookConfiguration')
    const people = isWebhookConfiguration
      ? ((object as { webhooks: Array<{ name: string }> }).webhooks.map((w) => w.name).filter((n) => peopleWebhooks.includes(n)))
      : []
    const annotations = isWebhookConfiguration ? `include "runguard.webhookConfigurationAnnotations" (dict "root" $ "people" (list ${people.map((n) => quoteGo(n)).join(' ')}))` : ''
    emit(templatize(object, []), 0, lines, annotations)
    return lines.join('\n')
  })
  return `${header.join('\n')}\n${documents.map((d) => `---\n${d}`).join('\n')}\n`
}

interface Output {
  path: string
  content: string
}

function copies(): Output[] {
  const out: Output[] = []
  for (const name of readdirSync(join(root, 'manifests', 'crds')).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml').sort()) {
    out.push({ path: join(chart, 'files', 'crds', name), content: readFileSync(join(root, 'manifests', 'crds', name), 'utf8') })
  }
  out.push({ path: join(chart, 'files', 'dashboard.json'), content: readFileSync(join(root, 'manifests', 'monitoring', 'dashboard.json'), 'utf8') })
  out.push({ path: join(chart, 'files', 'prometheusrule.yaml'), content: readFileSync(join(root, 'manifests', 'monitoring', 'prometheusrule.yaml'), 'utf8') })
  return out
}

function readmeWithTable(): Output {
  const path = join(root, 'README.md')
  const readme = readFileSync(path, 'utf8')
  const begin = '<!-- BEGIN chart-values (generated by `npm run chart`) -->'
  const end = '<!-- END chart-values -->'
  const at = readme.indexOf(begin)
  const until = readme.indexOf(end)
  if (at < 0 || until < at) return { path, content: readme }
  return { path, content: `${readme.slice(0, at + begin.length)}\n${chartSettingsMarkdown()}\n${readme.slice(until)}` }
}

export function outputs(): Output[] {
  return [{ path: join(chart, 'templates', 'admission.yaml'), content: admissionTemplate() }, ...copies(), readmeWithTable()]
}

if (import.meta.main) {
  const check = process.argv.includes('--check')
  const stale: string[] = []
  for (const { path, content } of outputs()) {
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined
    if (current === content) continue
    stale.push(path.slice(root.length + 1))
    if (!check) {
      mkdirSync(join(path, '..'), { recursive: true })
      writeFileSync(path, content)
    }
  }
  // Files no source produces any more.
  const crdDir = join(chart, 'files', 'crds')
  const expected = new Set(outputs().map((o) => o.path))
  for (const name of existsSync(crdDir) ? readdirSync(crdDir) : []) {
    const path = join(crdDir, name)
    if (expected.has(path)) continue
    stale.push(path.slice(root.length + 1))
    if (!check) rmSync(path)
  }
  if (check && stale.length > 0) {
    process.stderr.write(`out of date (run \`npm run chart\`): ${stale.join(', ')}\n`)
    process.exit(1)
  }
  if (!check) process.stdout.write(stale.length > 0 ? `wrote ${stale.join(', ')}\n` : 'charts/runguard is up to date\n')
}
