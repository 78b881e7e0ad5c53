// The login, callback and logout routes, and the guard for protected routes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomToken } from './crypto'
import {
  MiroAccessDeniedError, MiroCodeRejectedError, MiroCrossSiteError, MiroInvalidReturnToError, MiroInvalidStateError,
  MiroMissingCodeError, MiroNoUserIdError, MiroNotAuthorizedError, MiroOptionsError, MiroStorageError, MiroUnavailableError,
  describeCause
} from './errors'
import { revokeOrWarn, revokeReplaced } from './oauth'
import type { ResolvedOptions, ResolvedRoutes } from './options'
import { stateKey } from './identity'
import { LoginLedger, type LoginOutcome } from './login-ledger'
import { isCrossSite } from './logout-guard'
import { cookiePendingLogins, LOGIN_LIFE_MS, type PendingLogin, type PendingLogins } from './pending-login'
import { newVerifier, withChallenge } from './pkce'
import { runOnLogin } from './on-login'
import { safeReturnTo } from './return-to'
import { hasUserId } from './storage/guard'
import { sessionOf } from './storage/session'
import type { UsedLoginStates, UserKey } from './storage/types'

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** One value of a query parameter: a repeated parameter (an array) counts as none. */
function param (request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name]
  return typeof value === 'string' ? value : undefined
}

// The callback's URL holds the authorization code: log it without its query string.
const requestWithoutQuery = (request: FastifyRequest): Record<string, unknown> => ({
  method: request.method,
  url: request.url.split('?', 1)[0],
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort
})

function callbackError (error: string): Error {
  return error === 'access_denied' ? new MiroAccessDeniedError() : new MiroCodeRejectedError('the callback reported an error')
}

function withErrorCode (url: string, code: string): string {
  return url + (url.includes('?') ? '&' : '?') + 'error=' + encodeURIComponent(code)
}

/** Where a login waits for its callback: a cookie (lib/pending-login.ts), checked at register time. */
function pendingLogins (fastify: FastifyInstance, options: ResolvedOptions): PendingLogins {
  // Without a state check nothing is kept: the callback cannot tell which login it ends (returnTo is lost).
  if (!options.checkState) return { save () {}, find: () => undefined, clear () {} }
  if (!fastify.hasReplyDecorator('setCookie')) {
    throw new MiroOptionsError('the login routes keep the pending login in a cookie: register @fastify/cookie (or @fastify/cookie and @fastify/session) before fastify-miro (or set routes: false)')
  }
  return cookiePendingLogins(options.clientSecret, new URL(options.redirectUrl).protocol === 'https:')
}

type SessionControl = { regenerate?: () => Promise<void>, save?: () => Promise<void> } | null | undefined

async function sessionCall (request: FastifyRequest, method: 'regenerate' | 'save'): Promise<void> {
  const session = sessionOf(request) as SessionControl
  if (typeof session?.[method] !== 'function') return
  try {
    await session[method]()
  } catch (err) {
    throw new MiroStorageError(`session store: ${describeCause(err)}`)
  }
}

/**
 * The callback's work once the state checked out. Whom the tokens are for is known before the
 * code is spent (inside a board, Miro's answer names them); the user's earlier tokens are
 * replaced and revoked, not left live at Miro.
 */
