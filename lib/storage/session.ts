// Token state inside the @fastify/session session. `request.session` is read on every call,
// never captured: regenerate() replaces it and destroy() removes it.
import type { FastifyRequest } from 'fastify'
import { MiroStorageError } from '../errors'
import { objectCodec, type StateCodec } from './codec'
import type { StoreLogger, TokenStore } from './types'

/** What this file needs of @fastify/session's session (it stays an optional peer). */
export interface SessionLike {
  readonly sessionId: string
  get (key: string): unknown
  set (key: string, value: unknown): void
}

export function sessionOf (request: FastifyRequest): SessionLike | null | undefined {
  return (request as FastifyRequest & { session?: SessionLike | null }).session
}

export function createSessionStore (request: FastifyRequest, sessionKey: string, log: StoreLogger, codec: StateCodec = objectCodec): TokenStore {
  return {
    requestLocal: true,
    flightKey: () => 'session:' + (sessionOf(request)?.sessionId ?? ''),
    async get (userId) {
      const session = sessionOf(request)
      if (!session) return undefined
      return codec.decode(session.get(sessionKey), userId, 'session', log)
    },
    async set (userId, state) {
      const session = sessionOf(request)
      if (!session) throw new MiroStorageError('this request has no session (was it destroyed?)')
      session.set(sessionKey, state === undefined ? undefined : codec.encode(state, userId))
    }
  }
}
