// A login between the redirect to Miro and the callback: its `state`, `returnTo` and PKCE
// verifier, in a cookie of its own, sealed (AES-256-GCM, a key derived from the client secret),
// httpOnly, SameSite=Lax, `__Host-` on https. Nothing is stored on the server before the
// callback, so a login that never comes back costs the server nothing.
// One cookie per login, named after its state: a browser can have a few logins pending (two
// tabs), the callback finds the one its `state` names, and a callback with another state (or
// a forged `?error=`) touches none of them.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { safeEqual } from './crypto'

export interface PendingLogin {
  state: string
  returnTo?: string
  /** PKCE code_verifier (RFC 7636), with `pkce: true`. */
  verifier?: string
  /** Epoch milliseconds. */
  expiresAt: number
}

export interface PendingLogins {
  /** Sets the login's cookie; the oldest pending logins beyond MAX_PENDING are dropped. */
  save (request: FastifyRequest, reply: FastifyReply, login: PendingLogin): void
  /** The unexpired login this browser started with `state`, or undefined. Changes nothing. */
  find (request: FastifyRequest, state: string | undefined): PendingLogin | undefined
  /** Clears the login's cookie. */
  clear (reply: FastifyReply, login: PendingLogin): void
}

/** Miro's authorization codes live 10 minutes; a login taking longer starts again. */
export const LOGIN_LIFE_MS = 10 * 60 * 1000
/** Logins one browser may have pending at once (tabs); a new one beyond that drops the oldest. */
export const MAX_PENDING = 4

interface CookieReply {
  setCookie (name: string, value: string, options: Record<string, unknown>): unknown
  clearCookie (name: string, options: Record<string, unknown>): unknown
}
const cookiesOf = (request: FastifyRequest): Record<string, string | undefined> =>
  (request as FastifyRequest & { cookies?: Record<string, string | undefined> }).cookies ?? {}

/** The id of a state in its cookie's name: a hash, so the name does not give the state away. */
const stateId = (state: string): string => createHash('sha256').update(state).digest().subarray(0, 9).toString('base64url')

function checked (value: unknown): PendingLogin | undefined {
  const v = value as Partial<PendingLogin> | null | undefined
  if (typeof v !== 'object' || v === null || typeof v.state !== 'string' || typeof v.expiresAt !== 'number') return undefined
  if (v.returnTo !== undefined && typeof v.returnTo !== 'string') return undefined
  if (v.verifier !== undefined && typeof v.verifier !== 'string') return undefined
  return v as PendingLogin
}

/**
 * `secure`: the app is served on https (its redirectUrl), so the cookies are `__Host-` ones:
 * Secure, Path=/ and no Domain, which a sibling subdomain or an http page cannot set or overwrite.
 */
export function cookiePendingLogins (clientSecret: string, secure: boolean): PendingLogins {
  const prefix = (secure ? '__Host-' : '') + 'fastify-miro-login.'
  // Path=/ also on http: the login route sees the pending logins it has to bound.
  const attributes = { path: '/', httpOnly: true, sameSite: 'lax', secure }
  const key = createHmac('sha256', clientSecret).update('fastify-miro pending login cookie v1').digest()

  const seal = (name: string, login: PendingLogin): string => {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(name))
    const sealed = Buffer.concat([cipher.update(JSON.stringify(login), 'utf8'), cipher.final()])
    return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')
  }
  const open = (name: string, value: string | undefined): PendingLogin | undefined => {
    if (value === undefined) return undefined
    try {
      const bytes = Buffer.from(value, 'base64url')
      if (bytes.length < 29) return undefined
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12), { authTagLength: 16 })
      decipher.setAAD(Buffer.from(name))
      decipher.setAuthTag(bytes.subarray(bytes.length - 16))
      const plain = Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()])
      return checked(JSON.parse(plain.toString('utf8')))
    } catch {
      return undefined // forged, truncated, or sealed with another client secret
    }
  }
  const clearName = (reply: FastifyReply, name: string): void => {
    (reply as unknown as CookieReply).clearCookie(name, attributes)
  }

  return {
    save (request, reply, login) {
      const cookies = cookiesOf(request)
      const pending = Object.keys(cookies).filter((name) => name.startsWith(prefix))
        .map((name) => ({ name, expiresAt: open(name, cookies[name])?.expiresAt ?? 0 }))
        .sort((a, b) => a.expiresAt - b.expiresAt)
      for (const old of pending.slice(0, Math.max(0, pending.length - (MAX_PENDING - 1)))) clearName(reply, old.name)
      const name = prefix + stateId(login.state)
      ;(reply as unknown as CookieReply).setCookie(name, seal(name, login), { ...attributes, maxAge: Math.floor(LOGIN_LIFE_MS / 1000) })
    },
    find (request, state) {
      if (state === undefined || state === '') return undefined
      const name = prefix + stateId(state)
      const login = open(name, cookiesOf(request)[name])
      return login !== undefined && login.expiresAt > Date.now() && safeEqual(state, login.state) ? login : undefined
    },
    clear (reply, login) {
      clearName(reply, prefix + stateId(login.state))
    }
  }
}
