// Process memory: for tests and demos only (lost on restart, not shared between instances).
import { objectCodec, type StateCodec } from './codec'
import { hasUserId, replaceByReadThenWrite, requireUserId } from './guard'
import type { StoreLogger, TokenStore } from './types'

export function createMemoryStore (log: StoreLogger, codec: StateCodec = objectCodec): TokenStore {
  const states = new Map<string, unknown>()
  const store: TokenStore = {
    replace: (userId, expected, next) => replaceByReadThenWrite(store, userId, expected, next),
    flightKey: (userId) => 'memory:' + String(userId),
    async get (userId) {
      return codec.decode(states.get(String(userId)), userId, 'memory', log)
    },
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      const key = String(requireUserId(userId))
      if (state === undefined) states.delete(key)
      else states.set(key, codec.encode(state, userId))
    }
  }
  return store
}
