// The stored user every scenario reads, and the app credentials every server uses.
// One state, byte for byte, in every backend: the plugin's format (lib/state.ts).

import type { MiroTokenState } from '../index'

export const CLIENT_ID = 'bench-client-id'
export const CLIENT_SECRET = 'bench-client-secret'
export const REDIRECT_URL = 'http://127.0.0.1/auth/miro/callback'

/** The user id the redis routes pass to isAuthorized(). */
export const BENCH_USER = 'bench-user'
/** The user id of the refresh storm. */
export const STORM_USER = 'storm-user'

/** The user of the API-heavy route (10 API calls per request). */
export const API_USER = 'api-user'

/** fastify-miro's default key prefix (options.redis.keyPrefix). */
export const KEY_PREFIX = 'miro:token:'
/** The key fastify-miro (and the plain route) read. */
export const pluginKey = (userId: string): string => KEY_PREFIX + '{' + userId + '}'
/** The key Miro's RedisStorage recipe reads: `userId.toString()`. */
export const recipeKey = (userId: string): string => userId

/** The state fastify-miro stores (its own exported type, so the bench cannot drift from it). */
export type StoredState = MiroTokenState

/** A logged-in user whose access token never needs a refresh during the bench. */
export const BENCH_STATE: StoredState = {
  userId: '3458764500000000001',
  accessToken: 'eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_bench-access-token',
  refreshToken: 'eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_bench-refresh-token',
  tokenExpiresAt: '2099-01-01T00:00:00.000Z',
  teamId: '3458764500000000002',
  scope: 'boards:read boards:write'
}

export const BENCH_STATE_JSON = JSON.stringify(BENCH_STATE)

/** Session secrets: @fastify/session needs ≥ 32 characters; express-session takes the same one. */
export const SESSION_SECRET = 'bench-session-secret-0123456789-abcdefghij'
export const COOKIE_SECRET = 'bench-cookie-secret-0123456789-abcdefghijk'
