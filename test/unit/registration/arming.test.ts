import t from 'tap'
import { ARMED_ANNOTATION, armingDecisions, armingPatch, parseArmedAnnotation } from '../../../src/registration/arming.ts'
import type { WebhookConfiguration } from '../../../src/registration/configuration.ts'

t.test('parseArmedAnnotation', async (t) => {
  const parsed = parseArmedAnnotation(' mutate.runguard.proompteng.ai=Fail, validate.runguard.proompteng.ai = Ignore ,')
  t.same([...parsed.policies], [['mutate.runguard.proompteng.ai', 'Fail'], ['validate.runguard.proompteng.ai', 'Ignore']])
  t.same(parsed.errors, [])
  t.same([...parseArmedAnnotation(undefined).policies], [])
  t.same([...parseArmedAnnotation('').policies], [])
  const bad = parseArmedAnnotation('a=Fail,b,c=Maybe,d=Fail=x')
  t.same([...bad.policies], [['a', 'Fail']], 'good items still count')
  t.equal(bad.errors.length, 3)
  t.match(bad.errors[1], /must be Fail or Ignore/)
})

const configuration = (policies: Record<string, string>, annotation: string): WebhookConfiguration => ({
  metadata: { name: 'c', annotations: { [ARMED_ANNOTATION]: annotation } },
  webhooks: Object.entries(policies).map(([name, failurePolicy]) => ({ name, failurePolicy, clientConfig: { caBundle: name === 'untrusted' ? 'bad' : 'good' } })),
})

t.test('armingDecisions: arm when serving and trusted, wait otherwise, never disarm', async (t) => {
  const c = configuration({ people: 'Ignore', done: 'Fail', untrusted: 'Ignore', soft: 'Fail', controllers: 'Ignore' }, 'people=Fail,done=Fail,untrusted=Fail,soft=Ignore,ghost=Fail')
  const canServe = (entry: { clientConfig?: { caBundle?: string } }) => entry.clientConfig?.caBundle === 'good'
  const states = Object.fromEntries(armingDecisions(c, canServe).map((d) => [d.webhook, d.state]))
  t.same(states, { people: 'arm', done: 'armed', untrusted: 'wait', soft: 'skip', ghost: 'skip' }, 'controllers (not annotated) are never touched')
  t.same(Object.fromEntries(armingDecisions(c, () => false).map((d) => [d.webhook, d.state])).people, 'wait', 'not ready: wait')
  t.same(armingDecisions({ webhooks: [{ name: 'x', failurePolicy: 'Ignore' }] }, () => true), [], 'no annotation: nothing')
})

t.test('armingPatch: test name and current policy, then replace', async (t) => {
  const c = configuration({ controllers: 'Ignore', people: 'Ignore' }, 'people=Fail')
  const decisions = armingDecisions(c, () => true)
  t.same(armingPatch(c, decisions), [
    { op: 'test', path: '/webhooks/1/name', value: 'people' },
    { op: 'test', path: '/webhooks/1/failurePolicy', value: 'Ignore' },
    { op: 'replace', path: '/webhooks/1/failurePolicy', value: 'Fail' },
  ])
  t.same(armingPatch(c, armingDecisions(c, () => false)), [], 'nothing while waiting')
})