async function exchangeAndStore (request: FastifyRequest, options: ResolvedOptions, code: string, verifier: string | undefined): Promise<void> {
  const miro = request.miro
  const inBoard = options.identity === 'idToken'
  const before = inBoard ? undefined : options.userId(request)
  if (!inBoard && !hasUserId(before)) throw new MiroNoUserIdError()
  let earlier = inBoard ? undefined : await miro.getState(before as UserKey)
  const state = await miro.exchangeCode(code, verifier)
  let key: UserKey | null | undefined
  if (inBoard) {
    // Inside a board the session does not name the user (other logins may live in it): the
    // tokens belong to the Miro team and user they were issued for.
    if (state.userId === '' || state.teamId === undefined) {
      await revokeOrWarn(options, state.accessToken, request.log, 'a login whose answer names no user or team')
      throw new MiroUnavailableError('code exchange', 'the answer names no user_id or team_id')
    }
    key = stateKey(state)
    earlier = await miro.getState(key)
  } else {
    // The earlier tokens go with the session they were stored for (a record or a key of it).
    if (earlier !== undefined) await miro.setState(before as UserKey, undefined)
    // A fresh session id after login: an id planted before it (session fixation) is worthless.
    await sessionCall(request, 'regenerate')
    key = options.userId(request)
    if (!hasUserId(key)) throw new MiroNoUserIdError()
  }
  await miro.setState(key, state)
  // Saved now, so @fastify/session sends the new cookie even when nothing else marks the
  // session as modified (tokens in Redis, saveUninitialized: false).
  await sessionCall(request, 'save')
  await revokeReplaced(options, earlier, state, request.log)
  await runOnLogin(options, request, key, state)
}

/**
 * The callback's answer: the login this browser started with the callback's `state`, used once.
 * A request that does not prove a state (a wrong or missing one, a forged `?error=`) uses up
 * nothing; a doubled callback of one login gets the first one's outcome (lib/login-ledger.ts).
 */
function callbackHandler (options: ResolvedOptions, routes: ResolvedRoutes, pending: PendingLogins, ledger: LoginLedger) {
  async function complete (request: FastifyRequest, login: PendingLogin | undefined, error: string | undefined): Promise<LoginOutcome> {
    if (error !== undefined) throw callbackError(error)
    const code = param(request, 'code')
    if (code === undefined || code === '') throw new MiroMissingCodeError()
    await exchangeAndStore(request, options, code, login?.verifier)
    // Tokens stored: redirect (with the session now logged in, for a doubled callback).
    return { location: login?.returnTo ?? routes.successRedirect, session: sessionOf(request) ?? undefined }
  }

  return async function callback (request: FastifyRequest, reply: FastifyReply): Promise<LoginOutcome> {
    const error = param(request, 'error')
    if (!options.checkState) return complete(request, undefined, error)
    const login = pending.find(request, param(request, 'state'))
    if (login === undefined) throw error === undefined ? new MiroInvalidStateError() : callbackError(error)
    const outcome = await ledger.once(login, param(request, 'code') ?? '', () => complete(request, login, error)).catch((err: unknown) => {
      // A storage error before the login was used (its claim): the cookie stays, so a retry works.
      if (!ledger.leftUnused(err)) pending.clear(reply, login)
      throw err
    })
    pending.clear(reply, login)
    if (outcome === undefined) throw new MiroInvalidStateError()
    // A doubled callback answers with the session the first one logged in: the browser may
    // have dropped the first answer (a reload), and with it the only cookie of that session.
    if (outcome.session !== undefined && outcome.session !== sessionOf(request)) {
      (request as unknown as { session: unknown }).session = outcome.session
    }
    return outcome
  }
}

