// The token side of OAuth: POST /v1/oauth/token, POST /v2/oauth/revoke, POST /v1/oauth/revoke,
// GET /v1/oauth-token.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { requireToken } from './auth'
import { formBody } from './authorize'
import { oauthErrorBody } from './http'
import { verifierError } from './pkce'
import { DIGITS, SCOPES, type Context, type Grant, type IssuedTokens } from './state'
import type { TokenCall } from './types'

interface Answer {
  status: number
  body: Record<string, unknown>
}

// RFC 6749: token responses must not be cached.
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

export async function token (ctx: Context, req: FastifyRequest, res: FastifyReply): Promise<FastifyReply> {
  const at = ctx.store.now()
  const query = new URL(req.url, 'http://sandbox').searchParams
  // Miro's docs put the parameters in the form body; the SDK sends them in the query string. Accept both.
  const params: Record<string, string> = {
    ...Object.fromEntries(query),
    ...formBody(req)
  }
  const fault = takeFault(ctx)
  if (fault?.delayMs) await sleep(ctx, fault.delayMs)
  const answer = fault?.status ? injected(fault.status) : exchange(ctx, params, req.headers.authorization)
  const ok = answer.status === 200
  const error = typeof answer.body.error === 'string' ? answer.body.error : undefined
  const call: TokenCall = {
    grantType: params.grant_type ?? '',
    ok,
    status: answer.status,
    ...(error === undefined ? {} : { error }),
    secretInQuery: query.has('client_secret'),
    at
  }
  ctx.tokenCalls.push(call)
  const text = ok && ctx.numericIds ? withBareIds(answer.body) : JSON.stringify(answer.body)
  if (fault?.answerDelayMs) {
    // Handled and recorded above: the tokens are issued and live, only the answer waits.
    call.lateAnswer = 'pending'
    await sleep(ctx, fault.answerDelayMs)
    if (res.raw.destroyed) {
      call.lateAnswer = 'lost'
      return res.hijack()
    }
    call.lateAnswer = 'sent'
  }
  return res.code(answer.status).headers(NO_STORE).type('application/json; charset=utf-8').send(text)
}

/**
 * POST /v2/oauth/revoke: the SDK's revokeTokenV2 sends JSON { accessToken, clientId, clientSecret }.
 * The spec declares 204 and 404 only, so every refusal (bad client, no token, no JSON) is a 404
 * (the route's error handler turns body errors into one too).
 */
export function revoke (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const at = ctx.store.now()
  const body = typeof req.body === 'object' && req.body !== null ? req.body as Record<string, unknown> : undefined
  const field = (name: string): string => typeof body?.[name] === 'string' ? body[name] : ''
  let answer: Answer | undefined
  if (!body) {
    answer = revokeRefusal('invalidBody', 'Request body must be a JSON object')
  } else if (!clientMatches(ctx, field('clientId'), field('clientSecret'))) {
    answer = revokeRefusal('invalid_client', 'Client authentication failed')
  } else if (!field('accessToken')) {
    answer = revokeRefusal('invalid_request', 'accessToken is required')
  }
  ctx.revokeCalls.push({ ok: !answer, at })
  if (answer) return res.code(answer.status).send(answer.body)
  // RFC 7009: an unknown token is not an error, the outcome (token unusable) is the same.
  ctx.store.revoke(field('accessToken'), ctx.clientId)
  return res.code(204).send()
}

function revokeRefusal (code: string, description: string): Answer {
  return { status: 404, body: { ...oauthErrorBody(404, code, description), code } }
}

/** Route error handler of POST /v2/oauth/revoke: a body that is not JSON is refused with a 404 too. */
export function revokeBodyError (_err: unknown, req: FastifyRequest, res: FastifyReply, ctx: Context): FastifyReply {
  ctx.revokeCalls.push({ ok: false, at: ctx.store.now() })
  const answer = revokeRefusal('invalidBody', 'Request body must be a JSON object')
  return res.code(answer.status).send(answer.body)
}

/**
 * POST /v1/oauth/revoke?access_token=…: what the SDK's Miro.revokeToken calls (deprecated by Miro:
 * the token travels in the URL). The token is its own credential; the spec answers 204 or 400.
 */
export function revokeV1 (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const at = ctx.store.now()
  const accessToken = new URL(req.url, 'http://sandbox').searchParams.get('access_token') ?? ''
  const ok = accessToken !== '' && ctx.store.revokeAccessToken(accessToken)
  ctx.revokeCalls.push({ ok, at })
  if (!ok) return res.code(400).send({ type: 'error', status: 400, code: 'invalidToken', message: 'Failed to revoke token: the access token is missing, unknown or no longer live' })
  return res.code(204).send()
}

/** GET /v1/oauth-token. The spec declares 400 (not 401) for a missing or bad token here. */
export function tokenInfo (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const { grant } = requireToken(ctx, req, 400)
  const user = ctx.store.findUser(grant.userId)
  const person = { id: grant.userId, name: user?.name ?? '', type: 'user' }
  return res.send({
    type: 'oauth_token',
    organization: { ...ctx.store.organization, type: 'organization' },
    team: { id: grant.teamId, name: ctx.store.teamName(grant.teamId), type: 'team' },
    user: person,
    scopes: SCOPES,
    createdBy: person
  })
}

