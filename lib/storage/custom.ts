// A user's own SDK `Storage` object, used as given; sync or async methods both work.
import type { Storage } from '@mirohq/miro-api/dist/storage'
import { checkedState, storageCall } from './guard'
import type { StoreLogger, TokenStore } from './types'

export function createCustomStore (storage: Storage, log: StoreLogger): TokenStore {
  return {
    requestLocal: false,
    flightKey: (userId) => 'custom:' + String(userId),
    async get (userId) {
      const value = await storageCall('storage get', () => storage.get(userId))
      return checkedState(value, 'custom storage', log)
    },
    async set (userId, state) {
      await storageCall('storage set', () => storage.set(userId, state))
    }
  }
}
