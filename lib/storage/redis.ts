// Token states as JSON strings in the Redis client that @fastify/redis decorated. This file
// only sends commands: it never connects, quits or reconfigures that client.
import { randomUUID } from 'node:crypto'
import { MiroStorageError } from '../errors'
import { jsonCodec, type StateCodec } from './codec'
import { hasUserId, replaceByReadThenWrite, requireUserId, toStorageError } from './guard'
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
  on (event: 'close', listener: () => void): unknown
}

export interface RedisStoreOptions {
  keyPrefix: string
  /** Seconds; overrides the 60-day / no-expiry rule. */
  ttl?: number
}

// Compare-and-delete: only the holder of the lock may release it.
const RELEASE_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end'

// Compare-and-extend: only the holder may renew its lease.
const RENEW_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end'

/** A command sent and not yet answered, at `index` in the in-flight list. */
interface InFlight { fail: (err: Error) => void, index: number }

/**
 * Sends commands so that an outage answers at once. ioredis queues commands while it
 * reconnects, and resends after the reconnect those that were on the wire when the connection
 * dropped: either would hold requests for the whole outage. So: refuse when not connected, and
 * fail the commands in flight when the connection closes; ioredis reconnects in the background.
 */
export class RedisCommands {
  // An array with swap-remove, not a Set of reject callbacks: hashing a fresh closure into a
  // Set on every command cost ~1.5 µs per Redis read (bench/FINDINGS.md). An answered command
  // leaves the list at once, so nothing outlives its request.
  private inFlight: InFlight[] = []

  constructor (private readonly client: RedisClient) {
    client.on('close', () => {
      const lost = this.inFlight
      this.inFlight = []
      for (const entry of lost) entry.fail(new MiroStorageError('redis connection lost'))
    })
  }

  /** Commands sent and not answered yet: for tests and diagnostics. */
  get pending (): number {
    return this.inFlight.length
  }

  /** Sends `command`; its answer goes through `map` when given (one promise fewer than awaiting, then mapping). */
  send<T, R = T> (what: string, command: () => Promise<T>, map?: (answer: T) => R): Promise<R> {
    const status = this.client.status
    if (status !== 'ready' && status !== 'wait') return Promise.reject(new MiroStorageError(`redis is ${status}`))
    return new Promise<R>((resolve, reject) => {
      const list = this.inFlight
      const entry: InFlight = { fail: reject, index: list.length }
      list.push(entry)
      let pending: Promise<T>
      try {
        pending = command()
      } catch (err) {
        untrack(list, entry)
        reject(toStorageError(what, err))
        return
      }
      pending.then((answer) => {
        untrack(list, entry)
        if (map === undefined) {
          resolve(answer as unknown as R)
          return
        }
        try {
          resolve(map(answer))
        } catch (err) {
          reject(err)
        }
      }, (err: unknown) => {
        untrack(list, entry)
        reject(toStorageError(what, err))
      })
    })
  }
}

/**
 * O(1): the last entry takes the leaving one's place. An answer that arrives after 'close'
 * (ioredis resends on reconnect) updates the list 'close' dropped, which nothing reads any more.
 */
function untrack (list: InFlight[], entry: InFlight): void {
  const last = list.pop() as InFlight
  if (last !== entry) {
    list[entry.index] = last
    last.index = entry.index
  }
}

export function createRedisLock (commands: RedisCommands, client: RedisClient, keyPrefix: string): RefreshLock {
  return {
    async acquire (userId, ttlMs) {
      const token = randomUUID()
      const ok = await commands.send('redis lock', () => client.set(lockKey(keyPrefix, userId), token, 'PX', ttlMs, 'NX'))
      return ok === 'OK' ? token : null
    },
    async renew (userId, token, leaseMs) {
      const renewed = await commands.send('redis lock renew', () => client.eval(RENEW_SCRIPT, 1, lockKey(keyPrefix, userId), token, leaseMs))
      return renewed === 1
    },
    async release (userId, token) {
      await commands.send('redis unlock', () => client.eval(RELEASE_SCRIPT, 1, lockKey(keyPrefix, userId), token))
    }
  }
}

export function createRedisStore (client: RedisClient, opts: RedisStoreOptions, log: StoreLogger, codec: StateCodec = jsonCodec): TokenStore {
  const { keyPrefix, ttl } = opts
  const commands = new RedisCommands(client)
  const store: TokenStore = {
    replace: (userId, expected, next) => replaceByReadThenWrite(store, userId, expected, next),
    lock: createRedisLock(commands, client, keyPrefix),
    flightKey: (userId: UserKey) => tokenKey(keyPrefix, userId),
    get (userId) {
      if (!hasUserId(userId)) return Promise.resolve(undefined)
      return commands.send('redis get', () => client.get(tokenKey(keyPrefix, userId)),
        (raw) => raw === null ? undefined : codec.decode(raw, userId, 'redis', log))
    },
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      const key = tokenKey(keyPrefix, requireUserId(userId))
      if (state === undefined) {
        await commands.send('redis del', () => client.del(key))
        return
      }
      const seconds = ttl ?? (state.refreshToken ? REFRESH_TOKEN_LIFE_SECONDS : undefined)
      // A plain SET also drops an expiry left by an earlier state that had a refresh token.
      const value = codec.encode(state, userId) as string
      await commands.send('redis set', () => seconds === undefined ? client.set(key, value) : client.set(key, value, 'EX', seconds))
    }
  }
  return store
}
