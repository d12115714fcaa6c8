/**
 * The glob dialect of the label and image policies (SPEC §1/§2 rule 5), a superset of upstream's:
 *   `*` any run of characters, including `/` and `:` (so `registry.example/*` covers every
 *       repository and tag below it), `?` exactly one character, everything else literal.
 * Patterns are anchored: `nginx` does not match `nginx:1.27`.
 */

// Patterns come from configuration, so the set is small; the cap only guards against a caller
// that feeds request data in as patterns.
const MAX_CACHED = 512

/** Patterns as code points (so `?` is one code point, not one UTF-16 unit), cached per pattern. */
const compiled = new Map<string, readonly string[]>()

function codePoints(pattern: string): readonly string[] {
  let points = compiled.get(pattern)
  if (!points) {
    points = Array.from(pattern)
    if (compiled.size >= MAX_CACHED) compiled.clear()
    compiled.set(pattern, points)
  }
  return points
}

/**
 * Whether `value` matches `pattern`, in O(value × pattern) steps. Not a RegExp: the value comes
 * from the request (an image can be kilobytes long), and a backtracking RegExp with several `*`
 * takes polynomial time in it — seconds of blocked event loop on the admission path. The glob
 * test checks this against the RegExp translation.
 */
export function matchGlob(value: string, pattern: string): boolean {
  const p = codePoints(pattern)
  const v = Array.from(value)
  let vi = 0
  let pi = 0
  let star = -1
  let resume = 0
  while (vi < v.length) {
    if (pi < p.length && p[pi] !== '*' && (p[pi] === '?' || p[pi] === v[vi])) {
      vi++
      pi++
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++
      resume = vi
    } else if (star >= 0) {
      // Let the last `*` swallow one more character and try the rest of the pattern again.
      pi = star + 1
      vi = ++resume
    } else {
      return false
    }
  }
  while (pi < p.length && p[pi] === '*') pi++
  return pi === p.length
}

/** The first pattern `value` matches, or undefined; callers name it in their messages. */
export function firstMatch(value: string, patterns: readonly string[]): string | undefined {
  return patterns.find((pattern) => matchGlob(value, pattern))
}
