// Picks the backend named by `options.storage` and checks, at register time, that the plugin
// it relies on is registered. Returns how to get the store of a request: the same object for
// shared backends, a small per-request view for the session.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { MiroOptionsError } from '../errors'
import type { ResolvedOptions } from '../options'
import { createSealCodec } from '../seal'
import { createCustomStore } from './custom'
import { createMemoryLoginIndex, createRedisLoginIndex, customLoginIndex, withLoginIndex, type RedisSets } from './login-index'
import { createMemoryStore } from './memory'
import { createRedisStore, type RedisClient } from './redis'
import { sealedForRecord, sessionStoreFactory } from './session'
import { createRedisUsedLogins, customUsedLogins } from './used-logins'
import type { TokenStore } from './types'

/** The store of a request; `shared`: the one store of every request, unless it is the session. */
export type StoreFor = ((request: FastifyRequest) => TokenStore) & { readonly shared?: TokenStore }

const isRedisClient = (value: unknown): value is RedisClient =>
  typeof (value as RedisClient | null)?.get === 'function' && typeof (value as RedisClient).eval === 'function'

export function redisClientOf (fastify: FastifyInstance, namespace: string | undefined): RedisClient {
  const decorated = fastify.hasDecorator('redis') ? (fastify as unknown as { redis: unknown }).redis : undefined
  if (decorated === undefined || decorated === null) {
    throw new MiroOptionsError("storage 'redis' needs @fastify/redis: register it before fastify-miro, e.g. app.register(require('@fastify/redis'), { url })")
  }
  if (namespace !== undefined) {
    const client = (decorated as Record<string, unknown>)[namespace]
    if (!isRedisClient(client)) {
      throw new MiroOptionsError(`options.redis.namespace '${namespace}' is not a @fastify/redis namespace: register @fastify/redis with { namespace: '${namespace}' } before fastify-miro`)
    }
    return client
  }
  if (!isRedisClient(decorated)) {
    throw new MiroOptionsError('@fastify/redis was registered with a namespace: set options.redis.namespace to the one to use')
  }
  return decorated
}

export function createStoreFactory (fastify: FastifyInstance, options: ResolvedOptions): StoreFor {
  const { storage, encryptionKeys } = options
  // A sealed state is bound to the id it is stored under (the session's: its record's id).
  const codec = encryptionKeys && createSealCodec(encryptionKeys, true)
  if (storage === 'session') {
    if (!fastify.hasRequestDecorator('session')) {
      throw new MiroOptionsError("storage 'session' needs @fastify/session: register @fastify/cookie and @fastify/session before fastify-miro, or choose storage: 'redis'")
    }
    // Earlier versions sealed the state into the session itself, bound to no id.
    const legacyCodec = encryptionKeys && createSealCodec(encryptionKeys, false)
    // Bound to the record and its session; records sealed before that, to the record alone.
    const sessionCodec = encryptionKeys && createSealCodec(encryptionKeys, true, sealedForRecord)
    return sessionStoreFactory({ sessionKey: options.sessionKey, codec: sessionCodec, legacyCodec, timeoutMs: options.storageTimeout })
  }
  let store: TokenStore
  if (storage === 'redis') {
    const client = redisClientOf(fastify, options.redis.namespace)
    const redisStore = createRedisStore(client, options.redis, fastify.log, codec, options.storageTimeout)
    const index = createRedisLoginIndex(redisStore, client as RedisClient & RedisSets, options.redis.keyPrefix, options.redis.ttl, encryptionKeys)
    store = { ...withLoginIndex(redisStore, index, fastify.log), usedLogins: createRedisUsedLogins(redisStore.commands, client, options.redis.keyPrefix) }
  } else if (storage === 'memory') {
    if (process.env.NODE_ENV === 'production') {
      fastify.log.warn("fastify-miro: storage 'memory' loses every login on restart and is not shared between instances: use 'redis' or 'session' in production")
    }
    store = withLoginIndex(createMemoryStore(fastify.log, codec), createMemoryLoginIndex(), fastify.log)
  } else {
    store = createCustomStore(storage, fastify.log, codec, options.storageTimeout)
    const index = customLoginIndex(storage, options.storageTimeout)
    if (index !== undefined) store = withLoginIndex(store, index, fastify.log)
    const usedLogins = customUsedLogins(storage, options.storageTimeout)
    if (usedLogins !== undefined) store = { ...store, usedLogins }
  }
  const shared = store
  return Object.assign(() => shared, { shared })
}
