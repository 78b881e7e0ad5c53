// Token state inside the @fastify/session session, as one compact line (see codec.ts).
// `request.session` is read on every call, never captured: regenerate() replaces it and
// destroy() removes it.
import type { FastifyRequest } from 'fastify'
import { MiroStorageError } from '../errors'
import { compactCodec, type StateCodec } from './codec'
import type { MiroTokenState } from '../state'
import { replaceByReadThenWrite } from './guard'
import type { ReplaceResult, StoreLogger, TokenStore, UserKey } from './types'

/** What this file needs of @fastify/session's session (it stays an optional peer). */
export interface SessionLike {
  readonly sessionId: string
  get (key: string): unknown
  set (key: string, value: unknown): void
}

export function sessionOf (request: FastifyRequest): SessionLike | null | undefined {
  return (request as FastifyRequest & { session?: SessionLike | null }).session
}

// A class, not closures: one is made per request that reads request.miro, so keep it to one object.
class SessionTokenStore implements TokenStore {
  constructor (
    private readonly request: FastifyRequest,
    private readonly sessionKey: string,
    private readonly log: StoreLogger,
    private readonly codec: StateCodec
  ) {}

  replace (userId: UserKey, expected: string, next: MiroTokenState | undefined): Promise<ReplaceResult> {
    return replaceByReadThenWrite(this, userId, expected, next)
  }

  flightKey (): string {
    return 'session:' + (sessionOf(this.request)?.sessionId ?? '')
  }

  async get (userId: UserKey): Promise<MiroTokenState | undefined> {
    const session = sessionOf(this.request)
    if (!session) return undefined
    return this.codec.decode(session.get(this.sessionKey), userId, 'session', this.log)
  }

  async set (userId: UserKey, state: MiroTokenState | undefined): Promise<void> {
    const session = sessionOf(this.request)
    if (!session) throw new MiroStorageError('this request has no session (was it destroyed?)')
    session.set(this.sessionKey, state === undefined ? undefined : this.codec.encode(state, userId))
  }
}

export function createSessionStore (request: FastifyRequest, sessionKey: string, log: StoreLogger, codec: StateCodec = compactCodec): TokenStore {
  return new SessionTokenStore(request, sessionKey, log, codec)
}
