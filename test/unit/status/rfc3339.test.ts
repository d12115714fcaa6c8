import t from 'tap'

import { compareInstants, formatMicroTime, formatRfc3339, isRfc3339, parseRfc3339 } from '../../../src/status/rfc3339.ts'

t.test('accepts what Go time.RFC3339 accepts', async (t) => {
  for (const text of [
    '2026-02-07T10:00:00Z',
    '2026-02-07T10:00:00.5Z',
    '2026-02-07T10:00:00.123456789Z',
    '2026-02-07T10:00:00.1234567891234Z',
    '2026-02-07T12:00:00+02:00',
    '2026-02-07T05:30:00-04:30',
    '2024-02-29T00:00:00Z',
    '2000-02-29T23:59:59Z',
    '0001-01-01T00:00:00Z',
  ]) {
    t.ok(isRfc3339(text), text)
  }
})

t.test('rejects what Date.parse would let through', async (t) => {
  for (const text of [
    '2026-02-07',
    '2026-02-07 10:00:00Z',
    '2026-02-07T10:00:00',
    '2026-02-07t10:00:00z',
    '2026-02-30T10:00:00Z',
    '2025-02-29T10:00:00Z',
    '1900-02-29T10:00:00Z',
    '2026-13-01T10:00:00Z',
    '2026-00-01T10:00:00Z',
    '2026-02-07T24:00:00Z',
    '2026-02-07T10:60:00Z',
    '2026-02-07T23:59:60Z',
    '2026-02-07T10:00:00.Z',
    '2026-02-07T10:00:00+0200',
    '2026-02-07T10:00:00+24:00',
    '2026-2-7T10:00:00Z',
    'Sat, 07 Feb 2026 10:00:00 GMT',
    ' 2026-02-07T10:00:00Z',
    '',
  ]) {
    t.notOk(isRfc3339(text), JSON.stringify(text))
  }
  for (const value of [undefined, null, 0, 1770458400000, {}, []]) t.notOk(isRfc3339(value), `non-string ${JSON.stringify(value)}`)
})

t.test('instants compare across offsets and precision', async (t) => {
  const a = parseRfc3339('2026-02-07T10:00:00Z')!
  t.equal(compareInstants(a, parseRfc3339('2026-02-07T12:00:00+02:00')!), 0, 'same instant, other offset')
  t.equal(compareInstants(a, parseRfc3339('2026-02-07T10:00:00.000Z')!), 0, 'same instant, with zero fraction')
  t.ok(compareInstants(a, parseRfc3339('2026-02-07T10:00:00.000000001Z')!) < 0, 'nanosecond later is later')
  t.ok(compareInstants(parseRfc3339('2026-02-07T10:00:01Z')!, a) > 0)
  t.equal(a.seconds, Date.UTC(2026, 1, 7, 10) / 1000, 'epoch seconds')
  t.ok(parseRfc3339('0050-01-01T00:00:00Z')!.seconds < parseRfc3339('1950-01-01T00:00:00Z')!.seconds, 'year 50 is long before 1950')
})

t.test('formatRfc3339 writes milliseconds in UTC, like upstream\'s toISOString()', async (t) => {
  t.equal(formatRfc3339(new Date('2026-02-07T10:00:00.987Z')), '2026-02-07T10:00:00.987Z')
  t.equal(formatRfc3339(new Date('2026-02-07T10:00:00Z')), '2026-02-07T10:00:00.000Z')
  t.ok(isRfc3339(formatRfc3339(new Date())), 'its output parses')
})

t.test('formatMicroTime writes the same instant with six fractional digits (metav1.MicroTime)', async (t) => {
  t.equal(formatMicroTime(new Date('2026-11-23T11:00:00Z')), '2026-11-23T11:00:00.000000Z')
  t.equal(formatMicroTime(new Date('2026-11-23T11:00:00.123Z')), '2026-11-23T11:00:00.123000Z')
  t.equal(compareInstants(parseRfc3339(formatMicroTime(new Date('2026-11-23T11:00:00.123Z')))!, parseRfc3339('2026-11-23T11:00:00.123Z')!), 0, 'the same instant')
})
