// A user's own SDK `Storage` object, used as given; sync or async methods both work.
import type { Storage } from '@mirohq/miro-api/dist/storage'
import type { MiroTokenState } from '../state'
import { objectCodec, type StateCodec } from './codec'
import { replaceByReadThenWrite, storageCall } from './guard'
import type { StoreLogger, TokenStore } from './types'

export function createCustomStore (storage: Storage, log: StoreLogger, codec: StateCodec = objectCodec): TokenStore {
  const store: TokenStore = {
    replace: (userId, expected, next) => replaceByReadThenWrite(store, userId, expected, next),
    flightKey: (userId) => 'custom:' + String(userId),
    async get (userId) {
      const value = await storageCall('storage get', () => storage.get(userId))
      return codec.decode(value, userId, 'custom storage', log)
    },
    async set (userId, state) {
      // With encryption, the storage receives the sealed string in place of the state object.
      const value = (state === undefined ? undefined : codec.encode(state, userId)) as MiroTokenState | undefined
      await storageCall('storage set', () => storage.set(userId, value))
    }
  }
  return store
}
