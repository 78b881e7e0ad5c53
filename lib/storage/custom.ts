// A user's own SDK `Storage` object, used as given; sync or async methods both work. Each
// asynchronous call is raced with a timer of `timeoutMs` (options.storageTimeout).
import type { Storage } from '@mirohq/miro-api/dist/storage'
import type { MiroTokenState } from '../state'
import { objectCodec, type StateCodec } from './codec'
import { DEFAULT_STORAGE_TIMEOUT_MS, replaceByReadThenWrite, storageCall } from './guard'
import type { StoreLogger, TokenStore } from './types'

export function createCustomStore (
  storage: Storage, log: StoreLogger, codec: StateCodec = objectCodec, timeoutMs = DEFAULT_STORAGE_TIMEOUT_MS
): TokenStore {
  const store: TokenStore = {
    // The SDK's Storage has no compare-and-set: read, compare, write.
    replace: (userId, expected, next) => replaceByReadThenWrite(store, userId, expected, next),
    flightKey: (userId) => 'custom:' + String(userId),
    async get (userId) {
      const value = await storageCall('storage get', () => storage.get(userId), timeoutMs)
      return codec.decode(value, userId, 'custom storage', log)
    },
    async set (userId, state) {
      // With encryption, the storage receives the sealed string in place of the state object.
      const value = (state === undefined ? undefined : codec.encode(state, userId)) as MiroTokenState | undefined
      await storageCall('storage set', () => storage.set(userId, value), timeoutMs)
    }
  }
  return store
}
