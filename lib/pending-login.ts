// A login between the redirect to Miro and the callback: its `state` and `returnTo`. Kept in
// the session when there is one, otherwise in a signed, httpOnly, SameSite=Lax cookie sent only
// to the callback path. Taking it removes it: a state works once.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sessionOf } from './storage/session'

export interface PendingLogin {
  state: string
  returnTo?: string
  /** Epoch milliseconds. */
  expiresAt: number
}

export interface PendingLoginStore {
  save (request: FastifyRequest, reply: FastifyReply, login: PendingLogin): void
  take (request: FastifyRequest, reply: FastifyReply): PendingLogin | undefined
}

/** Miro's authorization codes live 10 minutes; a login taking longer starts again. */
export const LOGIN_LIFE_MS = 10 * 60 * 1000

function checked (value: unknown): PendingLogin | undefined {
  const v = value as Partial<PendingLogin> | null | undefined
  if (typeof v !== 'object' || v === null || typeof v.state !== 'string' || typeof v.expiresAt !== 'number') return undefined
  if (v.returnTo !== undefined && typeof v.returnTo !== 'string') return undefined
  return v as PendingLogin
}

export function sessionPendingLogins (sessionKey: string): PendingLoginStore {
  const key = sessionKey + 'Login'
  return {
    save (request, _reply, login) {
      sessionOf(request)?.set(key, login)
    },
    take (request) {
      const session = sessionOf(request)
      if (!session) return undefined
      const login = checked(session.get(key))
      if (session.get(key) !== undefined) session.set(key, undefined)
      return login
    }
  }
}

interface CookieReply {
  setCookie (name: string, value: string, options: Record<string, unknown>): unknown
  clearCookie (name: string, options: Record<string, unknown>): unknown
}
interface CookieRequest {
  cookies?: Record<string, string | undefined>
  unsignCookie (value: string): { valid: boolean, value: string | null }
}

export function cookiePendingLogins (cookieName: string, callbackPath: string): PendingLoginStore {
  const options = { path: callbackPath, httpOnly: true, sameSite: 'lax', secure: 'auto', signed: true }
  return {
    save (_request, reply, login) {
      (reply as unknown as CookieReply).setCookie(cookieName, JSON.stringify(login), { ...options, maxAge: LOGIN_LIFE_MS / 1000 })
    },
    take (request, reply) {
      const req = request as unknown as CookieRequest
      const raw = req.cookies?.[cookieName]
      if (raw === undefined) return undefined
      ;(reply as unknown as CookieReply).clearCookie(cookieName, { path: callbackPath })
      const unsigned = req.unsignCookie(raw)
      if (!unsigned.valid || unsigned.value === null) return undefined
      try {
        return checked(JSON.parse(unsigned.value))
      } catch {
        return undefined
      }
    }
  }
}
