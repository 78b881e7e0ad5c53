// How a state is written into a backend and read back. Plain: the state object itself (or its
// JSON, in Redis). Sealed: an encrypted string (see lib/seal.ts), the same for every backend.
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
