// The token state fastify-miro stores per user: the SDK's `State` plus what Miro's token
// response carries and the SDK throws away (team and scope).
import type { State } from '@mirohq/miro-api/dist/storage'

export interface MiroTokenState extends State {
  /** Miro's user id (not the key the state is stored under). */
  userId: string
  accessToken: string
  refreshToken?: string
  /** ISO date, 120 s before Miro's real expiry, as the SDK computes it. */
  tokenExpiresAt?: string
  /** Miro's team id of the grant. */
  teamId?: string
  /** Space-separated scopes Miro granted. */
  scope?: string
}

/** The JSON body of a successful `POST /v1/oauth/token`. */
export interface TokenResponse {
  access_token: string
  refresh_token?: string
  expires_in?: number
  user_id?: string | number
  team_id?: string | number
  scope?: string
  token_type?: string
}

// The SDK's safety margin: refresh two minutes before Miro would refuse the token.
const EXPIRY_MARGIN_MS = 120_000

export function stateFromTokenResponse (body: TokenResponse, now = Date.now()): MiroTokenState {
  const state: MiroTokenState = {
    userId: body.user_id === undefined ? '' : String(body.user_id),
    accessToken: body.access_token
  }
  if (body.refresh_token) state.refreshToken = body.refresh_token
  if (typeof body.expires_in === 'number' && body.expires_in > 0) {
    state.tokenExpiresAt = new Date(now + body.expires_in * 1000 - EXPIRY_MARGIN_MS).toISOString()
  }
  if (body.team_id !== undefined && body.team_id !== null) state.teamId = String(body.team_id)
  if (typeof body.scope === 'string') state.scope = body.scope
  return state
}

/** Needs a refresh: expired by the SDK's rule, and refreshable. */
export function needsRefresh (state: MiroTokenState, now = Date.now()): boolean {
  return state.refreshToken !== undefined && state.tokenExpiresAt !== undefined &&
    Date.parse(state.tokenExpiresAt) <= now
}

const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string'
const optionalToken = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v !== '')

/**
 * Checks a value read back from storage. Anything else than a well-formed state (corrupt JSON,
 * another app's value, a tampered session) is refused, so it counts as "logged out".
 */
export function isTokenState (value: unknown): value is MiroTokenState {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  return typeof v.accessToken === 'string' && v.accessToken.length > 0 &&
    (typeof v.userId === 'string' || typeof v.userId === 'number') &&
    optionalToken(v.refreshToken) && optionalString(v.teamId) && optionalString(v.scope) &&
    (v.tokenExpiresAt === undefined ||
      (typeof v.tokenExpiresAt === 'string' && !Number.isNaN(Date.parse(v.tokenExpiresAt))))
}
