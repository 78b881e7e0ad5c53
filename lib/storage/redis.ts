// Token states as JSON strings in the Redis client that @fastify/redis decorated. This file
// only sends commands: it never connects, quits or reconfigures that client.
import { randomUUID } from 'node:crypto'
import { MiroStorageError } from '../errors'
import { jsonCodec, type StateCodec } from './codec'
import { hasUserId, requireUserId, storageCall } from './guard'
import { lockKey, tokenKey } from './keys'
import type { RefreshLock, StoreLogger, TokenStore, UserKey } from './types'

/** Miro's refresh tokens live 60 days: a stored state outliving that is useless. */
export const REFRESH_TOKEN_LIFE_SECONDS = 60 * 24 * 60 * 60

/** What this file needs of an ioredis client (a structural type: ioredis stays an optional peer). */
export interface RedisClient {
  readonly status: string
  get (key: string): Promise<string | null>
  set (key: string, value: string, ...args: Array<string | number>): Promise<unknown>
  del (key: string): Promise<number>
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
}

export interface RedisStoreOptions {
  keyPrefix: string
  /** Seconds; overrides the 60-day / no-expiry rule. */
  ttl?: number
}

// Compare-and-delete: only the holder of the lock may release it.
const RELEASE_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end'

// ioredis queues commands while it reconnects, which would hold requests for many seconds
// during an outage: fail at once instead, and let ioredis reconnect in the background.
function ensureUsable (client: RedisClient): void {
  const status = client.status
  if (status !== 'ready' && status !== 'wait') throw new MiroStorageError(`redis is ${status}`)
}

export function createRedisLock (client: RedisClient, keyPrefix: string): RefreshLock {
  return {
    acquire: (userId, ttlMs) => storageCall('redis lock', async () => {
      ensureUsable(client)
      const token = randomUUID()
      const ok = await client.set(lockKey(keyPrefix, userId), token, 'PX', ttlMs, 'NX')
      return ok === 'OK' ? token : null
    }),
    release: (userId, token) => storageCall('redis unlock', async () => {
      ensureUsable(client)
      await client.eval(RELEASE_SCRIPT, 1, lockKey(keyPrefix, userId), token)
    })
  }
}

export function createRedisStore (client: RedisClient, opts: RedisStoreOptions, log: StoreLogger, codec: StateCodec = jsonCodec): TokenStore {
  const { keyPrefix, ttl } = opts
  return {
    requestLocal: false,
    lock: createRedisLock(client, keyPrefix),
    flightKey: (userId: UserKey) => tokenKey(keyPrefix, userId),
    async get (userId) {
      if (!hasUserId(userId)) return undefined
      const raw = await storageCall('redis get', () => {
        ensureUsable(client)
        return client.get(tokenKey(keyPrefix, userId))
      })
      return raw === null ? undefined : codec.decode(raw, userId, 'redis', log)
    },
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      const key = tokenKey(keyPrefix, requireUserId(userId))
      await storageCall('redis set', async () => {
        ensureUsable(client)
        if (state === undefined) {
          await client.del(key)
          return
        }
        const seconds = ttl ?? (state.refreshToken ? REFRESH_TOKEN_LIFE_SECONDS : undefined)
        // A plain SET also drops an expiry left by an earlier state that had a refresh token.
        const value = codec.encode(state, userId) as string
        if (seconds === undefined) await client.set(key, value)
        else await client.set(key, value, 'EX', seconds)
      })
    }
  }
}
