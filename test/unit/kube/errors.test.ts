/** src/kube/errors.ts: the one error type for a failed API call, and the status of any client's error. */
import t from 'tap'
import { KubeApiError, statusOf } from '../../../src/kube/errors.ts'

/** client-node's ApiException, by shape. */
function apiException(code: number, body: unknown): Error {
  return Object.assign(new Error(`HTTP-Code: ${code}`), { code, body, headers: {} })
}

t.test('statusOf reads every client\'s errors', async (t) => {
  t.equal(statusOf(new KubeApiError('x', { statusCode: 409 })), 409)
  t.equal(statusOf(apiException(404, '')), 404, 'client-node ApiException: code')
  t.equal(statusOf(Object.assign(new Error('Gone'), { statusCode: 410 })), 410, 'client-node Watch: statusCode')
  t.equal(statusOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), undefined, 'a system error has no HTTP status')
  t.equal(statusOf(new KubeApiError('timeout')), undefined)
  t.equal(statusOf('boom'), undefined)
  t.equal(statusOf(null), undefined)
})

t.test('fromResponse: the Status reason and message, or the start of another body', async (t) => {
  const status = { kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'namespaces "gone" not found', details: { kind: 'namespaces' }, code: 404 }
  const err = KubeApiError.fromResponse('create v1 Event gone/x', 404, JSON.stringify(status))
  t.match(err, { message: 'create v1 Event gone/x: HTTP 404 NotFound: namespaces "gone" not found', statusCode: 404, statusReason: 'NotFound', detailsKind: 'namespaces' })
  t.equal(KubeApiError.fromResponse('get x', 502, '<html>Bad Gateway</html>\n').message, 'get x: HTTP 502: <html>Bad Gateway</html>')
  t.equal(KubeApiError.fromResponse('get x', 500, { error: 'no' }).message, 'get x: HTTP 500: {"error":"no"}', 'parsed JSON that is not a Status')
  t.equal(KubeApiError.fromResponse('get x', 503, '').message, 'get x: HTTP 503')
})

t.test('from: whatever a client threw, as one error of the class it is called on', async (t) => {
  const thrown = apiException(422, JSON.stringify({ kind: 'Status', reason: 'Invalid', message: 'spec.x: Invalid value' }))
  const err = KubeApiError.from(thrown, 'patch Job ns/j')
  t.match(err, { message: 'patch Job ns/j: HTTP 422 Invalid: spec.x: Invalid value', statusCode: 422, statusReason: 'Invalid' })
  t.equal(err.cause, thrown, 'the original is the cause')
  t.equal(KubeApiError.from(err, 'again'), err, 'already one: returned as it is')

  const network = KubeApiError.from(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }), 'get Job ns/j')
  t.match(network, { message: 'get Job ns/j: connect ECONNREFUSED 127.0.0.1:6443', statusCode: undefined })

  class SubError extends KubeApiError {
    override name = 'SubError'
  }
  const sub = SubError.from(new KubeApiError('inner', { statusCode: 409, statusReason: 'Conflict', detailsKind: 'jobs' }), 'outer')
  t.type(sub, SubError)
  t.match(sub, { message: 'outer: inner', statusCode: 409, statusReason: 'Conflict', detailsKind: 'jobs' }, 'a KubeApiError of another class keeps its details')
})
