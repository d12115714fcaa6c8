import { readFileSync } from 'node:fs'

let cached: string | undefined

/** The package version, read on first use from package.json next to the source or build output. */
export function version(): string {
  cached ??= readVersion()
  return cached
}

function readVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'runguard' && pkg.version) return pkg.version
    } catch {
      // try the next location
    }
  }
  return '0.0.0-unknown'
}
