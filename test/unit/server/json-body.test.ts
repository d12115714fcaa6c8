/**
 * copyJsonBodiesIntoOneBuffer: the webhook's application/json parser answers every body exactly as
 * Fastify's default parser does (content types, 413, 400 on bad JSON, empty bodies and prototype
 * poisoning, a Content-Length that does not match) and reassembles bodies that arrive in many
 * chunks, with or without a Content-Length, a UTF-8 character split between two chunks included.
 */
import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify'
import t from 'tap'
import { copyJsonBodiesIntoOneBuffer } from '../../../src/server/json-body.ts'

const LIMIT = 1024

/** A Fastify app echoing the parsed body; `ours`: with copyJsonBodiesIntoOneBuffer, else Fastify's default. */
async function echoApp(ours: boolean): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: LIMIT })
  if (ours) copyJsonBodiesIntoOneBuffer(app, LIMIT)
  app.post('/echo', async (request) => ({ body: request.body as unknown }))
  await app.ready()
  return app
}

const chunked = (chunks: Array<string | Buffer>) => Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)))

/** Status and error code: what a client of the webhook can see of a refusal. */
async function outcome(app: FastifyInstance, options: InjectOptions): Promise<{ status: number; code: unknown; body: unknown }> {
  const res = await app.inject({ method: 'POST', url: '/echo', ...options })
  const json = res.body === '' ? undefined : (JSON.parse(res.body) as { code?: unknown; body?: unknown })
  return { status: res.statusCode, code: json?.code, body: json?.body }
}

interface Case {
  name: string
  headers: Record<string, string>
  /** A fresh payload per request: a stream is consumed by the first one. */
  payload: () => string | Readable
  /** Status and error code both parsers answer with (code undefined: the body is echoed). */
  expected: [number, string | undefined]
}

const json = { 'content-type': 'application/json' }
const cases: Case[] = [
  { name: 'an object', headers: json, payload: () => '{"a":[1,2,{"b":"c"}]}', expected: [200, undefined] },
  { name: 'JSON null', headers: json, payload: () => 'null', expected: [200, undefined] },
  { name: 'a charset parameter', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: () => '{"a":1}', expected: [200, undefined] },
  { name: 'another charset', headers: { 'content-type': 'application/json; charset=latin1' }, payload: () => '{"a":1}', expected: [200, undefined] },
  { name: 'upper-case media type', headers: { 'content-type': 'Application/JSON' }, payload: () => '{"a":1}', expected: [200, undefined] },
  { name: 'a byte-order mark', headers: json, payload: () => '\uFEFF{"a":1}', expected: [200, undefined] },
  { name: 'an unknown type', headers: { 'content-type': 'application/x-yaml' }, payload: () => 'a: 1', expected: [415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'] },
  { name: 'an empty body', headers: json, payload: () => '', expected: [400, 'FST_ERR_CTP_EMPTY_JSON_BODY'] },
  { name: 'truncated JSON', headers: json, payload: () => '{"a":', expected: [400, 'FST_ERR_CTP_INVALID_JSON_BODY'] },
  { name: 'garbage', headers: json, payload: () => '\u0000\u0001not json', expected: [400, 'FST_ERR_CTP_INVALID_JSON_BODY'] },
  { name: '__proto__', headers: json, payload: () => '{"a":1,"__proto__":{"admin":true}}', expected: [400, 'FST_ERR_CTP_INVALID_JSON_BODY'] },
  { name: 'constructor.prototype', headers: json, payload: () => '{"constructor":{"prototype":{"admin":true}}}', expected: [400, 'FST_ERR_CTP_INVALID_JSON_BODY'] },
  { name: 'a declared length over the limit', headers: json, payload: () => `{"a":"${'x'.repeat(LIMIT)}"}`, expected: [413, 'FST_ERR_CTP_BODY_TOO_LARGE'] },
  {
    name: 'a streamed body over the limit, no Content-Length',
    headers: json,
    payload: () => chunked(Array.from({ length: 20 }, () => 'x'.repeat(100))),
    expected: [413, 'FST_ERR_CTP_BODY_TOO_LARGE'],
  },
  { name: 'a body shorter than its Content-Length', headers: { ...json, 'content-length': '20' }, payload: () => chunked(['{"a":1}']), expected: [400, 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'] },
  { name: 'a body longer than its Content-Length', headers: { ...json, 'content-length': '3' }, payload: () => chunked(['{"a":1}']), expected: [400, 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'] },
]

t.test('every kind of body gets the answer Fastify’s default parser gives it', async (t) => {
  const [fastify, ours] = await Promise.all([echoApp(false), echoApp(true)])
  t.teardown(() => Promise.all([fastify.close(), ours.close()]))
  for (const c of cases) {
    const theirs = await outcome(fastify, { headers: c.headers, payload: c.payload() })
    const mine = await outcome(ours, { headers: c.headers, payload: c.payload() })
    t.same(mine, theirs, `${c.name}: as Fastify's default`)
    t.same([mine.status, mine.code], c.expected, `${c.name}: ${c.expected.join(' ')}`)
  }
})

t.test('a body in many chunks is reassembled, a UTF-8 character split between chunks included', async (t) => {
  const app = await echoApp(true)
  t.teardown(() => app.close())
  const value = { text: 'naïve café — 日本語 😀', list: Array.from({ length: 20 }, (_, i) => i) }
  const bytes = Buffer.from(JSON.stringify(value))
  // One byte per chunk: every multi-byte character arrives split.
  const oneByteChunks = () => chunked(Array.from(bytes, (b) => Buffer.from([b])))
  const declared = await outcome(app, { headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) }, payload: oneByteChunks() })
  t.same(declared, { status: 200, code: undefined, body: value }, 'with a Content-Length')
  const undeclared = await outcome(app, { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, payload: oneByteChunks() })
  t.same(undeclared, { status: 200, code: undefined, body: value }, 'chunked, without a Content-Length')
})

t.test('a body of exactly the limit is accepted, one byte more is 413', async (t) => {
  const app = await echoApp(true)
  t.teardown(() => app.close())
  const exactly = `"${'x'.repeat(LIMIT - 2)}"`
  t.equal((await outcome(app, { headers: { 'content-type': 'application/json' }, payload: exactly })).status, 200)
  const over = await outcome(app, { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, payload: chunked([exactly, ' ']) })
  t.same([over.status, over.code], [413, 'FST_ERR_CTP_BODY_TOO_LARGE'])
})

t.test('a stream error while reading is a 400, not a crash', async (t) => {
  const app = await echoApp(true)
  t.teardown(() => app.close())
  const failing = new Readable({
    read() {
      this.push(Buffer.from('{"a":'))
      this.destroy(new Error('connection reset'))
    },
  })
  const res = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json', 'content-length': '20' }, payload: failing })
  t.equal(res.statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"next":true}' })).json().body.next, true, 'the next request is served')
})
