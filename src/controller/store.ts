/**
 * An informer's cache (client-go's Store with its Indexer): objects by namespace/name, read with
 * get() and list(), written by the informer from lists and watch events. replace() and apply()
 * report what changed, in order, so the informer can tell its handlers.
 *
 * list() is served from indexes, because the reconciler asks it once per reconcile ("the Jobs
 * labelled agent-run=<run> in <namespace>"): scanning every cached object for each of 10k runs
 * made a resync quadratic. Objects are indexed by namespace always, and by the value of a label
 * key from the first time a selector with `key=value` (or `key in (…)`) asks for it — the
 * handful of run labels the reconciler uses; the other requirements of a selector filter what the
 * index returns.
 */
import type { KubeObject } from '../kube/objects.ts'
import { matchesRequirements, parseLabelSelector, type Requirement } from './selector.ts'

/** What a reader of a cache needs (a Store satisfies it; tests use a plain list). */
export interface Lister<T extends KubeObject = KubeObject> {
  /** The cached object; namespace '' for cluster-scoped ones. */
  get(namespace: string, name: string): T | undefined
  /** Cached objects, optionally of one namespace and matching a label selector (string form). */
  list(namespace?: string, labelSelector?: string): T[]
}

/** One change to a store, in the order it happened. */
export type StoreChange<T> = { type: 'add'; obj: T } | { type: 'update'; oldObj: T; newObj: T } | { type: 'delete'; obj: T }

/** Parsed selectors, by their string; selectors name runs, so the map is bounded. */
const MAX_PARSED_SELECTORS = 10_000

export class Store<T extends KubeObject = KubeObject> implements Lister<T> {
  private readonly objects = new Map<string, T>()
  /** namespace → keys of its objects. */
  private readonly byNamespace = new Map<string, Set<string>>()
  /** label key → label value → keys of the objects carrying it; built on first use of the key. */
  private readonly byLabel = new Map<string, Map<string, Set<string>>>()
  private readonly parsed = new Map<string, Requirement[]>()

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(storeKey(namespace, name))
  }

  list(namespace?: string, labelSelector?: string): T[] {
    const requirements = labelSelector ? this.requirements(labelSelector) : undefined
    const out: T[] = []
    for (const key of this.candidates(namespace, requirements)) {
      const obj = this.objects.get(key)
      if (!obj) continue
      if (namespace !== undefined && namespaceOf(obj) !== namespace) continue
      if (requirements && !matchesRequirements(obj.metadata?.labels, requirements)) continue
      out.push(obj)
    }
    return out
  }

  size(): number {
    return this.objects.size
  }

  /** Every cached object, in a copy (handlers may change the store meanwhile). */
  all(): T[] {
    return [...this.objects.values()]
  }

  /** Every cached object's key (`namespace/name`), in a copy. */
  keys(): string[] {
    return [...this.objects.keys()]
  }

  /** The cached object under a key from keys(). */
  getByKey(key: string): T | undefined {
    return this.objects.get(key)
  }

  /**
   * A fresh list for `namespace` (undefined = all) replaces what is cached there: new objects are
   * added, changed resourceVersions updated, objects missing from the list deleted.
   */
  replace(namespace: string | undefined, items: readonly T[]): Array<StoreChange<T>> {
    const changes: Array<StoreChange<T>> = []
    const seen = new Set<string>()
    for (const item of items) {
      const key = objectKey(item)
      seen.add(key)
      const old = this.objects.get(key)
      this.put(key, item, old)
      if (!old) changes.push({ type: 'add', obj: item })
      else if (resourceVersionOf(old) !== resourceVersionOf(item) || resourceVersionOf(item) === undefined) changes.push({ type: 'update', oldObj: old, newObj: item })
    }
    const scope = namespace === undefined ? this.objects.keys() : (this.byNamespace.get(namespace) ?? new Set<string>()).values()
    for (const key of [...scope]) {
      if (seen.has(key)) continue
      const old = this.objects.get(key)
      if (!old) continue
      this.remove(key, old)
      changes.push({ type: 'delete', obj: old })
    }
    return changes
  }

  /** One watch event. A delete reports the event's object: the last state known. */
  apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): StoreChange<T> {
    const key = objectKey(obj)
    const old = this.objects.get(key)
    if (type === 'DELETED') {
      if (old) this.remove(key, old)
      return { type: 'delete', obj }
    }
    this.put(key, obj, old)
    return old ? { type: 'update', oldObj: old, newObj: obj } : { type: 'add', obj }
  }

  private requirements(selector: string): Requirement[] {
    let requirements = this.parsed.get(selector)
    if (!requirements) {
      requirements = parseLabelSelector(selector)
      if (this.parsed.size >= MAX_PARSED_SELECTORS) this.parsed.clear()
      this.parsed.set(selector, requirements)
    }
    return requirements
  }

  /** Keys that may match: from a label index when a requirement pins a value, else the namespace's, else all. */
  private candidates(namespace: string | undefined, requirements: readonly Requirement[] | undefined): Iterable<string> {
    const pinned = requirements?.find((r) => r.operator === 'equals' || r.operator === 'in')
    if (pinned) {
      const index = this.labelIndex(pinned.key)
      if (pinned.values.length === 1) return index.get(pinned.values[0]!) ?? []
      const keys = new Set<string>()
      for (const value of pinned.values) for (const key of index.get(value) ?? []) keys.add(key)
      return keys
    }
    if (namespace !== undefined) return this.byNamespace.get(namespace) ?? []
    return this.objects.keys()
  }

  private labelIndex(labelKey: string): Map<string, Set<string>> {
    let index = this.byLabel.get(labelKey)
    if (!index) {
      index = new Map()
      this.byLabel.set(labelKey, index)
      for (const [key, obj] of this.objects) {
        const value = obj.metadata?.labels?.[labelKey]
        if (value !== undefined) addTo(index, value, key)
      }
    }
    return index
  }

  private put(key: string, obj: T, old: T | undefined): void {
    if (old) this.unindex(key, old)
    this.objects.set(key, obj)
    addTo(this.byNamespace, namespaceOf(obj), key)
    for (const [labelKey, index] of this.byLabel) {
      const value = obj.metadata?.labels?.[labelKey]
      if (value !== undefined) addTo(index, value, key)
    }
  }

  private remove(key: string, old: T): void {
    this.unindex(key, old)
    this.objects.delete(key)
  }

  private unindex(key: string, old: T): void {
    removeFrom(this.byNamespace, namespaceOf(old), key)
    for (const [labelKey, index] of this.byLabel) {
      const value = old.metadata?.labels?.[labelKey]
      if (value !== undefined) removeFrom(index, value, key)
    }
  }
}

function addTo(index: Map<string, Set<string>>, value: string, key: string): void {
  let keys = index.get(value)
  if (!keys) {
    keys = new Set()
    index.set(value, keys)
  }
  keys.add(key)
}

function removeFrom(index: Map<string, Set<string>>, value: string, key: string): void {
  const keys = index.get(value)
  if (!keys) return
  keys.delete(key)
  if (keys.size === 0) index.delete(value)
}

export function resourceVersionOf(obj: KubeObject): string | undefined {
  const rv = obj.metadata?.resourceVersion
  return typeof rv === 'string' && rv !== '' ? rv : undefined
}

function namespaceOf(obj: KubeObject): string {
  return obj.metadata?.namespace ?? ''
}

function storeKey(namespace: string, name: string): string {
  return `${namespace}/${name}`
}

export function objectKey(obj: KubeObject): string {
  return storeKey(namespaceOf(obj), obj.metadata?.name ?? '')
}
