/**
 * The webhook's application/json body parser: a body with a Content-Length (the API server always
 * sends one) that arrives in more than one chunk is copied into one Buffer of that size as it
 * arrives, so each socket chunk is released at once; Fastify's default keeps every chunk until the
 * body ends and concatenates them. The JSON
 * itself is still parsed by Fastify's own default parser (secure-json-parse with the instance's
 * prototype/constructor poisoning settings), so what is accepted and refused does not change.
 *
 * Why: a review at the API server's largest size arrives as ~400 socket chunks of ~16 KiB, each a
 * small malloc() outside the V8 heap. Twelve such reviews at once held ~72 MiB of them, which glibc
 * could not hand back to the system afterwards (small blocks interleaved with long-lived ones): its
 * heap stayed 70–110 MiB above its start after the load was gone. Here each chunk is freed as
 * soon as it is copied, and the body is one allocation that is returned to the system when freed —
 * provided glibc serves it with mmap(), i.e. MALLOC_MMAP_THRESHOLD_ is fixed (the image sets it:
 * Dockerfile). Without that setting glibc raises its threshold after the first large free and keeps
 * such blocks in its heap, and this parser measured worse than Fastify's; decoding each chunk to
 * text as it arrives measured worse still (V8 kept the pages). Figures: BENCHMARKS.md, "Malformed
 * HTTP at volume (issue 14)".
 */
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify'

type Done = (error: Error | null, body?: unknown) => void

/**
 * Replaces the instance's application/json parser; every error is the one Fastify's own gives.
 * `bodyLimit` is the instance's: the webhook sets no per-route limit.
 */
export function copyJsonBodiesIntoOneBuffer(app: FastifyInstance, bodyLimit: number): void {
  const parseJson = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', (request: FastifyRequest, payload: NodeJS.ReadableStream, done: Done) => {
    readText(request, payload, bodyLimit, (error, text) => {
      if (error) done(error)
      else parseJson(request, text, done)
    })
  })
}

/**
 * The body as text, with the checks of Fastify's own body reader: a declared or received length
 * over `limit` is 413, a stream error is 400 (unless it carries a 4xx/5xx of its own), a body whose
 * length differs from its Content-Length is 400.
 */
function readText(request: FastifyRequest, payload: NodeJS.ReadableStream, limit: number, done: (error: Error | null, text: string) => void): void {
  const declared = Number(request.headers['content-length'])
  if (declared > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), '')
    return
  }
  // Declared: the first chunk is kept as it is (most bodies are one chunk); from the second on,
  // one Buffer of the declared size, each chunk copied in and released. Not declared (chunked):
  // the chunks are kept, as Fastify does, up to the limit.
  const declaredSize = Number.isInteger(declared) && declared > 0 ? declared : undefined
  const chunks: Buffer[] = []
  let whole: Buffer | undefined
  let received = 0
  const stop = () => {
    payload.removeListener('data', onData)
    payload.removeListener('end', onEnd)
    payload.removeListener('error', onEnd)
  }
  function onData(data: Buffer | string): void {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data
    if (received + chunk.length > limit) {
      stop()
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), '')
      return
    }
    if (declaredSize !== undefined && chunks.length === 1 && !whole) {
      whole = Buffer.allocUnsafeSlow(declaredSize)
      // A body longer than declared is refused at the end; until then only what fits is kept.
      ;(chunks.pop() as Buffer).copy(whole, 0)
    }
    if (whole) chunk.copy(whole, received)
    else chunks.push(chunk)
    received += chunk.length
  }
  function onEnd(error?: Error & { statusCode?: number }): void {
    stop()
    if (error) {
      if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400
      done(error, '')
      return
    }
    if (!Number.isNaN(declared) && received !== declared) {
      done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), '')
      return
    }
    // Decoded once, whole: a UTF-8 character split between two chunks stays one character.
    const body = whole ?? (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received))
    done(null, body.toString('utf8'))
  }
  payload.on('data', onData)
  payload.on('end', onEnd)
  payload.on('error', onEnd)
  payload.resume()
}
