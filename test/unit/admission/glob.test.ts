import t from 'tap'

import { firstMatch, matchGlob } from '../../../src/admission/glob.ts'

/**
 * The oracle: the glob dialect as an anchored RegExp (`*` → `.*`, `?` → `.`, all else literal).
 * Too slow for request data (it backtracks), plain enough to check matchGlob against.
 */
function globToRegExp(pattern: string): RegExp {
  let source = ''
  for (const char of pattern) {
    if (char === '*') source += '.*'
    else if (char === '?') source += '.'
    else source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  // `s` so `.*` crosses newlines; `u` so `?` is one code point.
  return new RegExp(`^${source}$`, 'su')
}

const scenarios: Array<{ name: string; pattern: string; value: string; match: boolean }> = [
  { name: 'literal matches itself', pattern: 'nginx', value: 'nginx', match: true },
  { name: 'anchored: literal does not match a longer value', pattern: 'nginx', value: 'nginx:1.27', match: false },
  { name: 'anchored: literal does not match a suffix', pattern: 'nginx', value: 'docker.io/nginx', match: false },
  { name: '* alone matches anything', pattern: '*', value: 'registry.example/team/app:1.0@sha256:abc', match: true },
  { name: '* alone matches the empty string', pattern: '*', value: '', match: true },
  { name: '* crosses / and :', pattern: 'registry.example/*', value: 'registry.example/team/app:1.0', match: true },
  { name: '* in the middle', pattern: 'registry.example/*/app:*', value: 'registry.example/a/b/app:2', match: true },
  { name: 'prefix glob does not match another registry', pattern: 'registry.example/*', value: 'registry.example.evil/app', match: false },
  { name: 'dot is literal, not any character', pattern: 'a.b', value: 'axb', match: false },
  { name: '? matches exactly one character', pattern: 'app:1.?', value: 'app:1.7', match: true },
  { name: '? does not match zero characters', pattern: 'app:1.?', value: 'app:1.', match: false },
  { name: '? does not match two characters', pattern: 'app:1.?', value: 'app:1.10', match: false },
  { name: '? matches one multibyte character', pattern: 'caf?', value: 'café', match: true },
  { name: 'regex metacharacters are literal', pattern: 'a+b(c)[d]{1}|$^\\', value: 'a+b(c)[d]{1}|$^\\', match: true },
  { name: 'regex metacharacters do not act as regex', pattern: 'a+', value: 'aaa', match: false },
  { name: 'label key glob', pattern: 'team/*', value: 'team/owner', match: true },
  { name: 'label key glob needs the prefix', pattern: 'team/*', value: 'teams/owner', match: false },
  { name: '* matches across a newline', pattern: 'a*b', value: 'a\nb', match: true },
]

t.test('matchGlob', async (t) => {
  for (const s of scenarios) {
    t.equal(matchGlob(s.value, s.pattern), s.match, s.name)
  }
})

t.test('matchGlob takes linear-ish time on long values with several *', async (t) => {
  // A backtracking RegExp needs O(n^4) steps here: seconds for a few-KB image in an admission request.
  const value = `registry.example/${'a/'.repeat(3000)}`
  const started = performance.now()
  t.equal(matchGlob(value, 'registry.example/*/*/*:*'), false)
  t.equal(matchGlob(`${value}x:1`, 'registry.example/*/*/*:*'), true)
  t.ok(performance.now() - started < 500, `took ${Math.round(performance.now() - started)} ms`)
})

t.test('matchGlob agrees with globToRegExp', async (t) => {
  for (const s of scenarios) t.equal(matchGlob(s.value, s.pattern), globToRegExp(s.pattern).test(s.value), s.name)
  for (const [pattern, value] of [['*a*b', 'xaxb'], ['*a*b', 'xaxbx'], ['a*', 'a'], ['**', ''], ['?*?', 'ab'], ['?*?', 'a'], ['*?c', 'abc']] as const) {
    t.equal(matchGlob(value, pattern), globToRegExp(pattern).test(value), `${pattern} on ${value}`)
  }
})

t.test('firstMatch', async (t) => {
  t.equal(firstMatch('docker.io/library/nginx', ['quay.io/*', 'docker.io/*', '*']), 'docker.io/*', 'names the first pattern that matches')
  t.equal(firstMatch('ghcr.io/x', ['quay.io/*']), undefined, 'undefined when nothing matches')
  t.equal(firstMatch('x', []), undefined, 'an empty list matches nothing')
  t.equal(firstMatch('ghcr.io/x', ['quay.io/*', 'ghcr.io/*']), 'ghcr.io/*')
})
