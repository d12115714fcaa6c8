/** src/kube/run-kinds.ts: the cancel check shared by the admission rules and the reconciler, and the run kinds as API resources. */
import t from 'tap'
import { cancelRequested, RUN_KINDS, runKindByName, runKindByResource } from '../../../src/kube/run-kinds.ts'

t.test('cancelRequested: either spelling asks for cancellation; nothing else does', async (t) => {
  t.ok(cancelRequested({ cancel: true }))
  t.ok(cancelRequested({ desiredState: 'Cancelled' }))
  t.ok(cancelRequested({ cancel: true, desiredState: 'Cancelled' }))
  t.ok(cancelRequested({ cancel: false, desiredState: 'Cancelled' }), 'desiredState alone is enough (rule 3 refuses the disagreement)')
  t.notOk(cancelRequested({ cancel: 'true' }), 'a string is not a boolean')
  t.notOk(cancelRequested({ cancel: false, desiredState: 'Running' }))
  t.notOk(cancelRequested({}))
  t.notOk(cancelRequested(null))
  t.notOk(cancelRequested(undefined))
  t.notOk(cancelRequested([{ cancel: true }]))
})

t.test('each run kind is found by name and by group/plural', async (t) => {
  for (const kind of RUN_KINDS) {
    t.equal(runKindByName(kind.kind), kind)
    t.equal(runKindByResource(kind.group, kind.plural), kind)
  }
  t.equal(runKindByName('Pod'), undefined)
})
