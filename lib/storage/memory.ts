// Process memory: for tests and demos only (lost on restart, not shared between instances).
import type { MiroTokenState } from '../state'
import { hasUserId, requireUserId } from './guard'
import type { TokenStore } from './types'

export function createMemoryStore (): TokenStore {
  const states = new Map<string, MiroTokenState>()
  return {
    requestLocal: false,
    flightKey: (userId) => 'memory:' + String(userId),
    async get (userId) {
      return states.get(String(userId))
    },
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      const key = String(requireUserId(userId))
      if (state === undefined) states.delete(key)
      else states.set(key, state)
    }
  }
}
