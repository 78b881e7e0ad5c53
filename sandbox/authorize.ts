// GET/POST /oauth/authorize: the consent page and what clicking Allow or Deny does.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readForm, redirect, sendHtml } from './http'
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

export function showConsent (ctx: Context, req: IncomingMessage, res: ServerResponse): void {
  const query = Object.fromEntries(new URL(req.url ?? '/', 'http://sandbox').searchParams)
  const request = validate(ctx, query, res)
  if (!request) return
  sendHtml(res, 200, consentPage({ ...request, defaultName: ctx.store.users[0]?.name ?? '' }))
}

export async function decide (ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req)
  const request = validate(ctx, form, res)
  if (!request) return
  if (form.decision === 'deny') {
    redirect(res, withParams(request.redirectUri, {
      error: 'access_denied',
      error_description: 'The user denied access to the app',
      state: request.state
    }))
    return
  }
  if (form.decision !== 'allow') {
    sendHtml(res, 400, errorPage('Bad request', 'Choose Allow or Deny.'))
    return
  }
  // user_id is not on the page: Sandbox.approve({ userId }) sends it to pick an exact user.
  const user = form.user_id
    ? ctx.store.findUser(form.user_id)
    : ctx.store.findOrCreateUser(form.name?.trim() || (ctx.store.users[0]?.name ?? 'Sandbox User'), request.teamId)
  if (!user) {
    sendHtml(res, 400, errorPage('Unknown user', `There is no user with id ${form.user_id}.`))
    return
  }
  const code = ctx.store.issueCode(request.clientId, request.redirectUri, user.id)
  keepChallenge(ctx.store.codes.get(code), request.pkce)
  redirect(res, withParams(request.redirectUri, { code, state: request.state }))
}

/** The checks Miro makes before it shows anything; failures get an explanatory 400 page. */
function validate (ctx: Context, params: Record<string, string>, res: ServerResponse): AuthorizeRequest | undefined {
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
