// Miro's token endpoints, called the way Miro documents them: credentials in the body (never
// the URL), a time limit on every call, and failures mapped to FST_MIRO_* errors whose
// messages carry no URL, token or secret.
import {
  MiroCodeRejectedError, MiroTimeoutError, MiroTokenRequestError, MiroTokenRevokedError,
  MiroUnavailableError, describeCause
} from './errors'
import { channels, logFields, traceContext, traced } from './diagnostics'
import { exactInteger } from './exact-ids'
import type { FastifyBaseLogger } from 'fastify'
import type { ResolvedOptions } from './options'
import type { MiroTokenState, TokenResponse } from './state'

export type TokenCall = 'code exchange' | 'token refresh' | 'token revoke'

type Endpoint = Pick<ResolvedOptions, 'clientId' | 'clientSecret' | 'tokenUrl' | 'revokeUrl' | 'httpTimeout'>

interface Answer { status: number, ok: boolean, body: unknown, text: string }

// One time limit covers connecting, the answer and its body.
async function call (ep: Endpoint, kind: TokenCall, url: string, init: RequestInit, timeoutMs = ep.httpTimeout): Promise<Answer> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: response.status, ok: response.ok, body, text }
  } catch (err) {
    const name = (err as Error | null)?.name
    if (name === 'TimeoutError' || name === 'AbortError') throw new MiroTimeoutError(kind, timeoutMs)
    throw new MiroUnavailableError(kind, describeCause(err))
  }
}

/** Miro's error code from an OAuth (`error`) or REST (`code`) error body, if it looks like one. */
function errorCodeOf (body: unknown): string | undefined {
  const b = body as { error?: unknown, code?: unknown } | undefined
  const code = typeof b?.error === 'string' ? b.error : b?.code
  return typeof code === 'string' && /^[a-zA-Z_.]{1,64}$/.test(code) ? code : undefined
}

function failure (kind: TokenCall, answer: Answer): Error {
  const code = errorCodeOf(answer.body)
  const what = `HTTP ${answer.status}${code ? ' ' + code : ''}`
  if (answer.status >= 500 || answer.status === 429) return new MiroUnavailableError(kind, what)
  if (code === 'invalid_grant') {
    return kind === 'token refresh' ? new MiroTokenRevokedError() : new MiroCodeRejectedError(what)
  }
  return new MiroTokenRequestError(kind, what)
}

/**
 * `POST /v1/oauth/token` with a form body; resolves to Miro's JSON answer. `timeoutMs`
 * (default httpTimeout): refreshes run longer than their requests wait (lib/refresh.ts).
 */
export async function requestToken (ep: Endpoint, kind: TokenCall, params: Record<string, string>, timeoutMs?: number): Promise<TokenResponse> {
  const body = new URLSearchParams(params)
  body.set('client_id', ep.clientId)
  body.set('client_secret', ep.clientSecret)
  const answer = await call(ep, kind, ep.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body
  }, timeoutMs)
  if (!answer.ok) throw failure(kind, answer)
  const token = answer.body as TokenResponse | undefined
  if (typeof token?.access_token !== 'string' || token.access_token === '') {
    throw new MiroUnavailableError(kind, 'the answer has no access_token')
  }
  return withExactIds(kind, token, answer.text)
}

/**
 * `user_id` and `team_id` as strings: as sent, or a number's exact digits read from the answer's
 * text (lib/exact-ids.ts); an id that cannot be kept exactly refuses the whole answer.
 */
function withExactIds (kind: TokenCall, token: TokenResponse, text: string): TokenResponse {
  const body = token as unknown as Record<string, unknown>
  for (const key of ['user_id', 'team_id']) {
    const value = body[key]
    if (value === undefined || value === null) {
      delete body[key]
    } else if (typeof value !== 'string') {
      const id = exactInteger(body, key, () => text)
      if (id === undefined) throw new MiroUnavailableError(kind, 'the answer has a user_id or team_id that is not an exact integer')
      body[key] = id
    }
  }
  return token
}

/** Miro's v2 revoke: the token travels in the JSON body, not in the URL as with v1. */
export async function revokeAccessToken (ep: Endpoint, accessToken: string): Promise<void> {
  const answer = await call(ep, 'token revoke', ep.revokeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ accessToken, clientId: ep.clientId, clientSecret: ep.clientSecret })
  })
  if (!answer.ok) throw failure('token revoke', answer)
}

/**
 * Revokes an access token, best effort: a failure is logged (its code only), never thrown.
 * Traced on `fastify-miro:revoke` with `what` as its reason and the ids of `state` when given.
 */
export async function revokeOrWarn (
  ep: Endpoint, accessToken: string, log: Pick<FastifyBaseLogger, 'warn' | 'info'>, what: string, state?: MiroTokenState, userKey?: string
): Promise<void> {
  const trace = traceContext('revoke', state, userKey)
  trace.reason = what
  try {
    await traced(channels.revoke, trace, () => revokeAccessToken(ep, accessToken))
    log.info(logFields(trace), 'fastify-miro: Miro tokens revoked')
  } catch (err) {
    log.warn({ code: (err as { code?: string }).code, what }, 'fastify-miro: Miro did not confirm the token revocation')
  }
}

/** After a login stored `current`: the tokens it replaced are revoked, not left live at Miro. */
export async function revokeReplaced (ep: Endpoint, earlier: MiroTokenState | undefined, current: MiroTokenState, log: Pick<FastifyBaseLogger, 'warn' | 'info'>): Promise<void> {
  if (earlier !== undefined && earlier.accessToken !== current.accessToken) {
    await revokeOrWarn(ep, earlier.accessToken, log, 'the tokens a new login replaced', earlier)
  }
}