/** `usedLogins`: the shared store's used login states (lib/login-ledger.ts), when it has them. */
export function registerRoutes (fastify: FastifyInstance, options: ResolvedOptions, routes: ResolvedRoutes, usedLogins?: UsedLoginStates): void {
  const pending = pendingLogins(fastify, options)
  if (!options.customUserId && !fastify.hasRequestDecorator('session')) {
    throw new MiroOptionsError('options.userId is required without @fastify/session: the routes need to know whom the tokens belong to')
  }
  if (!options.checkState) {
    fastify.log.warn('fastify-miro: options.state is false: the callback accepts logins this app did not start (no CSRF protection). Use it only for Miro\'s "use this URI for SDK authorization" flow')
  }

  fastify.get(routes.loginPath, async (request, reply) => {
    const asked = param(request, 'returnTo')
    const returnTo = asked === undefined ? undefined : safeReturnTo(asked)
    if (asked !== undefined && returnTo === undefined) throw new MiroInvalidReturnToError()
    if (!options.checkState) return reply.redirect(request.miro.getAuthUrl(), 302)
    const login: PendingLogin = { state: randomToken(), expiresAt: Date.now() + LOGIN_LIFE_MS }
    if (returnTo !== undefined) login.returnTo = returnTo
    let url = request.miro.getAuthUrl(login.state)
    if (options.pkce) {
      login.verifier = newVerifier()
      url = withChallenge(url, login.verifier)
    }
    pending.save(request, reply, login)
    return reply.redirect(url, 302)
  })

  // loginPath and logoutPath are relative to this plugin's context, as any Fastify route path;
  // the callback path comes from redirectUrl, so it is absolute: take the context's prefix off.
  const prefix = fastify.prefix
  if (prefix !== '' && !routes.callbackPath.startsWith(prefix + '/')) {
    throw new MiroOptionsError(`the callback path '${routes.callbackPath}' (the path of redirectUrl) is outside the prefix '${prefix}' fastify-miro is registered under: point redirectUrl under '${prefix}', or register fastify-miro without a prefix`)
  }
  const callback = callbackHandler(options, routes, pending, new LoginLedger(usedLogins))
  fastify.get(routes.callbackPath.slice(prefix.length), { logSerializers: { req: requestWithoutQuery } }, async (request, reply) => {
    try {
      const { location } = await callback(request, reply)
      return reply.redirect(location, 302)
    } catch (err) {
      const { statusCode, code } = err as { statusCode?: number, code?: string }
      if (routes.failureRedirect !== undefined && statusCode !== undefined && statusCode < 500 && code !== undefined) {
        request.log.info({ code }, 'fastify-miro: login refused')
        return reply.redirect(withErrorCode(routes.failureRedirect, code), 302)
      }
      throw err
    }
  })

  // Logout reads no body: accept whatever a form, fetch or beacon sends, in a child context so
  // the app's own content-type parsers stay as they are.
  const ownOrigin = new URL(options.redirectUrl).origin
  fastify.register(async function logoutRoute (child) {
    child.removeAllContentTypeParsers()
    child.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 8192 }, (_request, _body, done) => { done(null, undefined) })
    child.post(routes.logoutPath, async (request, reply) => {
      if (isCrossSite(request, ownOrigin, routes.trustedOrigins)) throw new MiroCrossSiteError()
      await request.miro.revokeToken(options.userId(request) as string)
      if (routes.logoutRedirect !== undefined) return reply.redirect(routes.logoutRedirect, 303)
      return reply.code(204).send()
    })
  })
}

const acceptsHtml = (request: FastifyRequest): boolean => (request.headers.accept ?? '').includes('text/html')

/**
 * A preHandler for routes that need a Miro login: browsers are sent to the login route (and
 * back here afterwards), API callers get 401 JSON with code FST_MIRO_NOT_AUTHORIZED.
 * With `identity: 'idToken'` it always answers 401 JSON: FST_MIRO_INVALID_ID_TOKEN when the id
 * token is refused, FST_MIRO_NOT_AUTHORIZED when the user has not authorized the app yet.
 * A storage or Miro outage is not a logout: it answers 503/502/504.
 */
export function createGuard (options: ResolvedOptions, prefix: string): Guard {
  const routes = options.routes
  return async function requireAuth (request, reply) {
    if (await request.miro.isAuthorized(options.userId(request) as string)) return
    if (routes !== false && options.identity !== 'idToken' && request.method === 'GET' && acceptsHtml(request)) {
      const returnTo = safeReturnTo(request.url)
      const target = prefix + routes.loginPath + (returnTo === undefined ? '' : '?returnTo=' + encodeURIComponent(returnTo))
      await reply.redirect(target, 302)
      return
    }
    throw new MiroNotAuthorizedError()
  }
}
