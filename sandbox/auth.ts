// Bearer-token check for the REST endpoints, with Miro's 401 bodies.
import type { IncomingMessage } from 'node:http'
import { HttpStatusError } from './http'
import type { AccessToken, Context } from './state'

/** The live token behind the request's Authorization header, or a 401 Miro error. */
export function requireToken (ctx: Context, req: IncomingMessage): AccessToken {
  const header = req.headers.authorization ?? ''
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match?.[1]) throw new HttpStatusError(401, 'tokenNotProvided', 'No authorization token was found')
  const token = ctx.store.liveAccessToken(match[1])
  if (!token) throw new HttpStatusError(401, 'invalidToken', 'Invalid, expired or revoked access token')
  return token
}
