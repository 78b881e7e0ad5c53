// A @fastify/session store on the Redis client of @fastify/redis, so that with
// MIRO_STORAGE=redis a restart of the app keeps everyone logged in: the session (whose id is
// the key of the user's Miro tokens) and the tokens both live in Redis.
import type { SessionStore } from '@fastify/session'

/** What this store needs of an ioredis client. */
export interface RedisLike {
  get (key: string): Promise<string | null>
  set (key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>
  del (key: string): Promise<number>
}

export interface RedisSessionStoreOptions {
  /** Default 'example:session:'. */
  prefix?: string
  /** Expiry of sessions without a cookie expiry, in seconds. Default one day. */
  ttlSeconds?: number
}

type Callback = (err?: unknown) => void

export function redisSessionStore (redis: RedisLike, opts: RedisSessionStoreOptions = {}): SessionStore {
  const prefix = opts.prefix ?? 'example:session:'
  const fallbackTtl = opts.ttlSeconds ?? 24 * 60 * 60

  // Keep a session exactly as long as its cookie.
  const ttlOf = (session: { cookie?: { expires?: Date | string | null } }): number => {
    const expires = session.cookie?.expires
    if (!expires) return fallbackTtl
    const seconds = Math.ceil((new Date(expires).getTime() - Date.now()) / 1000)
    return Number.isFinite(seconds) && seconds > 0 ? seconds : 1
  }

  return {
    set (sessionId, session, callback: Callback) {
      redis.set(prefix + sessionId, JSON.stringify(session), 'EX', ttlOf(session)).then(() => callback(), callback)
    },
    get (sessionId, callback) {
      redis.get(prefix + sessionId).then((raw) => {
        if (raw === null) return callback(null, null)
        let session: unknown
        try {
          session = JSON.parse(raw)
        } catch {
          return callback(null, null) // unreadable: start a new session
        }
        callback(null, session as Parameters<typeof callback>[1])
      }, callback)
    },
    destroy (sessionId, callback: Callback) {
      redis.del(prefix + sessionId).then(() => callback(), callback)
    }
  }
}
