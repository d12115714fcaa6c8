/**
 * The smallest `Reflect` metadata API that @peculiar/x509 needs. Its dependency tsyringe refuses to
 * load unless `Reflect.getMetadata` exists (usually provided by the `reflect-metadata` package);
 * x509 only stores and reads plain values through it (no emitted `design:*` types), so a
 * WeakMap-backed store is enough. Installed only when no real polyfill is present.
 *
 * Import this module before `@peculiar/x509` — ES modules evaluate in import order.
 */
type MetadataStore = WeakMap<object, Map<unknown, unknown>>

interface ReflectMetadata {
  getMetadata?: (key: unknown, target: object) => unknown
  getOwnMetadata: (key: unknown, target: object) => unknown
  defineMetadata: (key: unknown, value: unknown, target: object) => void
  hasMetadata: (key: unknown, target: object) => boolean
}

const reflect = Reflect as unknown as ReflectMetadata
if (typeof reflect.getMetadata !== 'function') {
  const store: MetadataStore = new WeakMap()
  const own = (key: unknown, target: object): unknown => store.get(target)?.get(key)
  reflect.getOwnMetadata = own
  reflect.getMetadata = (key, target) => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const value = own(key, t)
      if (value !== undefined) return value
    }
    return undefined
  }
  reflect.hasMetadata = (key, target) => reflect.getMetadata?.(key, target) !== undefined
  reflect.defineMetadata = (key, value, target) => {
    let map = store.get(target)
    if (map === undefined) store.set(target, (map = new Map()))
    map.set(key, value)
  }
}
