/**
 * Kubernetes label selectors in their string form (`a=b,c!=d,e in (f,g),h notin (i),j,!k`), parsed
 * and matched against an object's labels — what the informer cache's list() filters with, with the
 * API server's semantics (`!=` and `notin` also match objects without the label).
 */

export type SelectorOperator = 'exists' | 'doesNotExist' | 'equals' | 'notEquals' | 'in' | 'notIn'

export interface Requirement {
  key: string
  operator: SelectorOperator
  values: string[]
}

export class SelectorError extends Error {
  override name = 'SelectorError'
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/

/** Splits on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let current = ''
  for (const char of text) {
    if (char === '(') depth++
    if (char === ')') depth--
    if (char === ',' && depth === 0) {
      out.push(current)
      current = ''
    } else {
      current += char
    }
  }
  out.push(current)
  return out.map((term) => term.trim())
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw new SelectorError(`label selector "${selector}": invalid key "${key}"`)
  return key
}

export function parseLabelSelector(selector: string): Requirement[] {
  if (selector.trim() === '') return []
  return terms(selector).map((term): Requirement => {
    if (term === '') throw new SelectorError(`label selector "${selector}": empty requirement`)
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term)
    if (set) {
      const values = set[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
      return { key: checkKey(set[1]!, selector), operator: set[2] === 'in' ? 'in' : 'notIn', values }
    }
    const comparison = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (comparison) {
      return {
        key: checkKey(comparison[1]!, selector),
        operator: comparison[2] === '!=' ? 'notEquals' : 'equals',
        values: [comparison[3]!],
      }
    }
    if (term.startsWith('!')) return { key: checkKey(term.slice(1).trim(), selector), operator: 'doesNotExist', values: [] }
    return { key: checkKey(term, selector), operator: 'exists', values: [] }
  })
}

export function matchesRequirements(labels: Record<string, string> | undefined, requirements: readonly Requirement[]): boolean {
  return requirements.every(({ key, operator, values }) => {
    const has = labels !== undefined && Object.hasOwn(labels, key)
    const value = has ? labels[key] : undefined
    switch (operator) {
      case 'exists':
        return has
      case 'doesNotExist':
        return !has
      case 'equals':
        return has && value === values[0]
      case 'notEquals':
        return !has || value !== values[0]
      case 'in':
        return has && values.includes(value!)
      case 'notIn':
        return !has || !values.includes(value!)
    }
  })
}

export function matchesLabelSelector(labels: Record<string, string> | undefined, selector: string): boolean {
  return matchesRequirements(labels, parseLabelSelector(selector))
}
