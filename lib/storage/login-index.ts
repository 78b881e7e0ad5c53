// The login index behind app.miro.revokeAll: which storage keys hold logins of a Miro user,
// kept next to the states so that "log out everywhere" reads one set instead of scanning the
// keyspace. Maintained on writes only (a login adds, a refresh renews, a logout removes); reads
// of a state cost nothing more. A listed key whose state is gone or belongs to another Miro user
// now is dropped by revokeAll, so expired and deleted states leave no lasting trace.
import { createHmac } from 'node:crypto'
import type { Storage } from '@mirohq/miro-api/dist/storage'
import type { SealKey } from '../seal'
import { optionalStorageMethod } from './guard'
import { loginIndexKey } from './keys'
import { stateExpirySeconds, type RedisClient, type RedisTokenStore } from './redis'
import type { LoginIndex, StoreLogger, TokenStore, UserKey } from './types'

// Members are the storage keys as JSON, so a number key comes back a number.
const member = (userId: UserKey): string => JSON.stringify(userId)

function keyOf (raw: string): UserKey | undefined {
  try {
    const key = JSON.parse(raw) as unknown
    return typeof key === 'string' || typeof key === 'number' ? key : undefined
  } catch {
    return undefined
  }
}

// SADD, and the set's expiry renewed to the state's (states expire alike, so the set outlives
// each of its states); a state without expiry makes the set keep none.
const ADD_SCRIPT = `local fresh = redis.call("exists", KEYS[1]) == 0
redis.call("sadd", KEYS[1], ARGV[1])
if ARGV[2] == "" then redis.call("persist", KEYS[1])
elseif fresh or redis.call("ttl", KEYS[1]) >= 0 then redis.call("expire", KEYS[1], ARGV[2]) end
return 1`

/**
 * The index keys of a Miro user, the one written to first. With encryption, the Miro user id is
 * not left readable in a key name (the states are sealed): it is an HMAC under each encryption
 * key, so a set written before a key rotation is still read.
 */
function indexKeys (keyPrefix: string, sealKeys: SealKey[] | undefined): (miroUserId: string) => string[] {
  if (sealKeys === undefined) return (miroUserId) => [loginIndexKey(keyPrefix, miroUserId)]
  return (miroUserId) => sealKeys.map(({ key }) =>
    loginIndexKey(keyPrefix, createHmac('sha256', key).update('fastify-miro login index\0' + miroUserId).digest('base64url')))
}

export function createRedisLoginIndex (
  store: RedisTokenStore, client: RedisClient & RedisSets, keyPrefix: string, ttl: number | undefined, sealKeys?: SealKey[]
): LoginIndex {
  const { commands } = store
  const keysOf = indexKeys(keyPrefix, sealKeys)
  return {
    async add (userId, state) {
      if (state.userId === '') return
      const seconds = stateExpirySeconds(state, ttl)
      const [key] = keysOf(String(state.userId)) as [string]
      await commands.send('redis login index add', () => client.eval(ADD_SCRIPT, 1, key, member(userId), seconds === undefined ? '' : String(seconds)))
    },
    async list (miroUserId) {
      const sets = await Promise.all(keysOf(miroUserId).map((key) => commands.send('redis login index read', () => client.smembers(key))))
      return [...new Set(sets.flat())].map(keyOf).filter((key): key is UserKey => key !== undefined)
    },
    async remove (miroUserId, userIds) {
      if (userIds.length === 0) return
      await Promise.all(keysOf(miroUserId).map((key) => commands.send('redis login index remove', () => client.srem(key, ...userIds.map(member)))))
    }
  }
}

/** The set commands the index needs of ioredis, besides those of the store. */
export interface RedisSets {
  smembers (key: string): Promise<string[]>
  srem (key: string, ...members: string[]): Promise<number>
}

/** Process memory, like the memory backend. */
export function createMemoryLoginIndex (): LoginIndex {
  const sets = new Map<string, Set<string>>()
  return {
    async add (userId, state) {
      if (state.userId === '') return
      const miroUserId = String(state.userId)
      let set = sets.get(miroUserId)
      if (set === undefined) sets.set(miroUserId, set = new Set())
      set.add(member(userId))
    },
    async list (miroUserId) {
      return [...sets.get(miroUserId) ?? []].map(keyOf).filter((key): key is UserKey => key !== undefined)
    },
    async remove (miroUserId, userIds) {
      const set = sets.get(miroUserId)
      if (set === undefined) return
      for (const userId of userIds) set.delete(member(userId))
      if (set.size === 0) sets.delete(miroUserId)
    }
  }
}

/**
 * A custom Storage's own lookup, when it has one: `loginsOf(miroUserId, teamId?)` resolves to
 * the keys it stores states of that Miro user under (it can find them by the states' `userId`
 * and `teamId`). Undefined without it: revokeAll then says it is not supported.
 */
export function customLoginIndex (storage: Storage, timeoutMs: number): LoginIndex | undefined {
  const loginsOf = optionalStorageMethod<[miroUserId: string, teamId?: string]>(storage, 'loginsOf', timeoutMs)
  if (loginsOf === undefined) return undefined
  return {
    async list (miroUserId, teamId) {
      const keys = await loginsOf(miroUserId, teamId)
      return Array.isArray(keys) ? keys.filter((key): key is UserKey => typeof key === 'string' || typeof key === 'number') : []
    }
  }
}

/**
 * The store with the index kept up to date on its writes. Everything else, reads first, is the
 * store's own. A login (set) fails when the index cannot be written (the login is retried); a
 * refresh (replace) never waits for it nor fails by it: the next refresh writes it again.
 */
export function withLoginIndex (store: TokenStore, index: LoginIndex, log: StoreLogger): TokenStore {
  const add = index.add
  if (add === undefined) return { ...store, logins: index }
  return {
    ...store,
    logins: index,
    async set (userId, state) {
      await store.set(userId, state)
      if (state !== undefined) await add(userId, state)
    },
    async replace (userId, expected, next) {
      const result = await store.replace(userId, expected, next)
      if (result.replaced && next !== undefined) {
        add(userId, next).catch(() => { log.warn('fastify-miro: the login index of a refreshed Miro user could not be written; the next refresh writes it again') })
      }
      return result
    }
  }
}
