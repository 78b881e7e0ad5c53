// The session backend. The token state is a record of its own in the session store
// (`request.sessionStore`); the session holds only a pointer to it under `sessionKey`.
// @fastify/session saves the whole session on every response, so a request that loaded the
// session before a refresh and answers after it writes its copy back: were the tokens in the
// session, that copy's refresh token (already rotated by Miro) would replace the new pair and
// log the user out at the next refresh. The pointer does not change while the user stays
// logged in, so a stale save writes back the same pointer; refreshes write only the record.
// `request.session` is read on every call, never captured: regenerate() replaces it and
// destroy() removes it.
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { MiroStorageError } from '../errors'
import type { SessionStoreLike } from '../session-store'
import type { MiroTokenState } from '../state'
import { compactCodec, type StateCodec } from './codec'
import { storageCall } from './guard'
import type { ReplaceResult, StoreLogger, TokenStore, UserKey } from './types'

/** What this file needs of @fastify/session's session (it stays an optional peer). */
export interface SessionLike {
  readonly sessionId: string
  readonly cookie?: { readonly expires?: Date | null }
  get (key: string): unknown
  set (key: string, value: unknown): void
}

export function sessionOf (request: FastifyRequest): SessionLike | null | undefined {
  return (request as FastifyRequest & { session?: SessionLike | null }).session
}

const sessionStoreOf = (request: FastifyRequest): SessionStoreLike | undefined =>
  (request as FastifyRequest & { sessionStore?: SessionStoreLike }).sessionStore

/** How the states of one plugin are written: set up once, shared by every request. */
export interface SessionRecordOptions {
  sessionKey: string
  /** Encodes the record's state, bound to the record's store id when sealing. */
  codec?: StateCodec
  /** Reads a state an earlier version kept in the session itself (sealed unbound). */
  legacyCodec?: StateCodec
  /** Time limit of one session-store call, in ms (options.storageTimeout). */
  timeoutMs?: number
}

// The session's value: `r1 <record id>`, the id 128 random bits in base64url.
const POINTER_TAG = 'r1 '
const RECORD_ID = /^[A-Za-z0-9_-]{22}$/
const newRecordId = (): string => randomBytes(16).toString('base64url')

/**
 * The record a session written by an earlier version (its state in the session itself) moves
 * into: derived from the session id, so that when a stale save puts the old state back over
 * the pointer, the record is still found (and wins) instead of the old, rotated tokens.
 */
const legacyRecordId = (sessionId: string): string =>
  createHash('sha256').update('fastify-miro session record\0' + sessionId).digest().subarray(0, 16).toString('base64url')

/**
 * What a record's state is bound to when sealed: the record and the session that points to it,
 * so neither a sealed value copied to another record nor a pointer copied into another session
 * opens. Records sealed by 0.x versions, bound to the record alone, still open
 * (sealedForRecord) and are bound to the session on their next write.
 */
const sealedFor = (storeId: string, session: SessionLike): string => `${storeId}\0session:${session.sessionId}`

/** The record part of sealedFor: what records written before the session binding are bound to. */
export const sealedForRecord = (bound: UserKey): UserKey => typeof bound === 'string' ? bound.split('\0', 1)[0] as string : bound

function pointedId (value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith(POINTER_TAG)) return undefined
  const id = value.slice(POINTER_TAG.length)
  return RECORD_ID.test(id) ? id : undefined
}

// A record's life: Miro's refresh tokens live 60 days and every refresh rewrites the record;
// a session cookie that lives longer (at the time of the write) keeps it that long.
const RECORD_LIFE_MS = 60 * 24 * 60 * 60 * 1000

// Records are shaped like sessions, so a store gives them a TTL the way it does sessions
// (connect-redis and most others read `cookie.expires`; @fastify/session's MemoryStore
// expires nothing, so reads check `expires` themselves).
interface TokenRecord {
  cookie: { expires: Date | string, originalMaxAge: number }
  [key: string]: unknown
}

function expired (record: Partial<TokenRecord>): boolean {
  const expires = record.cookie?.expires
  if (expires === undefined || expires === null) return false
  return !(new Date(expires).getTime() > Date.now())
}

type Done<T> = (err?: unknown, value?: T) => void

// Compare-and-set on a record is a read then a write. Within this process the steps on one
// record run one after the other (a promise chain per record id, for every plugin instance),
// so `replace` is atomic here; across processes sharing a session store it is read-then-write.
const chains = new Map<string, Promise<unknown>>()

function serialized<T> (recordId: string, step: () => Promise<T>): Promise<T> {
  const before = chains.get(recordId)
  const run = before === undefined ? step() : before.then(step, step)
  const tail = run.catch(() => {})
  chains.set(recordId, tail)
  tail.then(() => { if (chains.get(recordId) === tail) chains.delete(recordId) })
  return run
}

/** Where a session's state is: the record it points to, or for a legacy session the one it moves into. */
interface Target { recordId: string, pointer: boolean, legacy: unknown }

// A class, not closures: one is made per request that reads request.miro, so keep it to one object.
class SessionTokenStore implements TokenStore {
  constructor (
    private readonly request: FastifyRequest,
    private readonly options: Required<SessionRecordOptions>,
    private readonly log: StoreLogger
  ) {}

  flightKey (): string {
    const session = sessionOf(this.request)
    if (!session) return 'session:'
    return 'session:' + (this.target(session)?.recordId ?? session.sessionId)
  }

