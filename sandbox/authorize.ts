// GET/POST /oauth/authorize: the consent page and what clicking Allow or Deny does.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { redirect, sendHtml } from './http'
import { consentPage, errorPage } from './pages'
import { challengeOf, keepChallenge, type PkceChallenge } from './pkce'
import type { Context } from './state'

interface AuthorizeRequest {
  clientId: string
  redirectUri: string
  state: string
  teamId: string
  pkce?: PkceChallenge
}

export function showConsent (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const query = stringRecord(req.query)
  const request = validate(ctx, query, res)
  if (!request) return res
  return sendHtml(res, 200, consentPage({ ...request, defaultName: ctx.store.users[0]?.name ?? '' }))
}

export function decide (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const form = formBody(req)
  const request = validate(ctx, form, res)
  if (!request) return res
  if (form.decision === 'deny') {
    return redirect(res, withParams(request.redirectUri, {
      error: 'access_denied',
      error_description: 'The user denied access to the app',
      state: request.state
    }))
  }
  if (form.decision !== 'allow') {
    return sendHtml(res, 400, errorPage('Bad request', 'Choose Allow or Deny.'))
  }
  // user_id is not on the page: Sandbox.approve({ userId }) sends it to pick an exact user.
  const user = form.user_id
    ? ctx.store.findUser(form.user_id)
    : ctx.store.findOrCreateUser(form.name?.trim() || (ctx.store.users[0]?.name ?? 'Sandbox User'), request.teamId)
  if (!user) {
    return sendHtml(res, 400, errorPage('Unknown user', `There is no user with id ${form.user_id}.`))
  }
  const code = ctx.store.issueCode(request.clientId, request.redirectUri, user.id)
  keepChallenge(ctx.store.codes.get(code), request.pkce)
  return redirect(res, withParams(request.redirectUri, { code, state: request.state }))
}

/** The form fields of a urlencoded body (the app's parser gives a record); anything else gives {}. */
export function formBody (req: FastifyRequest): Record<string, string> {
  return stringRecord(req.body)
}

function stringRecord (value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {}
  const out: Record<string, string> = {}
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string') out[key] = v
  return out
}

/** The checks Miro makes before it shows anything; failures get an explanatory 400 page. */
function validate (ctx: Context, params: Record<string, string>, res: FastifyReply): AuthorizeRequest | undefined {
  const fail = (title: string, message: string): undefined => {
    sendHtml(res, 400, errorPage(title, message))
    return undefined
  }
  const clientId = params.client_id ?? ''
  const redirectUri = params.redirect_uri ?? ''
  if (clientId !== ctx.clientId) {
    return fail('Unknown app', clientId ? `No app has the client_id "${clientId}".` : 'The request has no client_id.')
  }
  if (!redirectUri) return fail('Missing redirect_uri', 'The request has no redirect_uri, so there is nowhere to send you back to.')
  if (!isHttpUrl(redirectUri)) return fail('Invalid redirect_uri', 'The redirect_uri must be an absolute http(s) URL.')
  if (params.response_type !== undefined && params.response_type !== 'code') {
    return fail('Unsupported response_type', 'Only response_type=code is supported.')
  }
  const pkce = challengeOf(params)
  if (typeof pkce === 'string') return fail('Invalid PKCE challenge', pkce)
  return { clientId, redirectUri, state: params.state ?? '', teamId: params.team_id ?? '', ...(pkce ? { pkce } : {}) }
}

function isHttpUrl (text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/** Adds params to the redirect URI, keeping its own query; empty values (e.g. no state) are left out. */
function withParams (uri: string, params: Record<string, string>): string {
  const url = new URL(uri)
  for (const [key, value] of Object.entries(params)) {
    if (value) url.searchParams.set(key, value)
  }
  return url.toString()
}