function exchange (ctx: Context, params: Record<string, string>, authorization: string | undefined): Answer {
  const basic = parseBasic(authorization)
  const clientId = params.client_id ?? basic?.id ?? ''
  if (!clientMatches(ctx, clientId, params.client_secret ?? basic?.secret ?? '')) {
    return fail(401, 'invalid_client', 'Client authentication failed')
  }
  switch (params.grant_type) {
    case 'authorization_code': return codeGrant(ctx, params)
    case 'refresh_token': return refreshGrant(ctx, params)
    case undefined:
    case '': return fail(400, 'invalid_request', 'grant_type is required')
    default: return fail(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token')
  }
}

function codeGrant (ctx: Context, params: Record<string, string>): Answer {
  if (!params.code) return fail(400, 'invalid_request', 'code is required')
  const pending = ctx.store.codes.get(params.code)
  // Checked before consuming, so a mismatched attempt does not burn the code.
  if (pending && !pending.used && pending.redirectUri !== params.redirect_uri) {
    return fail(400, 'invalid_grant', 'redirect_uri does not match the one of the authorization request')
  }
  const pkceError = pending && !pending.used ? verifierError(pending, params.code_verifier) : undefined
  if (pkceError !== undefined) return fail(400, 'invalid_grant', pkceError)
  const record = ctx.store.consumeCode(params.code, ctx.clientId)
  const user = record && ctx.store.findUser(record.userId)
  if (!user) return fail(400, 'invalid_grant', 'The authorization code is invalid, expired or already used')
  const grant = ctx.store.createGrant(user, ctx.clientId)
  return { status: 200, body: tokenBody(ctx, grant, ctx.store.issueTokens(grant, ctx.expiresIn)) }
}

function refreshGrant (ctx: Context, params: Record<string, string>): Answer {
  if (!params.refresh_token) return fail(400, 'invalid_request', 'refresh_token is required')
  const record = ctx.store.consumeRefreshToken(params.refresh_token, ctx.clientId)
  if (!record) return fail(400, 'invalid_grant', 'The refresh token is invalid, expired, revoked or already used')
  // Rotation: a new pair for the same grant. Old access tokens live on until they expire.
  return { status: 200, body: tokenBody(ctx, record.grant, ctx.store.issueTokens(record.grant, ctx.expiresIn)) }
}

function tokenBody (ctx: Context, grant: Grant, tokens: IssuedTokens): Record<string, unknown> {
  return {
    access_token: tokens.accessToken,
    ...(tokens.refreshToken === undefined ? {} : { refresh_token: tokens.refreshToken, expires_in: ctx.expiresIn }),
    token_type: 'bearer',
    scope: SCOPES.join(' '),
    user_id: grant.userId,
    team_id: grant.teamId
  }
}

/**
 * numericIds: `user_id` and `team_id` as bare JSON numbers, written by hand: JSON.stringify of a
 * Number would round 19-digit ids, and the digit strings are exact.
 */
function withBareIds (body: Record<string, unknown>): string {
  const { user_id: userId, team_id: teamId, ...rest } = body
  const inner = JSON.stringify(rest).slice(1, -1)
  return `{${inner}${inner === '' ? '' : ','}"user_id":${digits(userId)},"team_id":${digits(teamId)}}`
}

function digits (id: unknown): string {
  if (typeof id !== 'string' || !DIGITS.test(id)) throw new Error(`numericIds: id ${String(id)} is not a string of digits`)
  return id
}

function fail (status: number, error: string, description: string): Answer {
  return { status, body: oauthErrorBody(status, error, description) }
}

/** The body a failing Miro answers with, for failTokenEndpoint({ status }). */
function injected (status: number): Answer {
  const error = status === 401
    ? 'invalid_client'
    : status === 429 ? 'too_many_requests' : status >= 500 ? 'server_error' : 'invalid_request'
  return fail(status, error, `Injected failure (HTTP ${status})`)
}

function takeFault (ctx: Context): Context['fault'] {
  const fault = ctx.fault
  if (!fault) return null
  fault.remaining -= 1
  if (fault.remaining <= 0) ctx.fault = null
  return fault
}

export function sleep (ctx: Context, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ctx.timers.delete(timer)
      resolve()
    }, ms)
    ctx.timers.add(timer)
  })
}

function parseBasic (header: string | undefined): { id: string, secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '')
  if (!match?.[1]) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) }
  } catch {
    return undefined // malformed percent-encoding: treated as no credentials
  }
}

/** Constant-time comparison (hashing first evens out lengths): code like this gets copied. */
function clientMatches (ctx: Context, id: string, secret: string): boolean {
  return id === ctx.clientId && safeEqual(secret, ctx.clientSecret)
}

function safeEqual (a: string, b: string): boolean {
  const hash = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(hash(a), hash(b))
}
