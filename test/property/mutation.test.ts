/**
 * Issue 14, generated inputs: the mutating webhook (SPEC §2 rules 10–12, the controller repairs,
 * the cancel normalisation, the Job TTL hold).
 *
 * - Its JSON Patch, applied to the request's object by a real JSON Patch implementation
 *   (fast-json-patch, every operation validated), yields exactly the object the mutators meant.
 * - It is idempotent: its own output, written again against the same stored object, gets no patch.
 * - The validating webhook never refuses a field the mutating webhook just wrote (a stamp, a
 *   restored startedAt/finishedAt, a repair), nor complains that startedAt/finishedAt went missing.
 * - For a controller identity, a status write is never refused for rules 6–9 (the mutator repairs
 *   it instead); a malformed value (not RFC 3339, not a number) is refused from everyone.
 */
import fc from 'fast-check'
import t from 'tap'
import { CONFIGS, anyPair, requestFor, runKind, statusWritePair, specWritePair, type Flavour } from './arbitraries.ts'
import { apiServerRequest, checkMutation, checkMutatorThenValidator } from './oracle.ts'
import { checkProperty } from './property.ts'

const FILE = 'test/property/mutation.test.ts'

const flavours = fc.constantFrom<Flavour>('valid', 'valid', 'near-valid', 'hostile')
const statusWrites = fc.tuple(runKind, flavours).chain(([kind, f]) => statusWritePair(kind, f))
const specWrites = fc.tuple(runKind, flavours).chain(([kind, f]) => specWritePair(kind, f))

function noViolations(violations: string[]): void {
  if (violations.length > 0) throw new Error(violations.join('\n'))
}

t.test('the patch is the mutators’ intent, and mutating the output again changes nothing', async (t) => {
  checkProperty(
    t,
    'status writes',
    fc.property(statusWrites, (pair) => noViolations(checkMutation(apiServerRequest(requestFor(pair)), CONFIGS[pair.configName]!).violations)),
    1_500,
    FILE,
  )
  checkProperty(
    t,
    'spec writes (create, update, cancel)',
    fc.property(specWrites, (pair) => noViolations(checkMutation(apiServerRequest(requestFor(pair)), CONFIGS[pair.configName]!).violations)),
    800,
    FILE,
  )
})

t.test('the validating webhook never undoes the mutating webhook, and never refuses a controller for rules 6–9', async (t) => {
  checkProperty(
    t,
    'mutating then validating, as the API server chains them',
    fc.property(statusWrites, (pair) => noViolations(checkMutatorThenValidator(apiServerRequest(requestFor(pair)), CONFIGS[pair.configName]!, pair.writer.kind))),
    1_500,
    FILE,
  )
  checkProperty(
    t,
    'controller identities only',
    fc.property(
      statusWrites.filter((p) => p.writer.kind === 'controller'),
      (pair) => noViolations(checkMutatorThenValidator(apiServerRequest(requestFor(pair)), CONFIGS[pair.configName]!, 'controller')),
    ),
    800,
    FILE,
  )
})

t.test('Job CREATEs: the TTL hold patch applies and is idempotent', async (t) => {
  const job = fc.record({
    ttl: fc.oneof(fc.integer({ min: -5, max: 100_000 }), fc.constant(null), fc.constant('300'), fc.constant(1.5)),
    label: fc.constantFrom('agents.proompteng.ai/agent-run', 'agents.proompteng.ai/tool-run', 'app'),
    annotations: fc.oneof(fc.constant(undefined), fc.constant({}), fc.constant({ 'runguard.proompteng.ai/ttl-seconds-after-finished': '5' }), fc.constant({ other: 'x' })),
  })
  checkProperty(
    t,
    'batch/v1 Jobs',
    fc.property(job, ({ ttl, label, annotations }) => {
      const object = {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'run-1-job', namespace: 'agents', labels: { [label]: 'run-1' }, ...(annotations ? { annotations } : {}) },
        spec: { ttlSecondsAfterFinished: ttl, template: { spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } } },
      }
      const request = {
        uid: 'job-1',
        kind: { group: 'batch', version: 'v1', kind: 'Job' },
        resource: { group: 'batch', version: 'v1', resource: 'jobs' },
        namespace: 'agents',
        operation: 'CREATE' as const,
        userInfo: { username: 'system:serviceaccount:agents:agents-sa' },
        object,
      }
      noViolations(checkMutation(request, CONFIGS.default!).violations)
    }),
    300,
    FILE,
  )
})

t.test('any generated write (every kind, flavour and writer)', async (t) => {
  checkProperty(
    t,
    'patch = intent, idempotent',
    fc.property(anyPair(), (pair) => noViolations(checkMutation(apiServerRequest(requestFor(pair)), CONFIGS[pair.configName]!).violations)),
    800,
    FILE,
  )
})
