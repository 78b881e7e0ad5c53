// Token states as JSON strings in the Redis client that @fastify/redis decorated. This file
// only sends commands: it never connects, quits or reconfigures that client.
import { randomUUID } from 'node:crypto'
import { storageFailed } from '../diagnostics'
import { MiroOptionsError, MiroStorageError } from '../errors'
import type { MiroTokenState } from '../state'
import { jsonCodec, type StateCodec } from './codec'
import { DEFAULT_STORAGE_TIMEOUT_MS, hasUserId, requireUserId } from './guard'
import { legacyTokenKey, lockKey, tokenKey } from './keys'
import { describeRedisCause } from './redis-errors'
import { ReplicaAcks } from './replica-acks'
import type { RefreshLock, StoreLogger, TokenStore, UserKey } from './types'

/** Miro's refresh tokens live 60 days: a stored state outliving that is useless. */
export const REFRESH_TOKEN_LIFE_SECONDS = 60 * 24 * 60 * 60

/** What this file needs of an ioredis client (a structural type: ioredis stays an optional peer). */
export interface RedisClient {
  readonly status: string
  get (key: string): Promise<string | null>
  set (key: string, value: string, ...args: Array<string | number>): Promise<unknown>
  del (key: string): Promise<number>
  pttl (key: string): Promise<number>
  eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>
  /** WAIT numreplicas timeout: only needed with `redis.waitReplicas`. */
  wait? (numReplicas: number, timeoutMs: number): Promise<number>
  /** 'close' (a connection dropped), 'node error' (a Cluster node failed; its error is the argument). */
  on (event: 'close' | 'node error', listener: (err?: unknown) => void): unknown
}

/** A stored state's expiry in seconds; undefined: none. */
export function stateExpirySeconds (state: MiroTokenState, ttl: number | undefined): number | undefined {
  return ttl ?? (state.refreshToken ? REFRESH_TOKEN_LIFE_SECONDS : undefined)
}

export interface RedisStoreOptions {
  keyPrefix: string
  /** Seconds; overrides the 60-day / no-expiry rule. */
  ttl?: number
  /** Replicas that must acknowledge a written pair (WAIT) before it counts as stored. */
  waitReplicas?: number
  /** Milliseconds a WAIT may take. */
  waitTimeout?: number
}

// Compare-and-delete: only the holder of the lock may release it.
const RELEASE_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end'

// Compare-and-set of a token state: writes (SET, with EX when ARGV[4] is not empty) or DELs
// only while the key holds exactly ARGV[1]; answers 1, or else the value it holds (nil when none).
const REPLACE_SCRIPT = `local current = redis.call("get", KEYS[1])
if current ~= ARGV[1] then return current end
if ARGV[2] == "del" then redis.call("del", KEYS[1])
elseif ARGV[4] == "" then redis.call("set", KEYS[1], ARGV[3])
else redis.call("set", KEYS[1], ARGV[3], "EX", ARGV[4]) end
return 1`

// Compare-and-extend: only the holder may renew its lease.
const RENEW_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end'

/**
 * A command sent and not yet answered (`what` it is), at `index` in the in-flight list (GONE once
 * it left it), sent during sweeper tick `tick`; `what` also names it for diagnostics.
 */
interface InFlight { fail: (err: Error) => void, what: string, index: number, tick: number }

/** A Redis failure as a storage error whose message names the command and Redis's cause. */
function redisError (what: string, err: unknown): Error {
  if (err instanceof MiroStorageError) return err
  return new MiroStorageError(`${what}: ${describeRedisCause(err)}`, { cause: err })
}

const GONE = -1

/** The errors of commands that timed out (as opposed to an answer from Redis, even an error reply). */
const timedOut = new WeakSet<Error>()

/**
 * Sends commands so that an outage answers at once, and a stall within the time limit. ioredis
 * queues commands while it reconnects, and resends after the reconnect those that were on the
 * wire when the connection dropped: either would hold requests for the whole outage. So: refuse
 * when not connected, and fail the commands in flight when the connection closes; ioredis
 * reconnects in the background. A stalled or half-open connection never closes: a sweeper fails
 * the commands older than `timeoutMs`.
 */
