/**
 * Rendering charts/runguard and reading what it rendered, for the chart tests: `helm template`
 * with a values object, the objects keyed by kind/namespace/name, and a normaliser that makes a
 * chart object and its kustomize counterpart comparable (chart-only labels dropped, each
 * container's environment compared as the configuration runguard loads from it).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import YAML from 'yaml'
import { loadConfig } from '../../src/config.ts'
import { CHART_DIR, type Helm } from './tools.ts'

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [key: string]: unknown
}

export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { fieldRef?: { fieldPath: string } }
}

export interface Container {
  name: string
  args?: string[]
  env?: EnvVar[]
  [key: string]: unknown
}

export type Values = Record<string, unknown>

export function parseAll(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object')
}

let valuesDir: string | undefined
let counter = 0

/** `helm template RELEASE charts/runguard -n NAMESPACE -f <values>`; the objects it prints. */
export async function template(helm: Helm, values: Values = {}, options: { release?: string; namespace?: string } = {}): Promise<K8sObject[]> {
  valuesDir ??= mkdtempSync(join(tmpdir(), 'runguard-chart-values-'))
  const file = join(valuesDir, `values-${++counter}.yaml`)
  writeFileSync(file, YAML.stringify(values))
  const { stdout } = await helm(['template', options.release ?? 'runguard', CHART_DIR, '--namespace', options.namespace ?? 'runguard-system', '-f', file])
  return parseAll(stdout)
}

export const key = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`

export function find<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(key).join(', ')}`)
  return found as T
}

export function containersOf(objects: K8sObject[], deployment: string): Container[] {
  const d = find<K8sObject & { spec: { template: { spec: { containers: Container[] } } } }>(objects, 'Deployment', deployment)
  return d.spec.template.spec.containers
}

/** The environment a container gets, as runguard sees it: literal values plus the Downward API ones. */
export function envOf(container: Container, pod: { name: string; namespace: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.name
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = pod.namespace
  }
  return env
}

/** Labels only the chart sets (Helm's conventions), dropped before comparing with kustomize. */
export const CHART_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version']

function dropLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropLabels)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === 'metadata' && v && typeof v === 'object') {
      const meta = { ...(v as Record<string, unknown>) }
      if (meta.labels && typeof meta.labels === 'object') {
        const labels = Object.fromEntries(Object.entries(meta.labels as Record<string, string>).filter(([l]) => !CHART_ONLY_LABELS.includes(l)))
        meta.labels = labels
      }
      out[k] = dropLabels(meta)
    } else out[k] = dropLabels(v)
  }
  return out
}

/**
 * An object in the form both renderings are compared in: chart-only labels dropped, and each
 * container's env replaced by { fieldRefs, config: loadConfig(env) } — "the same settings" means
 * runguard loads the same configuration, whether a value is spelled out or left to its default.
 */
export function normalise(object: K8sObject): unknown {
  const copy = dropLabels(structuredClone(object)) as K8sObject
  if (copy.kind === 'Deployment') {
    const spec = (copy as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec
    const namespace = copy.metadata.namespace ?? 'default'
    spec.containers = spec.containers.map((c) => {
      const { env, ...rest } = c
      const fieldRefs = (env ?? []).filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])
      return { ...rest, env: { fieldRefs, config: loadConfig(envOf(c, { name: 'pod', namespace }), 'pod') } } as unknown as Container
    })
  }
  // caBundle is base64, which the API server reads ignoring line breaks (kustomize folds it).
  for (const webhook of (copy.webhooks as Array<{ clientConfig?: { caBundle?: string } }> | undefined) ?? []) {
    if (webhook.clientConfig?.caBundle) webhook.clientConfig.caBundle = webhook.clientConfig.caBundle.replace(/\s+/g, '')
  }
  if (copy.kind === 'ConfigMap' && copy.data && typeof copy.data === 'object') {
    copy.data = Object.fromEntries(Object.entries(copy.data as Record<string, string>).map(([k, v]) => [k, k.endsWith('.json') ? JSON.parse(v) : v]))
  }
  return copy
}
