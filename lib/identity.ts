// Who a request is for, inside a Miro board: the Web SDK's id token (`miro.board.getIdToken()`),
// sent by the app's frontend as `Authorization: Bearer <jwt>`. It is an HS256 JWT signed with
// the app's client secret; its `sub` is the app's client id, `team` and `user` name the user.
import { createVerifier } from 'fast-jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { MiroInvalidIdTokenError } from './errors'
import { exactInteger } from './exact-ids'
import type { MiroTokenState } from './state'

export interface MiroIdentity {
  /** Miro user id. */
  userId: string
  /** Miro team id: the same user in another team is another key. */
  teamId: string
}

/** Tolerated clock difference between Miro and this server when checking `exp` and `nbf`. */
export const CLOCK_SKEW_MS = 10_000

// fast-jwt's codes, said for a frontend developer (never with the token itself).
const REASONS: Record<string, string> = {
  FAST_JWT_EXPIRED: 'it has expired',
  FAST_JWT_INACTIVE: 'it is not valid yet',
  FAST_JWT_INVALID_SIGNATURE: 'its signature is wrong',
  FAST_JWT_MISSING_SIGNATURE: 'it is not signed',
  FAST_JWT_INVALID_ALGORITHM: 'its algorithm is not HS256',
  FAST_JWT_INVALID_CLAIM_VALUE: 'it was issued for another app',
  FAST_JWT_MISSING_REQUIRED_CLAIM: 'it lacks the sub, team, user or exp claim',
  FAST_JWT_INVALID_CLAIM_TYPE: 'a claim has the wrong type',
  FAST_JWT_MALFORMED: 'it is not a JWT',
  FAST_JWT_INVALID_PAYLOAD: 'it is not a JWT'
}

/** Refused claim: a number that cannot be kept exactly. */
const INEXACT = null

/**
 * A `team` or `user` claim as a string: a non-empty string as is; a number as its exact digits.
 * The verified payload was JSON.parse'd, which rounds ids above 2^53, so those are read again
 * from the signed payload text; only then is it decoded (the common claims cost nothing more).
 */
function claim (payload: Record<string, unknown>, name: string, token: string): string | undefined | typeof INEXACT {
  const value = payload[name]
  if (typeof value === 'string') return value === '' ? undefined : value
  if (typeof value !== 'number') return undefined
  return exactInteger(payload, name, () => payloadText(token)) ?? INEXACT
}

/** The payload segment's JSON text, decoded as fast-jwt decodes it (the token is verified already). */
function payloadText (token: string): string {
  const first = token.indexOf('.')
  return Buffer.from(token.slice(first + 1, token.indexOf('.', first + 1)), 'base64').toString('utf8')
}

export function createIdTokenReader (clientId: string, clientSecret: string): (request: FastifyRequest) => MiroIdentity {
  const verify = createVerifier({
    key: clientSecret,
    algorithms: ['HS256'],
    allowedSub: clientId,
    requiredClaims: ['sub', 'team', 'user', 'exp'],
    clockTolerance: CLOCK_SKEW_MS,
    cache: 1000 // the same token arrives with every call of a board session
  })
  return (request) => {
    const header = request.headers.authorization
    if (typeof header !== 'string' || header.slice(0, 7).toLowerCase() !== 'bearer ') {
      throw new MiroInvalidIdTokenError('the request has no "Authorization: Bearer <id token>" header')
    }
    const token = header.slice(7).trim()
    let payload: Record<string, unknown>
    try {
      payload = verify(token) as Record<string, unknown>
    } catch (err) {
      throw new MiroInvalidIdTokenError(REASONS[(err as { code?: string }).code ?? ''] ?? 'it could not be verified')
    }
    const userId = claim(payload, 'user', token)
    const teamId = claim(payload, 'team', token)
    if (userId === INEXACT || teamId === INEXACT) throw new MiroInvalidIdTokenError('its team or user claim is not an exact id')
    if (userId === undefined || teamId === undefined) throw new MiroInvalidIdTokenError('its team or user claim is empty')
    return { userId, teamId }
  }
}

/** The storage key of a Miro user in a team. */
export function identityKey (identity: MiroIdentity): string {
  return identity.teamId + ':' + identity.userId
}

/** The key the OAuth callback stores under: the team and user Miro returned with the tokens. */
export function stateKey (state: MiroTokenState): string {
  return identityKey({ teamId: state.teamId ?? '', userId: state.userId })
}

const kIdentity = Symbol('fastify-miro.identity')
interface WithIdentity { [kIdentity]: MiroIdentity | Error | null }

/** `request.miroIdentity`: verified on first read, cached; reading it throws FST_MIRO_INVALID_ID_TOKEN. */
export function decorateIdentity (fastify: FastifyInstance, read: (request: FastifyRequest) => MiroIdentity): void {
  fastify.decorateRequest(kIdentity, null)
  fastify.decorateRequest('miroIdentity', {
    getter (this: FastifyRequest): MiroIdentity {
      const self = this as FastifyRequest & WithIdentity
      if (self[kIdentity] === null) {
        try {
          self[kIdentity] = read(this)
        } catch (err) {
          self[kIdentity] = err as Error
        }
      }
      const identity = self[kIdentity]
      if (identity instanceof Error) throw identity
      return identity
    }
  })
}
