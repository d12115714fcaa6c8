/**
 * An informer's cache (client-go's Store): objects by namespace/name, read with get() and list(),
 * written by the informer from lists and watch events. replace() and apply() report what changed,
 * in order, so the informer can tell its handlers.
 */
import type { KubeObject } from '../kube/objects.ts'
import { matchesRequirements, parseLabelSelector } from './selector.ts'

/** What a reader of a cache needs (a Store satisfies it; tests use a plain list). */
export interface Lister<T extends KubeObject = KubeObject> {
  /** The cached object; namespace '' for cluster-scoped ones. */
  get(namespace: string, name: string): T | undefined
  /** Cached objects, optionally of one namespace and matching a label selector (string form). */
  list(namespace?: string, labelSelector?: string): T[]
}

/** One change to a store, in the order it happened. */
export type StoreChange<T> = { type: 'add'; obj: T } | { type: 'update'; oldObj: T; newObj: T } | { type: 'delete'; obj: T }

export class Store<T extends KubeObject = KubeObject> implements Lister<T> {
  private readonly objects = new Map<string, T>()

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(storeKey(namespace, name))
  }

  list(namespace?: string, labelSelector?: string): T[] {
    const requirements = labelSelector ? parseLabelSelector(labelSelector) : undefined
    const out: T[] = []
    for (const obj of this.objects.values()) {
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
      this.objects.set(key, item)
      if (!old) changes.push({ type: 'add', obj: item })
      else if (resourceVersionOf(old) !== resourceVersionOf(item) || resourceVersionOf(item) === undefined) changes.push({ type: 'update', oldObj: old, newObj: item })
    }
    for (const [key, old] of this.objects) {
      if (seen.has(key)) continue
      if (namespace !== undefined && namespaceOf(old) !== namespace) continue
      this.objects.delete(key)
      changes.push({ type: 'delete', obj: old })
    }
    return changes
  }

  /** One watch event. A delete reports the event's object: the last state known. */
  apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): StoreChange<T> {
    const key = objectKey(obj)
    const old = this.objects.get(key)
    if (type === 'DELETED') {
      this.objects.delete(key)
      return { type: 'delete', obj }
    }
    this.objects.set(key, obj)
    return old ? { type: 'update', oldObj: old, newObj: obj } : { type: 'add', obj }
  }
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

function objectKey(obj: KubeObject): string {
  return storeKey(namespaceOf(obj), obj.metadata?.name ?? '')
}
