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

/**
 * The JSON body of a successful `POST /v1/oauth/token`, ids as strings: lib/oauth.ts turns a
 * numeric id into its exact digits (lib/exact-ids.ts) or refuses the answer.
 */
export interface TokenResponse {
  access_token: string
  refresh_token?: string
  expires_in?: number
  user_id?: string
  team_id?: string
  scope?: string
  token_type?: string
}

// The SDK's safety margin: refresh two minutes before Miro would refuse the token.
export const EXPIRY_MARGIN_MS = 120_000
/**
 * Of that margin, how long before Miro's real expiry the old token is no longer used while a
 * refresh runs in the background. It covers what the stored expiry does not know: the token
 * call's own round trip (Miro's clock started before `now` here, up to httpTimeout, 10 s by
 * default), the clock difference between this server and Miro (NTP keeps it under a second,
 * a drifting VM a few), and the rest of the request that goes on with the token (a route
 * paging through boards makes several calls after its first).
 */
export const REFRESH_AHEAD_SLACK_MS = 30_000
/** How long past `tokenExpiresAt` a request goes on with the old token and refreshes in the background. */
export const REFRESH_AHEAD_MS = EXPIRY_MARGIN_MS - REFRESH_AHEAD_SLACK_MS

export function stateFromTokenResponse (body: TokenResponse, now = Date.now()): MiroTokenState {
  const state: MiroTokenState = {
    userId: body.user_id ?? '',
    accessToken: body.access_token
  }
  if (body.refresh_token) state.refreshToken = body.refresh_token
  if (typeof body.expires_in === 'number' && body.expires_in > 0) {
    state.tokenExpiresAt = new Date(now + body.expires_in * 1000 - EXPIRY_MARGIN_MS).toISOString()
  }
  if (body.team_id !== undefined) state.teamId = body.team_id
  if (typeof body.scope === 'string') state.scope = body.scope
  return state
}

// Date.parse costs ~0.4 µs and every read needs it twice (validity, then expiry): measured as
// the plugin's largest share of an authorized request (bench/FINDINGS.md). An expiry string
// repeats for as long as the token lives, so remember the last ones; a Map lookup is ~0.1 µs.
// Cleared whole when full, and only date-sized strings are kept: bounded memory, no
// bookkeeping per hit.
export const EXPIRY_MEMO_LIMIT = 1024
const MEMO_KEY_MAX_LENGTH = 40
const expiryMemo = new Map<string, number>()

/** `Date.parse(iso)`, remembered (NaN for a string that is not a date). */
export function expiryTime (iso: string): number {
  if (iso.length > MEMO_KEY_MAX_LENGTH) return Date.parse(iso)
  let time = expiryMemo.get(iso)
  if (time === undefined) {
    time = Date.parse(iso)
    if (expiryMemo.size >= EXPIRY_MEMO_LIMIT) expiryMemo.clear()
    expiryMemo.set(iso, time)
  }
  return time
}

/** How many expiry strings are remembered (for tests: it never exceeds the limit). */
export const expiryMemoSize = (): number => expiryMemo.size

/** Needs a refresh: expired by the SDK's rule, and refreshable. */
export function needsRefresh (state: MiroTokenState, now = Date.now()): boolean {
  return state.refreshToken !== undefined && state.tokenExpiresAt !== undefined &&
    expiryTime(state.tokenExpiresAt) <= now
}

/**
 * For a state that needs a refresh: Miro still accepts its access token (with the slack), so
 * the refresh can run in the background. False for a state with no expiry.
 */
export function stillAccepted (state: MiroTokenState, now = Date.now()): boolean {
  return state.tokenExpiresAt !== undefined && expiryTime(state.tokenExpiresAt) + REFRESH_AHEAD_MS > now
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
      (typeof v.tokenExpiresAt === 'string' && !Number.isNaN(expiryTime(v.tokenExpiresAt))))
}
