/**
 * The glob dialect of the label and image policies (SPEC §1/§2 rule 5), a superset of upstream's:
 *   `*` any run of characters, including `/` and `:` (so `registry.example/*` covers every
 *       repository and tag below it), `?` exactly one character, everything else literal.
 * Patterns are anchored: `nginx` does not match `nginx:1.27`.
 */

// Patterns come from configuration, so the set is small; the cap only guards against a caller
// that feeds request data in as patterns.
const MAX_CACHED = 512
const cache = new Map<string, RegExp>()

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export function globToRegExp(pattern: string): RegExp {
  const cached = cache.get(pattern)
  if (cached) return cached
  let source = ''
  for (const char of pattern) {
    if (char === '*') source += '.*'
    else if (char === '?') source += '.'
    else source += escapeRegExp(char)
  }
  // `s` so a stray newline in a value cannot slip past `.*`; `u` so `?` is one code point.
  const compiled = new RegExp(`^${source}$`, 'su')
  if (cache.size >= MAX_CACHED) cache.clear()
  cache.set(pattern, compiled)
  return compiled
}

export function matchGlob(value: string, pattern: string): boolean {
  return globToRegExp(pattern).test(value)
}

/** The first pattern `value` matches, or undefined; callers name it in their messages. */
export function firstMatch(value: string, patterns: readonly string[]): string | undefined {
  return patterns.find((pattern) => matchGlob(value, pattern))
}

export function matchesAny(value: string, patterns: readonly string[]): boolean {
  return firstMatch(value, patterns) !== undefined
}
