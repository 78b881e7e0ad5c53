// Process memory: for tests and demos only (lost on restart, not shared between instances).
// Synchronous, so no time limit applies, and `replace` is atomic: nothing runs between its
// compare and its write.
import type { MiroTokenState } from '../state'
import { objectCodec, type StateCodec } from './codec'
import { hasUserId, requireUserId } from './guard'
import type { StoreLogger, TokenStore, UserKey } from './types'

export function createMemoryStore (log: StoreLogger, codec: StateCodec = objectCodec): TokenStore {
  const states = new Map<string, unknown>()
  const read = (userId: UserKey): MiroTokenState | undefined => codec.decode(states.get(String(userId)), userId, 'memory', log)
  const write = (userId: UserKey, state: MiroTokenState | undefined): void => {
    const key = String(requireUserId(userId))
    if (state === undefined) states.delete(key)
    else states.set(key, codec.encode(state, userId))
  }
  return {
    flightKey: (userId) => 'memory:' + String(userId),
    async get (userId) {
      return read(userId)
    },
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      write(userId, state)
    },
    async replace (userId, expected, next) {
      const current = hasUserId(userId) ? read(userId) : undefined
      if (current?.accessToken !== expected) return { replaced: false, current }
      write(userId, next)
      return { replaced: true }
    }
  }
}
