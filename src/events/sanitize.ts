/**
 * Event messages are sanitised before they leave the process (SPEC §4, design note 001: "Events
 * leak sensitive info: mitigate by sanitizing messages"). Events are readable by anyone who may
 * `kubectl get events` in the namespace, so no Secret value, token or secret-looking env value may
 * ever reach one.
 *
 * The rules, applied in this order:
 *   1. PEM blocks (`-----BEGIN … KEY-----` … `-----END …-----`, also an unterminated one) → [REDACTED]
 *   2. control characters and line breaks collapse to one space
 *   3. credentials in URLs: `https://user:pass@host` → `https://user:[REDACTED]@host` (up to the
 *      last `@` before the host: a password may hold `@`)
 *   4. `Authorization`-style values: `Bearer …`, `Basic …` → `Bearer [REDACTED]`
 *   5. well-known token shapes anywhere: JWTs (`eyJ…`), GitHub (`ghp_…`, `gho_…`, `ghu_…`, `ghs_…`,
 *      `ghr_…`, `github_pat_…`), OpenAI/Anthropic style (`sk-…`), Slack (`xox[baprs]-…`), AWS access
 *      key ids (`AKIA…`, `ASIA…`)
 *   6. Kubernetes env entries whose name looks secret: `{"name":"API_TOKEN","value":"…"}`
 *   7. key/value pairs whose key looks secret (`password`, `passwd`, `secret`, `token`, `apiKey`,
 *      `api_key`, `access_key`, `private_key`, `credential(s)`, `client_secret`, `auth`, … with
 *      `=` or `:`, quoted or bare, JSON or YAML style, dotted paths like `spec.parameters.apiToken`,
 *      and quoted inside a JSON string as messages show values: `"token=\"…\""`);
 *      this covers env assignments such as `GITHUB_TOKEN=…` and `AWS_SECRET_ACCESS_KEY=…`.
 *      Field-error phrases after the separator are kept (`spec.x.token: Invalid value: "v"` keeps
 *      the phrase and redacts `"v"`; `…token: Required value` is left alone), and so are keys that
 *      name a Secret rather than hold a value (`secretRef: github-creds`, `tokenSecretName=x`).
 *   8. upper-case env assignments whose name contains TOKEN, SECRET, PASSWORD, PASSWD, KEY or
 *      CREDENTIAL (`MONKEY=1` is redacted too — harmless over-reach)
 *   9. base64 blobs: a run of more than 40 base64/base64url characters that mixes upper case, lower
 *      case and digits (so Kubernetes names and hex digests, which are never mixed case, stay)
 *  10. a value a message cut short (field errors show at most 64 characters of a value, ending in
 *      `...`): the word the cut went through, when it starts like a known token, mixes upper case,
 *      lower case and digits, or has two of those over 12 characters — a cut secret is too short
 *      for rules 5 and 9
 *  11. the result is trimmed and cut to NOTE_MAX_BYTES bytes of UTF-8, ending in '…'.
 *
 * Over-redaction is preferred to a leak; the unit tests list the harmless text that must survive.
 */

/** events.k8s.io/v1 rejects a `note` longer than 1 KiB (the API server counts bytes). */
export const NOTE_MAX_BYTES = 1024
export const REDACTED = '[REDACTED]'
const ELLIPSIS = '…'

/** Longer input is cut before the regular expressions run, so a huge message costs little. */
const MAX_INPUT_CHARS = 16 * 1024

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,64}-----|$)/g
// C0 and C1 controls (line breaks and tabs included), DEL, and the Unicode line/paragraph separators.
const CONTROL_RUN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g
// Greedy up to the last `@` of the authority: `user:p@ss@host` hides `p@ss`.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,20}:\/\/[^\s:/@]{1,256}):[^\s/]{1,256}@/gi
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/g
const TOKEN_SHAPES: readonly RegExp[] = [
  // JWT / JWS / JWE: base64url of '{"' starts with eyJ; one to four dot-separated parts follow.
  /\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,4}/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g, // only when it holds a digit, see below
  /\bxox[baprs]-[A-Za-z0-9-]{8,}/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
]

/** Words inside a key that mark its value as secret (matched case-insensitively). */
const SECRET_KEY_WORD =
  '(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key|credentials?|client[_-]?secret|auth|cookie|session[_-]?id)'
const KEY_CHARS = '[A-Za-z0-9_.-]'
/** A JSON env entry `{"name": "X_TOKEN", "value": "…"}` (as in a Pod spec). */
const ENV_ENTRY = new RegExp(
  `("name"\\s*:\\s*"${KEY_CHARS}{0,64}${SECRET_KEY_WORD}${KEY_CHARS}{0,64}"\\s*,\\s*"value"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`,
  'gi',
)
/**
 * key, separator, optional field-error phrase, value. The value is a quoted string or a bare word;
 * `Bearer x` counts as one value so the scheme word is not left behind.
 */
