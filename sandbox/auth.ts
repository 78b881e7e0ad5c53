// Bearer-token check for the REST endpoints, with Miro's 401 bodies.
import type { FastifyRequest } from 'fastify'
import { HttpStatusError } from './http'
import type { AccessToken, Context } from './state'

/** The live token behind the request's Authorization header, or a 401 Miro error. */
export function requireToken (ctx: Context, req: FastifyRequest, status = 401): AccessToken {
  const header = req.headers.authorization ?? ''
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match?.[1]) throw new HttpStatusError(status, 'tokenNotProvided', 'No authorization token was found')
  const token = ctx.store.liveAccessToken(match[1])
  if (!token) throw new HttpStatusError(status, 'invalidToken', 'Invalid, expired or revoked access token')
  return token
}
