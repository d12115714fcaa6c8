/** SPEC §2 "Mutating — spec": desiredState: Cancelled ⇄ cancel: true. */
import t from 'tap'

import { normaliseCancel } from '../../../../src/admission/mutators/spec.ts'
import type { Operation } from '../../../../src/admission/types.ts'
import type { KubeObject } from '../../../../src/kube/objects.ts'
import { agentRun, context, spec } from '../../../helpers/context.ts'

function normalise(input: unknown, operation: Operation = 'CREATE', subResource?: string): { spec: unknown; warnings: readonly string[] } {
  const newObject = agentRun({ spec: input })
  const draft: KubeObject = structuredClone(newObject)
  const { warnings } = normaliseCancel(context({ operation, subResource, newObject, oldObject: operation === 'UPDATE' ? agentRun() : undefined }), draft)
  return { spec: draft.spec, warnings }
}

const scenarios: Array<{ name: string; input: unknown; want: unknown; operation?: Operation; subResource?: string }> = [
  { name: 'desiredState Cancelled adds cancel: true', input: spec({ desiredState: 'Cancelled' }), want: spec({ desiredState: 'Cancelled', cancel: true }) },
  { name: 'cancel: true adds desiredState Cancelled', input: spec({ cancel: true }), want: spec({ cancel: true, desiredState: 'Cancelled' }) },
  { name: 'on UPDATE too', input: spec({ cancel: true }), want: spec({ cancel: true, desiredState: 'Cancelled' }), operation: 'UPDATE' },
  { name: 'null counterpart is filled', input: spec({ cancel: true, desiredState: null }), want: spec({ cancel: true, desiredState: 'Cancelled' }) },
  { name: 'both already set: untouched', input: spec({ cancel: true, desiredState: 'Cancelled' }), want: spec({ cancel: true, desiredState: 'Cancelled' }) },
  { name: 'conflict left for the validator (true + Running)', input: spec({ cancel: true, desiredState: 'Running' }), want: spec({ cancel: true, desiredState: 'Running' }) },
  { name: 'conflict left for the validator (false + Cancelled)', input: spec({ cancel: false, desiredState: 'Cancelled' }), want: spec({ cancel: false, desiredState: 'Cancelled' }) },
  { name: 'cancel: false is not expanded', input: spec({ cancel: false }), want: spec({ cancel: false }) },
  { name: 'desiredState Running is not expanded', input: spec({ desiredState: 'Running' }), want: spec({ desiredState: 'Running' }) },
  { name: 'malformed cancel untouched', input: spec({ cancel: 'true' }), want: spec({ cancel: 'true' }) },
  { name: 'no cancel fields: untouched', input: spec(), want: spec() },
  { name: 'garbage spec: no throw', input: 'cancel', want: 'cancel' },
  { name: 'status subresource: untouched', input: spec({ cancel: true }), want: spec({ cancel: true }), operation: 'UPDATE', subResource: 'status' },
  { name: 'DELETE: untouched', input: spec({ cancel: true }), want: spec({ cancel: true }), operation: 'DELETE' },
]

for (const s of scenarios) {
  t.test(s.name, async (t) => {
    const { spec: got, warnings } = normalise(s.input, s.operation, s.subResource)
    t.same(got, s.want)
    t.same(warnings, [])
  })
}