export class RedisCommands {
  // An array with swap-remove, not a Set of reject callbacks: hashing a fresh closure into a
  // Set on every command cost ~1.5 µs per Redis read (bench/FINDINGS.md). An answered command
  // leaves the list at once, so nothing outlives its request.
  private inFlight: InFlight[] = []
  // No timer per command (a setTimeout and its clearTimeout on every read cost more than the
  // read path can spare): each entry notes a coarse tick, and one timer, running only while
  // commands are in flight, advances it and fails the entries more than `maxAge` ticks old.
  private tick = 0
  private sweeper: ReturnType<typeof setInterval> | undefined
  // A stalled connection (a timed-out command, no reset) would make every later command of a
  // request wait out its own time limit in turn. Once one timed out, one command at a time is
  // sent as a probe and the others fail at once, until Redis answers anything again.
  private stalled = false
  private probing = false
  // Not for a Redis Cluster client: one master's stall says nothing of the others, whose users
  // must stay unaffected; there each command waits out its own limit.
  private readonly breaker: boolean
  // Counts the connection's closes: a WAIT tells of the writes of its own connection only.
  private closes = 0
  private readonly tickMs: number
  private readonly maxAge: number
  // A Cluster client retries a dead node's commands itself and tells only through 'node error':
  // the last one, recent enough, says why a command timed out.
  private nodeError: { at: number, cause: string } | undefined

  constructor (private readonly client: RedisClient, readonly timeoutMs = DEFAULT_STORAGE_TIMEOUT_MS) {
    // A command fails after more than maxAge * tickMs >= timeoutMs, and at most one tick later.
    this.breaker = (client as { isCluster?: boolean }).isCluster !== true
    this.tickMs = Math.ceil(timeoutMs / 8)
    this.maxAge = Math.ceil(timeoutMs / this.tickMs)
    client.on('node error', (err) => { this.nodeError = { at: Date.now(), cause: describeRedisCause(err) } })
    client.on('close', () => {
      this.closes++
      const lost = this.inFlight
      this.inFlight = []
      this.stopSweeper()
      this.stalled = false
      this.probing = false
      for (const entry of lost) {
        entry.index = GONE
        entry.fail(storageFailed(entry.what, new MiroStorageError('redis connection lost')))
      }
    })
  }

  /** Changes whenever the connection closed: commands sent under one value went down one connection. */
  get connection (): number {
    return this.closes
  }

  /** Commands sent and not answered yet: for tests and diagnostics. */
  get pending (): number {
    return this.inFlight.length
  }

  /** Whether commands go one at a time (a stall's probe): then sending two at once fails the second. */
  get oneAtATime (): boolean {
    return this.stalled && this.breaker
  }

  /** Whether the sweeper's timer runs (only while commands are in flight): for tests. */
  get sweeping (): boolean {
    return this.sweeper !== undefined
  }

  /**
   * Sends `command`; its answer goes through `map` when given (one promise fewer than awaiting,
   * then mapping). `map` may answer a promise, which the result then follows.
   */
  send<T, R = T> (what: string, command: () => Promise<T>, map?: (answer: T) => R | PromiseLike<R>): Promise<R> {
    const status = this.client.status
    if (status !== 'ready' && status !== 'wait') return Promise.reject(storageFailed(what, new MiroStorageError(`redis is ${status}`)))
    if (this.stalled && this.breaker) return this.probe(what, command, map)
    return new Promise<R>((resolve, reject) => {
      const list = this.inFlight
      const entry: InFlight = { fail: reject, what, index: list.length, tick: this.tick }
      list.push(entry)
      if (this.sweeper === undefined) this.startSweeper()
      let pending: Promise<T>
      try {
        pending = command()
      } catch (err) {
        if (untrack(this.inFlight, entry)) reject(storageFailed(what, redisError(what, err)))
        return
      }
      pending.then((answer) => {
        if (this.stalled) this.stalled = false // Redis answers again
        // Already failed (timed out, or the connection closed): a late answer changes nothing.
        if (!untrack(this.inFlight, entry)) return
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
        if (untrack(this.inFlight, entry)) reject(storageFailed(what, redisError(what, err)))
      })
    })
  }

