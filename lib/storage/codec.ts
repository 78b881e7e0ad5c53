// How a state is written into a backend and read back. Plain: the state object itself (or its
// JSON, in Redis); in the session, one compact line. Sealed: an encrypted string (see
// lib/seal.ts), the same for every backend.
import type { MiroTokenState } from '../state'
import { checkedState } from './guard'
import type { StoreLogger, UserKey } from './types'

export interface StateCodec {
  /** What to store for `state`. */
  encode (state: MiroTokenState, userId: UserKey): unknown
  /** The state in a stored value, or `undefined` (with a warning) when it is not a valid one. */
  decode (value: unknown, userId: UserKey, where: string, log: StoreLogger): MiroTokenState | undefined
}

/** Objects as they are: the session, memory and custom backends. */
export const objectCodec: StateCodec = {
  encode: (state) => state,
  decode: (value, _userId, where, log) => checkedState(value, where, log)
}

/** JSON text: the Redis backend. */
export const jsonCodec: StateCodec = {
  encode: (state) => JSON.stringify(state),
  decode (value, _userId, where, log) {
    let parsed: unknown = value
    if (typeof value === 'string') {
      try {
        parsed = JSON.parse(value)
      } catch {} // not JSON: checkedState refuses the raw text with a warning
    }
    return checkedState(parsed, where, log)
  }
}

// The session: @fastify/session hashes the whole session twice on every request (to see whether
// it changed), key by key. The state's six keys made every request of a logged-in session ~4 %
// slower than one string does (bench/FINDINGS.md), so the session holds one line:
//   m1 <userId> <accessToken> <refreshToken> <tokenExpiresAt> <teamId> <scope…>
// '-' marks an absent field; the scope, last, keeps its spaces. A state that does not fit that
// (a field empty, '-' or holding a space; keys of its own) is stored as the object instead.
const COMPACT_TAG = 'm1'
const ABSENT = '-'
const COMPACT_KEYS = new Set(['userId', 'accessToken', 'refreshToken', 'tokenExpiresAt', 'teamId', 'scope'])

const fitsField = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== ABSENT && !v.includes(' ')
const fitsOptional = (v: unknown): boolean => v === undefined || fitsField(v)
const fitsScope = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v !== '' && v !== ABSENT)

function compactLine (state: MiroTokenState): string | undefined {
  for (const key of Object.keys(state)) if (!COMPACT_KEYS.has(key)) return undefined
  const { userId, accessToken, refreshToken, tokenExpiresAt, teamId, scope } = state
  if (!fitsField(userId) || !fitsField(accessToken) || !fitsOptional(refreshToken) ||
    !fitsOptional(tokenExpiresAt) || !fitsOptional(teamId) || !fitsScope(scope)) return undefined
  return [COMPACT_TAG, userId, accessToken, refreshToken ?? ABSENT, tokenExpiresAt ?? ABSENT, teamId ?? ABSENT, scope ?? ABSENT].join(' ')
}

/** The fields of a compact line, or undefined when it is not one. */
function parseLine (line: string): MiroTokenState | undefined {
  const fields: string[] = []
  let from = 0
  for (let i = 0; i < 6; i++) {
    const space = line.indexOf(' ', from)
    if (space === -1) return undefined
    fields.push(line.slice(from, space))
    from = space + 1
  }
  const [tag, userId, accessToken, refreshToken, tokenExpiresAt, teamId] = fields as [string, string, string, string, string, string]
  const scope = line.slice(from)
  if (tag !== COMPACT_TAG) return undefined
  const state: MiroTokenState = { userId, accessToken }
  if (refreshToken !== ABSENT) state.refreshToken = refreshToken
  if (tokenExpiresAt !== ABSENT) state.tokenExpiresAt = tokenExpiresAt
  if (teamId !== ABSENT) state.teamId = teamId
  if (scope !== ABSENT) state.scope = scope
  return state
}

/** One line per state in the session (objects stored by earlier versions still read). */
export const compactCodec: StateCodec = {
  encode: (state) => compactLine(state) ?? state,
  decode (value, _userId, where, log) {
    const parsed = typeof value === 'string' ? parseLine(value) ?? value : value
    return checkedState(parsed, where, log)
  }
}
