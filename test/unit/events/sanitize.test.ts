import t from 'tap'
import { NOTE_MAX_BYTES, REDACTED, sanitizeMessage, truncateUtf8 } from '../../../src/events/sanitize.ts'

// Built at run time so no scanner mistakes these fixtures for real credentials.
const ghp = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'
const githubPat = 'github_pat_' + '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'
const openai = 'sk-' + 'proj-Ab3dEf6hIj9kLm2nOp5qRs8t'
const slack = 'xoxb-' + '123456789012-1234567890123-AbCdEfGhIjKl'
const aws = 'AKIA' + 'IOSFODNN7EXAMPLE'
const jwt = 'eyJ' + 'hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
const blob = Buffer.from('this is a secret value that is long enough to be a blob!!').toString('base64')
const pem = ['-----BEGIN ' + 'PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'abcdefg', '-----END PRIVATE KEY-----'].join('\n')

interface Case {
  name: string
  input: string
  /** Substrings that must be gone. */
  gone: string[]
  /** Substrings that must survive. */
  kept?: string[]
}

const cases: Case[] = [
  { name: 'Bearer token', input: 'request failed: Authorization: Bearer abc.DEF-123_xyz', gone: ['abc.DEF-123_xyz'], kept: ['request failed', 'Bearer'] },
  { name: 'Basic credentials', input: 'sent Basic dXNlcjpwYXNzd29yZA==', gone: ['dXNlcjpwYXNzd29yZA=='], kept: ['Basic'] },
  { name: 'JWT', input: `service account token ${jwt} rejected`, gone: ['hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'dozjgNryP4J3jVmNHl0w5N'], kept: ['rejected'] },
  { name: 'GitHub classic token', input: `clone with ${ghp} failed`, gone: [ghp], kept: ['clone with', 'failed'] },
  { name: 'GitHub fine-grained token', input: `pat=${githubPat}`, gone: ['11ABCDEFG0123456789'] },
  { name: 'OpenAI-style key', input: `model call used ${openai}`, gone: ['Ab3dEf6hIj9kLm2nOp5qRs8t'], kept: ['model call used'] },
  { name: 'Slack token', input: `posting with ${slack}`, gone: ['123456789012-1234567890123'] },
  { name: 'AWS access key id', input: `aws key ${aws} denied`, gone: [aws], kept: ['denied'] },
  { name: 'password=', input: 'db connect: password=hunter2 host=db', gone: ['hunter2'], kept: ['host=db', 'password='] },
  { name: 'token: (YAML)', input: 'config has token: s3cr3t-value here', gone: ['s3cr3t-value'], kept: ['here'] },
  { name: 'secret= quoted', input: 'secret="top secret words" next', gone: ['top secret words'], kept: ['next'] },
  { name: 'apiKey JSON', input: '{"apiKey":"abcd1234","model":"x"}', gone: ['abcd1234'], kept: ['"model":"x"'] },
  { name: 'api_key', input: 'api_key = zzz999', gone: ['zzz999'] },
  { name: 'client_secret', input: 'client_secret: qwerty', gone: ['qwerty'] },
  { name: 'secret env assignment', input: 'exec failed: GITHUB_TOKEN=abc123 OPENAI_API_KEY=def456 HOME=/root', gone: ['abc123', 'def456'], kept: ['HOME=/root', 'exec failed'] },
  { name: 'AWS secret env', input: 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG', gone: ['wJalrXUtnFEMI'] },
  { name: 'DB_PASSWORD env', input: 'DB_PASSWORD=pa55 DB_CREDENTIALS=c', gone: ['pa55', '=c'] },
  {
    name: 'Pod env entry',
    input: '{"name":"SLACK_BOT_TOKEN","value":"plainvalue"},{"name":"LOG_LEVEL","value":"debug"}',
    gone: ['plainvalue'],
    kept: ['SLACK_BOT_TOKEN', '"value":"debug"'],
  },
  { name: 'URL credentials', input: 'git fetch https://bot:s3cr3tpw@github.com/o/r failed', gone: ['s3cr3tpw'], kept: ['https://bot:', '@github.com/o/r'] },
  { name: 'base64 blob', input: `secret data ${blob} end`, gone: [blob], kept: ['end'] },
  { name: 'PEM block', input: `key:\n${pem}\nafter`, gone: ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'abcdefg', 'BEGIN PRIVATE KEY'], kept: ['after'] },
  { name: 'unterminated PEM block', input: `-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU`, gone: ['MIIBszCCAVmgAwIBAgIU'] },
  {
    name: 'field error keeps the phrase, hides the value',
    input: 'spec.parameters.apiToken: Invalid value: "tok-123": must be at most 2048 bytes',
    gone: ['tok-123'],
    kept: ['spec.parameters.apiToken: Invalid value: "', 'must be at most 2048 bytes'],
  },
]

for (const c of cases) {
  t.test(`redacts: ${c.name}`, async (t) => {
    const out = sanitizeMessage(c.input)
    for (const secret of c.gone) t.notMatch(out, secret, `"${secret}" removed from: ${out}`)
    for (const keep of c.kept ?? []) t.ok(out.includes(keep), `"${keep}" kept in: ${out}`)
    t.ok(out.includes(REDACTED), 'says what it removed')
  })
}

const harmless = [
  'spec.parameters: Too many: 101: must have at most 100 items',
  'spec.parameters.prompt: Forbidden: key "prompt" is not allowed',
  'spec.parameters.token: Required value',
  'metadata.labels: label team=platform is blocked by AGENTS_CONTROLLER_LABELS_DENIED',
  'spec.workload.image: image ghcr.io/proompteng/agent:1.2.3 is not allowed',
  'Job agents/my-very-long-agent-run-name-with-many-parts-and-words-job vanished before its result was collected',
  'image digest sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 is fine',
  'secret "github-token" not found in namespace agents',
  'spec.secretRef: github-creds does not exist',
  'jobs.batch "run-1-job" is forbidden: User "system:serviceaccount:runguard-system:runguard" cannot delete resource "jobs"',
  'cancel timed out after 30000 ms; 2 children left: AgentRun agents/a, ToolRun agents/b',
  'task-runner-abcdefghijklmnopqrst finished',
  'Ünïcödé ✓ messages survive',
]

t.test('harmless text is kept verbatim', async (t) => {
  for (const text of harmless) t.equal(sanitizeMessage(text), text)
})

t.test('newlines and control characters collapse to one space', async (t) => {
  t.equal(sanitizeMessage('line one\nline two\r\n\tindented\u0000nul\u2028sep'), 'line one line two indented nul sep')
  t.equal(sanitizeMessage('  padded  \n\n  '), 'padded')
})

t.test(`caps at ${NOTE_MAX_BYTES} bytes of UTF-8, ending in …`, async (t) => {
  t.equal(NOTE_MAX_BYTES, 1024)
  const ascii = sanitizeMessage('x'.repeat(5000))
  t.equal(Buffer.byteLength(ascii), 1024)
  t.ok(ascii.endsWith('…'))
  for (const ch of ['é', '€', '😀']) {
    const out = sanitizeMessage(ch.repeat(2000))
    t.ok(Buffer.byteLength(out) <= 1024, `${ch}: ${Buffer.byteLength(out)} bytes`)
    t.notOk(out.includes('\ufffd'), `${ch}: no broken character`)
    t.ok(out.endsWith('…'))
  }
  t.equal(sanitizeMessage('short'), 'short', 'short text untouched')
  t.equal(truncateUtf8('abcdef', 4), 'a…')
  t.equal(truncateUtf8('abc', 3), 'abc')
})

t.test('a secret is removed even when the message is huge', async (t) => {
  const out = sanitizeMessage(`token=${'a'.repeat(100)}ZZZ9 ` + 'filler '.repeat(10_000))
  t.notMatch(out, 'ZZZ9')
  t.ok(Buffer.byteLength(out) <= 1024)
})

t.test('linear time on hostile input', async (t) => {
  const started = performance.now()
  sanitizeMessage('a'.repeat(16_000))
  sanitizeMessage(' '.repeat(16_000) + 'x')
  sanitizeMessage('password'.repeat(2_000))
  sanitizeMessage('-----BEGIN A-----'.repeat(900))
  sanitizeMessage('Aa1'.repeat(5_000) + '!')
  t.ok(performance.now() - started < 1_000, 'well under a second')
})

t.test('idempotent', async (t) => {
  for (const c of cases) {
    const once = sanitizeMessage(c.input)
    t.equal(sanitizeMessage(once), once, c.name)
  }
})
