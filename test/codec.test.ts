// The session's compact line (lib/storage/codec.ts): every valid state reads back exactly as it
// was stored, a state that cannot be a line is kept as an object, objects of earlier versions
// still read, and no stored string (tampered, truncated, foreign) throws or passes for a state.
import t from 'tap'
import fc from 'fast-check'
import { compactCodec } from '../lib/storage/codec'
import { isTokenState, type MiroTokenState } from '../lib/state'
import type { StoreLogger } from '../lib/storage/types'

const SEED = 42

/** A logger that keeps its warnings (the codec's only log calls). */
function recordingLog (): StoreLogger & { warnings: string[] } {
  const warnings: string[] = []
  const warn = (...args: unknown[]): void => { warnings.push(String(args[1] ?? args[0])) }
  return { warn, warnings } as unknown as StoreLogger & { warnings: string[] }
}

// Mostly token-like values, and some that test the line's rules: spaces, the absent marker,
// empty strings, unicode.
const tricky = fc.oneof(
  fc.constantFrom('-', '', ' ', 'a b', '--', 'm1'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 })
)
const field = fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.:=-]{1,24}$/) }, { weight: 1, arbitrary: tricky })
const date = fc.oneof({ weight: 8, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) }, { weight: 1, arbitrary: fc.constantFrom('not a date', '-') })
const stateArb = fc.tuple(fc.record({
  userId: fc.oneof({ weight: 8, arbitrary: field }, { weight: 1, arbitrary: fc.integer().map((n) => n as unknown as string) }),
  accessToken: field,
  refreshToken: field,
  tokenExpiresAt: date,
  teamId: field,
  scope: fc.oneof(field, fc.constantFrom('boards:read boards:write', 'boards:read  identity:read '))
}, { requiredKeys: ['accessToken'] }), fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.string() }))
  .map(([state, extra]) => (extra === undefined ? state : { ...state, extra }) as MiroTokenState)

t.test('every valid state reads back exactly; it is a line when it fits, the object otherwise', async (t) => {
  let lines = 0
  let objects = 0
  fc.assert(fc.property(stateArb, (state) => {
    fc.pre(isTokenState(state))
    const log = recordingLog()
    const stored = compactCodec.encode(state, 'ignored')
    if (typeof stored === 'string') lines++
    else objects++
    const back = compactCodec.decode(stored, 'ignored', 'session', log)
    return JSON.stringify(back) === JSON.stringify(state) && log.warnings.length === 0 &&
      (typeof stored === 'string' ? stored.startsWith('m1 ') : stored === state)
  }), { seed: SEED, numRuns: 3000 })
  t.ok(lines > 500 && objects > 100, `both forms exercised (${lines} lines, ${objects} objects)`)
})

t.test('a Miro state is one line, fields in order, absent ones as -', async (t) => {
  const full: MiroTokenState = {
    userId: '3458764500000000001',
    accessToken: 'eyJ_access',
    refreshToken: 'eyJ_refresh',
    tokenExpiresAt: '2030-01-01T00:00:00.000Z',
    teamId: '3458764500000000002',
    scope: 'boards:read boards:write'
  }
  t.equal(compactCodec.encode(full, 'x'), 'm1 3458764500000000001 eyJ_access eyJ_refresh 2030-01-01T00:00:00.000Z 3458764500000000002 boards:read boards:write')
  t.equal(compactCodec.encode({ userId: 'u', accessToken: 'a' }, 'x'), 'm1 u a - - - -')
  t.same(compactCodec.decode('m1 u a - - - -', 'x', 'session', recordingLog()), { userId: 'u', accessToken: 'a' })
  t.same(compactCodec.decode(full, 'x', 'session', recordingLog()), full, 'an object stored by an earlier version reads as before')
})

t.test('no string throws, and only a well-formed line passes for a state', async (t) => {
  const log = recordingLog()
  fc.assert(fc.property(fc.oneof(
    fc.string(),
    fc.array(field, { maxLength: 9 }).map((parts) => ['m1', ...parts].join(' ')),
    fc.array(field, { maxLength: 9 }).map((parts) => ['m2', ...parts].join(' '))
  ), (value) => {
    const state = compactCodec.decode(value, 'x', 'session', log)
    return state === undefined || (isTokenState(state) && value.startsWith('m1 '))
  }), { seed: SEED, numRuns: 3000 })
  t.ok(log.warnings.length > 0, 'refused values are logged as warnings')
  for (const refused of ['m1 u a - - -', 'm2 u a - - - -', 'm1', '', 'u a - - - -', 'm1 u  - - - -', 'm1 u a - soon - -']) {
    const before = log.warnings.length
    t.equal(compactCodec.decode(refused, 'x', 'session', log), undefined, `refused: ${JSON.stringify(refused)}`)
    t.equal(log.warnings.length, before + 1, 'with a warning')
  }
})
