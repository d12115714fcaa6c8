/** Label selectors in their string form: parsing, and matching with the API server's semantics. */
import t from 'tap'
import { matchesLabelSelector, parseLabelSelector } from '../../../src/controller/selector.ts'

t.test('label selectors', async (t) => {
  const labels = { app: 'x', tier: 'web', 'agents.proompteng.ai/agent-run': 'r1' }
  t.ok(matchesLabelSelector(labels, ''))
  t.ok(matchesLabelSelector(labels, 'app=x'))
  t.ok(matchesLabelSelector(labels, 'app==x,tier=web'))
  t.notOk(matchesLabelSelector(labels, 'app=y'))
  t.ok(matchesLabelSelector(labels, 'app!=y'))
  t.ok(matchesLabelSelector(labels, 'missing!=y'), '!= matches a missing label')
  t.ok(matchesLabelSelector(labels, 'agents.proompteng.ai/agent-run'), 'exists')
  t.notOk(matchesLabelSelector(labels, 'agents.proompteng.ai/tool-run'))
  t.ok(matchesLabelSelector(labels, '!agents.proompteng.ai/tool-run'))
  t.ok(matchesLabelSelector(labels, 'tier in (web, api)'))
  t.notOk(matchesLabelSelector(labels, 'tier notin (web,api)'))
  t.ok(matchesLabelSelector(labels, 'missing notin (a)'))
  t.ok(matchesLabelSelector(labels, 'tier in (web,api),app'))
  t.notOk(matchesLabelSelector(undefined, 'app'))
  t.same(parseLabelSelector('a in (x, y), !b'), [
    { key: 'a', operator: 'in', values: ['x', 'y'] },
    { key: 'b', operator: 'doesNotExist', values: [] },
  ])
  t.throws(() => parseLabelSelector('a,,b'))
  t.throws(() => parseLabelSelector('-bad-'))
})