  async get (): Promise<MiroTokenState | undefined> {
    const session = sessionOf(this.request)
    if (!session) return undefined
    const target = this.target(session)
    return target && this.read(session, target)
  }

  async set (_userId: UserKey, state: MiroTokenState | undefined): Promise<void> {
    const session = this.liveSession()
    const target = this.target(session)
    if (state === undefined) {
      if (target) await serialized(target.recordId, () => this.write(session, target.recordId, undefined))
      session.set(this.options.sessionKey, undefined) // also clears the state of a legacy session
      return
    }
    const recordId = target?.recordId ?? newRecordId()
    await serialized(recordId, () => this.write(session, recordId, state))
  }

  async replace (_userId: UserKey, expected: string, next: MiroTokenState | undefined): Promise<ReplaceResult> {
    const session = sessionOf(this.request)
    const target = session ? this.target(session) : undefined
    if (!session || !target) return { replaced: false, current: undefined }
    return serialized(target.recordId, async () => {
      const current = await this.read(session, target)
      if (current?.accessToken !== expected) return { replaced: false, current }
      await this.write(session, target.recordId, next)
      if (next === undefined) session.set(this.options.sessionKey, undefined)
      return { replaced: true }
    })
  }

  private liveSession (): SessionLike {
    const session = sessionOf(this.request)
    if (!session) throw new MiroStorageError('this request has no session (was it destroyed?)')
    return session
  }

  private target (session: SessionLike): Target | undefined {
    const value = session.get(this.options.sessionKey)
    if (value === undefined || value === null) return undefined
    const recordId = pointedId(value)
    if (recordId !== undefined) return { recordId, pointer: true, legacy: undefined }
    return { recordId: legacyRecordId(session.sessionId), pointer: false, legacy: value }
  }

  private storeId (recordId: string): string {
    // ':' never appears in the ids @fastify/session makes (base64url), so no session has this id.
    return `${this.options.sessionKey}-token:${recordId}`
  }

  private async read (session: SessionLike, target: Target): Promise<MiroTokenState | undefined> {
    const id = this.storeId(target.recordId)
    const record = await storageCall('session store get', () => this.call<unknown>((done) => this.store().get(id, done), true), this.options.timeoutMs)
    if (typeof record === 'object' && record !== null) {
      const fields = record as Partial<TokenRecord>
      return expired(fields) ? undefined : this.options.codec.decode(fields[this.options.sessionKey], sealedFor(id, session), 'session', this.log)
    }
    if (record !== undefined && record !== null) return this.options.codec.decode(record, id, 'session', this.log) // not a record: refused with a warning
    // No record (yet) for a legacy session: its state is still the one in the session.
    return target.pointer ? undefined : this.options.legacyCodec.decode(target.legacy, id, 'session', this.log)
  }

  /** Writes the record (or destroys it) and points the session at it. */
  private async write (session: SessionLike, recordId: string, state: MiroTokenState | undefined): Promise<void> {
    const id = this.storeId(recordId)
    if (state === undefined) {
      await storageCall('session store destroy', () => this.call((done) => this.store().destroy(id, done)), this.options.timeoutMs)
      return
    }
    const cookieExpires = session.cookie?.expires instanceof Date ? session.cookie.expires.getTime() : 0
    const lifeMs = Math.max(RECORD_LIFE_MS, cookieExpires - Date.now())
    const record: TokenRecord = {
      cookie: { expires: new Date(Date.now() + lifeMs), originalMaxAge: lifeMs },
      [this.options.sessionKey]: this.options.codec.encode(state, sealedFor(id, session))
    }
    await storageCall('session store set', () => this.call((done) => this.store().set(id, record, done)), this.options.timeoutMs)
    const pointer = POINTER_TAG + recordId
    if (session.get(this.options.sessionKey) !== pointer) session.set(this.options.sessionKey, pointer)
  }

  private store (): SessionStoreLike {
    const store = sessionStoreOf(this.request)
    if (!store) throw new MiroStorageError('this request has no session store (@fastify/session decorates request.sessionStore)')
    return store
  }

  /**
   * The callback API as a value, or a promise when the store calls back later; with
   * `missingIsEmpty`, ENOENT is "no such record". A store that calls back at once (the
   * MemoryStore) costs no promise and no time-limit timer (see storageCall).
   */
  private call<T> (run: (done: Done<T>) => void, missingIsEmpty = false): T | undefined | Promise<T | undefined> {
    let later: { resolve: (value: T | undefined) => void, reject: (err: unknown) => void } | undefined
    let now: { err: unknown, value: T | undefined } | undefined
    run((err, value) => {
      const failed = err && !(missingIsEmpty && (err as { code?: unknown }).code === 'ENOENT')
      const outcome = { err: failed ? err : undefined, value: err ? undefined : value }
      if (later === undefined) now = outcome
      else if (outcome.err) later.reject(outcome.err)
      else later.resolve(outcome.value)
    })
    if (now !== undefined) {
      if (now.err) throw now.err
      return now.value
    }
    return new Promise((resolve, reject) => { later = { resolve, reject } })
  }
}

/** Makes the store of each request; everything but the request is shared. */
export function sessionStoreFactory (options: SessionRecordOptions): (request: FastifyRequest) => TokenStore {
  const shared: Required<SessionRecordOptions> = {
    sessionKey: options.sessionKey,
    codec: options.codec ?? compactCodec,
    legacyCodec: options.legacyCodec ?? compactCodec,
    timeoutMs: options.timeoutMs ?? 1500
  }
  return (request) => new SessionTokenStore(request, shared, request.log)
}
