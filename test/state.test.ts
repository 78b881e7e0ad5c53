// The token state's expiry: read on every authorized request, so its parse is remembered
// (lib/state.ts). The memo must answer exactly as Date.parse, stay bounded, and keep the rules
// (refresh when expired and refreshable; an unparsable date is not a valid state).
import t from 'tap'
import fc from 'fast-check'
import { EXPIRY_MEMO_LIMIT, expiryMemoSize, expiryTime, isTokenState, needsRefresh, type MiroTokenState } from '../lib/state'

const SEED = 42

const dateLike = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
  fc.constantFrom('', 'soon', '0', '2000', 'Infinity', '2099-02-31T00:00:00.000Z', '2099-01-01', '2099-01-01T00:00:00+02:00'),
  fc.string({ maxLength: 60 })
)

t.test('expiryTime answers as Date.parse, first and later reads alike', async (t) => {
  fc.assert(fc.property(dateLike, (iso) => {
    const expected = Date.parse(iso)
    return Object.is(expiryTime(iso), expected) && Object.is(expiryTime(iso), expected)
  }), { seed: SEED, numRuns: 2000 })
  t.pass('2000 generated dates, each read twice, agree with Date.parse')
})

t.test('the memo is bounded: many distinct dates never grow it past its limit', async (t) => {
  const start = Date.parse('2030-01-01T00:00:00.000Z')
  let wrong = 0
  let largest = 0
  for (let i = 0; i < EXPIRY_MEMO_LIMIT * 3; i++) {
    if (expiryTime(new Date(start + i * 1000).toISOString()) !== start + i * 1000) wrong++
    largest = Math.max(largest, expiryMemoSize())
  }
  t.equal(wrong, 0, 'every date read right')
  t.equal(largest, EXPIRY_MEMO_LIMIT, 'the memo filled up to its limit and never past it')
})

t.test('a long string (a tampered state) is parsed but never kept', async (t) => {
  const long = '2030-01-01T00:00:00.000Z' + ' '.repeat(10_000)
  const before = expiryMemoSize()
  const expected = Date.parse(long)
  t.ok(Object.is(expiryTime(long), expected))
  t.equal(expiryMemoSize(), before, 'the memo did not take it')
})

t.test('needsRefresh and isTokenState keep their rules through the memo', async (t) => {
  const now = Date.parse('2030-06-01T12:00:00.000Z')
  const base: MiroTokenState = { userId: 'u', accessToken: 'a', refreshToken: 'r' }
  const at = (ms: number): MiroTokenState => ({ ...base, tokenExpiresAt: new Date(ms).toISOString() })
  t.equal(needsRefresh(at(now - 1), now), true, 'expired')
  t.equal(needsRefresh(at(now), now), true, 'expiring this very millisecond')
  t.equal(needsRefresh(at(now + 1), now), false, 'still fresh')
  t.equal(needsRefresh({ ...at(now - 1), refreshToken: undefined }, now), false, 'expired but not refreshable')
  t.equal(needsRefresh(base, now), false, 'no expiry')
  // The same string, asked again at a later time, gives the later answer: only the parse is kept.
  const state = at(now + 1000)
  t.equal(needsRefresh(state, now), false)
  t.equal(needsRefresh(state, now + 1000), true)
  t.equal(isTokenState({ ...base, tokenExpiresAt: 'soon' }), false, 'a date that does not parse is refused')
  t.equal(isTokenState({ ...base, tokenExpiresAt: 'soon' }), false, 'and refused again once remembered')
  t.equal(isTokenState(at(now)), true)
})
