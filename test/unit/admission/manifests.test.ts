/**
 * SPEC §2 Writers, rendered: every run webhook is split by writer (controller identities fail
 * open, everyone else fails closed), and the status ValidatingAdmissionPolicy exempts the
 * controller and break-glass identities. The API server's verdict on these objects is tested in
 * test/integration/writers.test.ts.
 */
import t from 'tap'
import { renderAdmission, renderStatusPolicy, STATUS_POLICY_RULES, writerIdentities } from '../../../src/admission/manifests.ts'
import { celString, identityCel } from '../../../src/admission/writers.ts'
import { loadConfig } from '../../../src/config.ts'
import { WEBHOOKS } from '../../../webhooks/index.ts'

const config = loadConfig({ RUNGUARD_CONTROLLER_GROUPS: 'agents:controllers', RUNGUARD_BREAK_GLASS_USERS: 'oncall' })
const options = { target: { url: 'https://127.0.0.1:8443' }, excludedNamespaces: ['kube-system', 'runguard-system'], ...writerIdentities(config) }

interface Entry {
  name: string
  failurePolicy: string
  rules: Array<{ resources: string[] }>
  matchConditions?: Array<{ name: string; expression: string }>
}

t.test('each run webhook renders once per writer', async (t) => {
  const docs = renderAdmission(WEBHOOKS, options)
  const entries = docs.flatMap((d) => ((d as { webhooks?: Entry[] }).webhooks ?? []) as Entry[])
  const byName = new Map(entries.map((e) => [e.name, e]))
  const identity = identityCel(writerIdentities(config).controllers)
  for (const name of ['validate.runguard.proompteng.ai', 'mutate.runguard.proompteng.ai']) {
    const people = byName.get(name)
    const controllers = byName.get(`controllers.${name}`)
    t.equal(people?.failurePolicy, 'Fail', `${name}: people fail closed`)
    t.equal(controllers?.failurePolicy, 'Ignore', `${name}: controllers fail open`)
    // One condition each: the identity test in front of the definition's own (the status-write
    // skip, test/unit/admission/manifests-status-skip.test.ts), so the other writer costs one test.
    const own = WEBHOOKS.find((w) => w.name === name)?.matchConditions?.[0]
    t.same(people?.matchConditions, [{ name: `not-a-controller.${own?.name}`, expression: `(!(${identity})) && (${own?.expression})` }])
    t.same(controllers?.matchConditions, [{ name: `controller-identity.${own?.name}`, expression: `(${identity}) && (${own?.expression})` }])
  }
  const resources = (entry: Entry | undefined) => entry?.rules.flatMap((r) => r.resources)
  const statusAndMain = ['agentruns', 'orchestrationruns', 'toolruns', 'agentruns/status', 'orchestrationruns/status', 'toolruns/status']
  t.same(resources(byName.get('mutate.runguard.proompteng.ai')), statusAndMain)
  t.same(resources(byName.get('controllers.mutate.runguard.proompteng.ai')), statusAndMain, "controllers' status writes are repaired by the mutating copy")
  t.same(resources(byName.get('validate.runguard.proompteng.ai')), statusAndMain)
  t.same(resources(byName.get('controllers.validate.runguard.proompteng.ai')), ['agentruns', 'orchestrationruns', 'toolruns'], "controllers' status writes skip validation: it could only warn them")
  t.equal(byName.get('jobs.mutate.runguard.proompteng.ai')?.failurePolicy, 'Ignore', 'the Job webhook is not split (it fails open already)')
  t.notOk(byName.has('controllers.jobs.mutate.runguard.proompteng.ai'))
  t.same(docs.map((d) => d.kind), ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'])
})

t.test('a split webhook without conditions of its own gets the identity condition alone, and a second condition stops at the identity test', async (t) => {
  const [definition] = WEBHOOKS
  const conditions = [
    { name: 'first', expression: 'true' },
    { name: 'second', expression: "object.kind == 'AgentRun'" },
  ]
  const render = (matchConditions: typeof conditions) =>
    renderAdmission([{ ...definition!, matchConditions }], options).flatMap((d) => ((d as { webhooks?: Entry[] }).webhooks ?? []) as Entry[])
  const identity = identityCel(writerIdentities(config).controllers)
  const [people, controllers] = render([])
  t.same(people?.matchConditions, [{ name: 'not-a-controller', expression: `!(${identity})` }])
  t.same(controllers?.matchConditions, [{ name: 'controller-identity', expression: identity }])
  const [people2, controllers2] = render(conditions)
  t.same(people2?.matchConditions?.map((c) => c.name), ['not-a-controller.first', 'second'])
  t.equal(people2?.matchConditions?.[1]?.expression, `(${identity}) || (object.kind == 'AgentRun')`)
  t.equal(controllers2?.matchConditions?.[1]?.expression, `(!(${identity})) || (object.kind == 'AgentRun')`)
  for (const entry of [...render([]), ...render(conditions)]) {
    for (const c of entry.matchConditions ?? []) t.ok(c.name.length <= 63 && /^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$/.test(c.name), `${c.name}: a qualified name`)
  }
})

t.test('identity CEL names every user and group, quoted', async (t) => {
  const cel = identityCel({ users: ['system:serviceaccount:agents:agents-sa', "o'brien"], groups: ['agents:controllers'] })
  t.equal(cel, "request.userInfo.username in ['system:serviceaccount:agents:agents-sa', 'o\\'brien'] || request.userInfo.groups.exists(g, g in ['agents:controllers'])")
  t.equal(identityCel({ users: [], groups: [] }), 'false')
})

t.test('the default controller identities: upstream chart ServiceAccount and runguard\'s own', async (t) => {
  const defaults = loadConfig({ RUNGUARD_POD_NAMESPACE: 'guard' })
  t.same(defaults.controllerUsers, ['system:serviceaccount:agents:agents-sa', 'system:serviceaccount:guard:runguard'])
})

t.test('no controller identities: webhooks are not split', async (t) => {
  const docs = renderAdmission(WEBHOOKS, { ...options, controllers: { users: [], groups: [] } })
  const names = docs.flatMap((d) => ((d as { webhooks?: Entry[] }).webhooks ?? []).map((e) => e.name))
  t.notOk(names.some((n) => n.startsWith('controllers.')))
})

t.test('status policy: rules 6–8 for everyone but controllers and break-glass, in one validation', async (t) => {
  const [policy, binding] = renderStatusPolicy(options) as Array<{ spec: Record<string, unknown>; metadata: { name: string } }>
  const spec = policy!.spec as {
    matchConstraints: { resourceRules: Array<{ resources: string[]; operations: string[] }> }
    matchConditions?: unknown
    validations: Array<{ expression: string; messageExpression: string; message: string; reason: string }>
  }
  t.same(spec.matchConstraints.resourceRules[0]?.resources, ['agentruns/status', 'orchestrationruns/status', 'toolruns/status'])
  t.same(spec.matchConstraints.resourceRules[0]?.operations, ['UPDATE'])
  t.notOk('matchConditions' in spec, 'no matchConditions: the exemptions lead the one validation, so the API server prepares its input once')
  t.equal(spec.validations.length, 1)
  const [validation] = spec.validations
  const controllers = identityCel(writerIdentities(config).controllers)
  const breakGlass = identityCel(writerIdentities(config).breakGlass)
  t.match(breakGlass, /oncall/)
  t.equal(validation?.expression, `(${controllers}) || (${breakGlass}) || (${STATUS_POLICY_RULES.map((r) => `(${r.expression})`).join(' && ')})`, 'exempt first, then every rule')
  // The message names the first rule broken, in order; each rule's text appears once, quoted for CEL.
  const messages = STATUS_POLICY_RULES.map((r) => r.message)
  t.match(messages, [/startedAt is immutable/, /finishedAt is immutable/, /phase is terminal/, /observedGeneration may not decrease/])
  let rest = validation?.messageExpression ?? ''
  for (const [i, rule] of STATUS_POLICY_RULES.entries()) {
    const branch = i < STATUS_POLICY_RULES.length - 1 ? `!(${rule.expression}) ? '${rule.message}' : ` : `'${rule.message}'`
    t.ok(rest.startsWith(branch), `message branch ${i + 1}: ${rule.message}`)
    rest = rest.slice(branch.length)
  }
  t.equal(rest, '', 'nothing after the last rule')
  t.equal(validation?.reason, 'Invalid')
  t.match(validation?.message, /runguard status policy/, 'a fallback message should the message expression fail')
  t.equal((binding!.spec as { policyName: string }).policyName, policy!.metadata.name)
  t.same((binding!.spec as { validationActions: string[] }).validationActions, ['Deny'])
})

t.test('status policy without break-glass identities: only the controllers are exempt', async (t) => {
  const [policy] = renderStatusPolicy({ ...options, breakGlass: { users: [], groups: [] } }) as Array<{ spec: { validations: Array<{ expression: string }> } }>
  const controllers = identityCel(writerIdentities(config).controllers)
  t.ok(policy?.spec.validations[0]?.expression.startsWith(`(${controllers}) || ((!(has(oldObject.status)`))
})

t.test('CEL string literals escape quotes and backslashes', async (t) => {
  t.equal(celString("o'brien\\x"), "'o\\'brien\\\\x'")
})
