/**
 * Where runguard's Kubernetes credentials come from: one resolver for the webhook's small REST
 * client (rest.ts) and the reconciler's client-node fallback (client.ts). It must not import
 * client-node: the webhook and the reconciler load this file.
 *
 * Order, as controller-runtime's GetConfig (without ~/.kube/config): the files given explicitly
 * (--kubeconfig), else the KUBECONFIG list, else the in-cluster service account
 * (KUBERNETES_SERVICE_HOST and _PORT set, and its token present), else none.
 *
 * A list of files is merged like kubectl does: the first file to set current-context wins, and so
 * does the first file to name a cluster, user or context; relative paths in a file resolve against
 * that file's folder. Every file named must exist. The service account is given the same shape:
 * one context, its cluster (the API server's address and the account's ca.crt) and its user (the
 * account's token file, which rotates).
 *
 * Only what the caller passes in is read — never process.env.
 */
import { existsSync, readFileSync } from 'node:fs'
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { parse } from 'yaml'
import { isJsonObject, type JsonObject } from './objects.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The environment variables the resolver reads (a NodeJS.ProcessEnv fits). */
export interface KubeconfigEnv {
  readonly KUBECONFIG?: string | undefined
  readonly KUBERNETES_SERVICE_HOST?: string | undefined
  readonly KUBERNETES_SERVICE_PORT?: string | undefined
}

/** One entry of `clusters`, `users` or `contexts`: `{name, cluster | user | context: {...}}`. */
export interface NamedEntry {
  name: string
  [key: string]: unknown
}

/** A kubeconfig merged from its files, every file path in it absolute. */
export interface Kubeconfig {
  clusters: NamedEntry[]
  users: NamedEntry[]
  contexts: NamedEntry[]
  currentContext: string | undefined
}

export interface ResolvedKubeconfig {
  config: Kubeconfig
  /** `in-cluster`, or the kubeconfig file(s) it came from, for messages and the start-up log line. */
  source: string
}

export function resolveKubeconfig(env: KubeconfigEnv, explicit?: string, serviceAccountDir = SERVICE_ACCOUNT_DIR): ResolvedKubeconfig | undefined {
  const files = (explicit ?? env.KUBECONFIG ?? '')
    .split(delimiter)
    .filter((file) => file !== '')
    .map((file) => resolve(file))
  if (files.length > 0) return { config: mergeFiles(files), source: files.join(delimiter) }
  return inCluster(env, serviceAccountDir)
}

function mergeFiles(files: readonly string[]): Kubeconfig {
  const missing = files.filter((file) => !existsSync(file))
  if (missing.length > 0) throw new Error(`kubeconfig ${missing.join(', ')} does not exist`)
  const merged: Kubeconfig = { clusters: [], users: [], contexts: [], currentContext: undefined }
  for (const file of files) {
    const doc = readFile(file)
    const dir = dirname(file)
    const current = doc['current-context']
    if (merged.currentContext === undefined && typeof current === 'string' && current !== '') merged.currentContext = current
    addEntries(merged.clusters, doc.clusters, 'cluster', (cluster) => absolutePaths(cluster, dir, ['certificate-authority']))
    addEntries(merged.users, doc.users, 'user', (user) => absoluteUserPaths(user, dir))
    addEntries(merged.contexts, doc.contexts, 'context', (context) => context)
  }
  return merged
}

function readFile(file: string): JsonObject {
  let doc: unknown
  try {
    doc = parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  if (!isJsonObject(doc)) throw new Error(`kubeconfig ${file}: not a kubeconfig (expected a YAML mapping)`)
  return doc
}

/** Appends the entries of `list` whose name is not taken yet (the first file wins), their `key` mapping rewritten. */
function addEntries(into: NamedEntry[], list: unknown, key: string, rewrite: (value: JsonObject) => JsonObject): void {
  if (!Array.isArray(list)) return
  for (const entry of list as unknown[]) {
    if (!isJsonObject(entry) || typeof entry.name !== 'string') continue
    if (into.some((known) => known.name === entry.name)) continue
    const value = entry[key]
    into.push({ ...entry, name: entry.name, ...(isJsonObject(value) ? { [key]: rewrite(value) } : {}) })
  }
}

function absolutePaths(mapping: JsonObject, dir: string, keys: readonly string[]): JsonObject {
  const out = { ...mapping }
  for (const key of keys) {
    const value = out[key]
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) out[key] = resolve(dir, value)
  }
  return out
}

/** kubectl's rule: the certificate, key and token files; the exec command only when it is a path, not a name looked up in PATH. */
function absoluteUserPaths(user: JsonObject, dir: string): JsonObject {
  const out = absolutePaths(user, dir, ['client-certificate', 'client-key', 'tokenFile'])
  if (isJsonObject(out.exec) && typeof out.exec.command === 'string' && out.exec.command.includes('/')) {
    out.exec = absolutePaths(out.exec, dir, ['command'])
  }
  return out
}

const IN_CLUSTER = 'in-cluster'

function inCluster(env: KubeconfigEnv, dir: string): ResolvedKubeconfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  const tokenFile = join(dir, 'token')
  if (!host || !port || !existsSync(tokenFile)) return undefined
  const caFile = join(dir, 'ca.crt')
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  return {
    config: {
      // Like client-go: without ca.crt, the default roots.
      clusters: [{ name: IN_CLUSTER, cluster: { server, ...(existsSync(caFile) ? { 'certificate-authority': caFile } : {}) } }],
      users: [{ name: IN_CLUSTER, user: { tokenFile } }],
      contexts: [{ name: IN_CLUSTER, context: { cluster: IN_CLUSTER, user: IN_CLUSTER } }],
      currentContext: IN_CLUSTER,
    },
    source: IN_CLUSTER,
  }
}