const KEY_VALUE = new RegExp(
  `(\\b${KEY_CHARS}{0,64}${SECRET_KEY_WORD}${KEY_CHARS}{0,64}["']?\\s*[:=]\\s*)` +
    `((?:Invalid value|Unsupported value|Duplicate value):\\s*)?` +
    // a quoted value, a value quoted inside a JSON string (\"…\", to its end if a cut took the
    // closing quote), a scheme and its credentials, or a bare word
    `("(?:[^"\\\\]|\\\\.)*"|\\\\"(?:[^"\\\\]|\\\\[^"])*(?:\\\\"|(?=")|$)|'[^']*'|(?:Bearer|Basic)\\s+[^\\s,;&'"}\\]]+|[^\\s,;&'"}\\]]+)`,
  'gi',
)
/** Field-error words that may follow `key:` and are not values (cert-manager / apimachinery style). */
const FIELD_ERROR_WORDS = /^(?:Required|Forbidden|Invalid|Unsupported|Duplicate|Too|Not|Internal|must|may|is|should|cannot)$/i
const SECRET_ENV_ASSIGNMENT = /\b([A-Z][A-Z0-9_]{0,127}(?:TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIALS?)[A-Z0-9_]{0,127})=("[^"]*"|'[^']*'|\S+)/g
// `=` may precede a run (`data=…`): padding only ends one.
const BASE64_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{41,}={0,2}(?![A-Za-z0-9+/_=-])/g
/** A `...` that may have cut a value short, and the characters of the token-like word before it. */
const CUT_MARK = /\.\.\.(?![A-Za-z0-9])/g
const CUT_WORD_CHAR = /[^\s"'`,;[\]{}()<>\\]/
const CUT_WORD_MAX = 256
const TOKEN_START = /^[^A-Za-z0-9]*(?:gh[pousr]_|github_pat_|sk-|xox[baprs]-|eyJ|AKIA|ASIA)/

export function sanitizeMessage(text: string, maxBytes: number = NOTE_MAX_BYTES): string {
  let out = String(text)
  if (out.length > MAX_INPUT_CHARS) {
    // Drop the word the cut went through: a secret cut in half might no longer be recognised.
    out = out.slice(0, MAX_INPUT_CHARS).replace(/\S*$/, '')
  }
  out = out.replace(PEM_BLOCK, REDACTED)
  out = out.replace(CONTROL_RUN, ' ')
  out = out.replace(URL_CREDENTIALS, `$1:${REDACTED}@`)
  out = out.replace(AUTH_SCHEME, `$1 ${REDACTED}`)
  for (const shape of TOKEN_SHAPES) out = out.replace(shape, (token) => (token.startsWith('sk-') && !/[0-9]/.test(token) ? token : REDACTED))
  out = out.replace(ENV_ENTRY, `$1"${REDACTED}"`)
  out = out.replace(KEY_VALUE, (whole: string, head: string, phrase: string | undefined, value: string) => {
    if (!phrase && FIELD_ERROR_WORDS.test(value.replace(/:$/, ''))) return whole
    if (value.includes('[REDACTED')) return whole
    // `secretRef: github-creds`, `tokenSecretName=x` name a Secret; they do not hold its value.
    if (/(?:ref|refs|name|names)["']?\s*[:=]\s*$/i.test(head)) return whole
    const quote = value.startsWith('\\"') ? '\\"' : value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : ''
    return `${head}${phrase ?? ''}${quote}${REDACTED}${quote}`
  })
  out = out.replace(SECRET_ENV_ASSIGNMENT, `$1=${REDACTED}`)
  out = out.replace(BASE64_RUN, (run) => (isMixed(run) ? REDACTED : run))
  out = redactCutWords(out)
  return truncateUtf8(out.replace(/ {2,}/g, ' ').trim(), maxBytes)
}

/**
 * Rule 10. The word each `...` ends (at most 256 characters back) is hidden when it looks like a
 * token. Where the word starts is tracked in one forward pass over the text, not by scanning back
 * from every mark: text made of dots has a mark every three characters, and scanning back 256 from
 * each cost 50 ms for 16 KiB.
 */
function redactCutWords(text: string): string {
  let out = ''
  let done = 0
  // Characters before `scanned` have been looked at; the word characters since `runStart` run unbroken.
  let scanned = 0
  let runStart = 0
  for (const mark of text.matchAll(CUT_MARK)) {
    const end = mark.index
    for (; scanned < end; scanned++) if (!CUT_WORD_CHAR.test(text[scanned] as string)) runStart = scanned + 1
    const start = Math.max(done, end - CUT_WORD_MAX, runStart)
    const word = text.slice(start, end)
    if (looksCut(word)) {
      out += `${text.slice(done, start)}${REDACTED}`
      done = end
    }
  }
  return out + text.slice(done)
}

/** A cut word worth hiding: a token's start, all three character classes, or two of them over 12 characters. */
function looksCut(word: string): boolean {
  if (word.length < 8) return false
  if (TOKEN_START.test(word)) return true
  const classes = Number(/[A-Z]/.test(word)) + Number(/[a-z]/.test(word)) + Number(/[0-9]/.test(word))
  return classes === 3 || (classes === 2 && word.length >= 12)
}

/** Upper case, lower case and digits together: how generated secrets look, and names and hashes do not. */
function isMixed(text: string): boolean {
  return /[A-Z]/.test(text) && /[a-z]/.test(text) && /[0-9]/.test(text)
}

/**
 * Cuts `text` to at most `maxBytes` bytes of UTF-8, never inside a character, ending in '…' when
 * anything was cut.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= maxBytes) return text
  const room = maxBytes - Buffer.byteLength(ELLIPSIS, 'utf8')
  if (room <= 0) return ''
  let end = room
  // Step back over continuation bytes (10xxxxxx) to the start of the character the cut hit.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8') + ELLIPSIS
}