  /** While stalled: this command goes alone; Redis answering anything (a value, an error reply) ends the stall. */
  private probe<T, R> (what: string, command: () => Promise<T>, map?: (answer: T) => R | PromiseLike<R>): Promise<R> {
    if (this.probing) return Promise.reject(storageFailed(what, new MiroStorageError(`redis did not answer within ${this.timeoutMs} ms and has not answered since`)))
    this.probing = true
    this.stalled = false
    const sent = this.send(what, command, map)
    this.stalled = true
    sent.then(() => { this.stalled = false }, (err: unknown) => { if (!timedOut.has(err as Error)) this.stalled = false })
      .finally(() => { this.probing = false })
      .catch(() => {})
    return sent
  }

  private timeoutMessage (what: string): string {
    const recent = this.nodeError !== undefined && Date.now() - this.nodeError.at < 2 * this.timeoutMs
    return `${what} did not answer within ${this.timeoutMs} ms` + (recent ? ` (a Cluster node failed: ${this.nodeError?.cause})` : '')
  }

  private startSweeper (): void {
    this.sweeper = setInterval(() => { this.sweep() }, this.tickMs)
    this.sweeper.unref() // ioredis's socket keeps the process alive while it matters
  }

  private stopSweeper (): void {
    if (this.sweeper === undefined) return
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  private sweep (): void {
    const now = ++this.tick
    const list = this.inFlight
    for (let i = 0; i < list.length;) {
      const entry = list[i] as InFlight
      if (now - entry.tick > this.maxAge) {
        this.stalled = true
        untrack(list, entry) // the last entry moves to i: look at i again
        const err = new MiroStorageError(this.timeoutMessage(entry.what))
        timedOut.add(err)
        entry.fail(storageFailed(entry.what, err))
      } else {
        i++
      }
    }
    if (list.length === 0) this.stopSweeper()
  }
}

/**
 * O(1): the last entry takes the leaving one's place. False when the entry had already left
 * (timed out, or dropped with the whole list on 'close'), so each entry leaves exactly once.
 */
function untrack (list: InFlight[], entry: InFlight): boolean {
  const index = entry.index
  if (index === GONE) return false
  const last = list.pop() as InFlight
  if (last !== entry) {
    list[index] = last
    last.index = index
  }
  entry.index = GONE
  return true
}

/**
 * The refresh lock as a lease: taken for `leaseMs`, renewed by its holder while it works, so a
 * dead holder blocks others for one lease at most. Redis writes the expiry into its AOF as an
 * absolute time (SET … PXAT, PEXPIREAT), so a lock restored after a restart still runs out at
 * its original time (test/redis-lock.test.ts reads the file).
 */
export function createRedisLock (commands: RedisCommands, client: RedisClient, keyPrefix: string): RefreshLock {
  return {
    async acquire (userId, leaseMs) {
      const token = randomUUID()
      const ok = await commands.send('redis lock', () => client.set(lockKey(keyPrefix, userId), token, 'PX', leaseMs, 'NX'))
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

/** The redis backend's store; `commands` for tests and diagnostics. */
export interface RedisTokenStore extends TokenStore {
  readonly commands: RedisCommands
  readonly lock: RefreshLock
}

/** `redis.waitReplicas` on a client that can run WAIT on the connection that wrote the key. */
function replicaAcks (commands: RedisCommands, client: RedisClient, opts: RedisStoreOptions): ReplicaAcks | undefined {
  const { waitReplicas } = opts
  if (waitReplicas === undefined) return undefined
  const waitTimeout = opts.waitTimeout ?? Math.max(1, Math.min(DEFAULT_WAIT_TIMEOUT_MS, Math.floor(commands.timeoutMs / 2)))
  // ioredis sends a keyless command such as WAIT to any node of a Cluster, not to the one that
  // took the write, whose replicas are the ones that count.
  if ((client as { isCluster?: boolean }).isCluster === true) {
    throw new MiroOptionsError('options.redis.waitReplicas is not supported on a Redis Cluster client (WAIT would not reach the node that took the write): remove it, or use a single master with replicas under Sentinel')
  }
  const wait = client.wait
  if (typeof wait !== 'function') throw new MiroOptionsError('options.redis.waitReplicas needs a client with wait(numReplicas, timeout), such as ioredis: remove it or give @fastify/redis an ioredis client')
  return new ReplicaAcks(commands, (n, ms) => wait.call(client, n, ms), waitReplicas, waitTimeout)
}

/** Default of `redis.waitTimeout` (at most half of storageTimeout), in ms: a replica on the same network acknowledges within a few. */
export const DEFAULT_WAIT_TIMEOUT_MS = 100

/** Attempts of `replace` whose compare succeeded in Node but whose raw value changed in Redis. */
const REPLACE_ATTEMPTS = 4

export function createRedisStore (
  client: RedisClient, opts: RedisStoreOptions, log: StoreLogger, codec: StateCodec = jsonCodec, timeoutMs = DEFAULT_STORAGE_TIMEOUT_MS
): RedisTokenStore {
  const { keyPrefix, ttl } = opts
  const commands = new RedisCommands(client, timeoutMs)
  const acks = replicaAcks(commands, client, opts)
  const read = (raw: string | null, userId: UserKey): MiroTokenState | undefined =>
    raw === null ? undefined : codec.decode(raw, userId, 'redis', log)
  // Seconds; undefined: no expiry. A plain SET also drops an expiry left by an earlier state that had a refresh token.
  const expiryOf = (state: MiroTokenState): number | undefined => stateExpirySeconds(state, ttl)
  // A state still under its untagged 0.1 key is read there, and copied to its tagged key (with
  // the time it had left) before a compare-and-set, which works on the tagged key alone: two
  // keys in different slots can never be compared and written in one step on a Cluster.
  const readLegacy = (userId: UserKey): Promise<string | null> =>
    commands.send('redis get', () => client.get(legacyTokenKey(keyPrefix, userId)))
  const dropLegacy = (userId: UserKey): Promise<unknown> =>
    commands.send('redis del', () => client.del(legacyTokenKey(keyPrefix, userId)))
  // A write that cannot know whether a 0.1 key is left (that would take a read) deletes it
  // alongside: two keys in different slots, so not one MULTI on a Cluster, but one round trip
  // of latency; either failing fails the write. During a stall's probe only one command may be
  // in flight: then one after the other, as the probe's answer ends the stall.
  const withDropLegacy = async (userId: UserKey, write: () => Promise<unknown>): Promise<void> => {
    if (commands.oneAtATime) {
      await write()
      await dropLegacy(userId)
      return
    }
    await Promise.all([write(), dropLegacy(userId)])
  }
  // undefined: no 0.1 key; else the tagged key's value once copied.
  const moveLegacy = async (userId: UserKey, key: string): Promise<string | null | undefined> => {
    const raw = await readLegacy(userId)
    if (raw === null) return undefined
    const ms = await commands.send('redis pttl', () => client.pttl(legacyTokenKey(keyPrefix, userId)))
    await commands.send('redis set', () => ms > 0 ? client.set(key, raw, 'PX', ms, 'NX') : client.set(key, raw, 'NX'))
    return await commands.send('redis get', () => client.get(key)) // this copy, or one another instance made first
  }
  // A missing key may still be under its 0.1 name: read there. The state is decoded in the
  // command's own callback (one promise fewer per read than awaiting the raw value).
  const get = (userId: UserKey): Promise<MiroTokenState | undefined> => {
    if (!hasUserId(userId)) return Promise.resolve(undefined)
    const key = tokenKey(keyPrefix, userId)
    return commands.send('redis get', () => client.get(key),
      (raw) => raw === null ? readLegacy(userId).then((old) => read(old, userId)) : read(raw, userId))
  }
  return {
    commands,
    lock: createRedisLock(commands, client, keyPrefix),
    flightKey: (userId: UserKey) => tokenKey(keyPrefix, userId),
    get,
    async set (userId, state) {
      if (state === undefined && !hasUserId(userId)) return // nothing is stored without an id
      const key = tokenKey(keyPrefix, requireUserId(userId))
      if (state === undefined) {
        await withDropLegacy(userId, () => commands.send('redis del', () => client.del(key)))
        return
      }
      const seconds = expiryOf(state)
      const value = codec.encode(state, userId) as string
      const connection = commands.connection
      await withDropLegacy(userId, () => commands.send('redis set', () => seconds === undefined ? client.set(key, value) : client.set(key, value, 'EX', seconds)))
      // A login (or setState): stored on the master either way. Failing it now would not
      // unwrite it, and would spend the user's code for nothing: a warning says what is at risk.
      if (acks !== undefined) {
        await acks.acknowledged(connection).catch((err: Error) => {
          log.warn({ reason: err.message }, 'fastify-miro: a stored Miro token state was not acknowledged by redis.waitReplicas replicas: a failover now can lose it')
        })
      }
    },
    // The codec may seal (a random IV per write), so the access token is compared in Node on the
    // decoded state, and the script writes only if the key still holds the very bytes read.
    async replace (userId, expected, next) {
      if (!hasUserId(userId)) return { replaced: false, current: undefined }
      const key = tokenKey(keyPrefix, userId)
      const seconds = next === undefined ? undefined : expiryOf(next)
      const write = next === undefined ? ['del', '', ''] : ['set', codec.encode(next, userId) as string, seconds === undefined ? '' : String(seconds)]
      let raw = await commands.send('redis get', () => client.get(key))
      // Only a key this call moved can still be there (0.1 instances alongside are not supported).
      let moved = false
      if (raw === null) {
        const copied = await moveLegacy(userId, key)
        moved = copied !== undefined
        raw = copied ?? null
      }
      for (let attempt = 1; ; attempt++) {
        const current = read(raw, userId)
        if (acks !== undefined && next !== undefined && current !== undefined && current.accessToken === next.accessToken && expected !== next.accessToken) {
          if (attempt > REPLACE_ATTEMPTS) throw new MiroStorageError('redis replace: the stored state kept changing')
          // Written by an earlier attempt whose replicas came up short (the journal's retry):
          // the same bytes written again, so that a WAIT on this connection covers them.
          const same = raw as string
          const connection = commands.connection
          const answer = await commands.send('redis replace', () => client.eval(REPLACE_SCRIPT, 1, key, same, 'set', same, write[2] as string))
          if (typeof answer === 'number') {
            await acks.acknowledged(connection)
            return { replaced: false, current }
          }
          raw = answer as string | null
          continue
        }
        if (current?.accessToken !== expected) return { replaced: false, current }
        // The same access token under new bytes each time (e.g. the same state written again, sealed anew).
        if (attempt > REPLACE_ATTEMPTS) throw new MiroStorageError('redis replace: the stored state kept changing')
        const seen = raw as string // current is defined, so something was read
        const connection = commands.connection
        const answer = await commands.send('redis replace', () => client.eval(REPLACE_SCRIPT, 1, key, seen, ...write))
        if (typeof answer === 'number') {
          // Not for a delete: a lost delete leaves a pair that was revoked at Miro anyway.
          // Short: the replace rejects, so a refresh keeps its pair in the pending-write journal.
          if (acks !== undefined && next !== undefined) await acks.acknowledged(connection)
          if (moved) await dropLegacy(userId)
          return { replaced: true }
        }
        raw = answer as string | null // the value that was there instead
      }
    }
  }
}
