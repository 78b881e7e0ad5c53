// Keys for per-user Redis values. The user id is percent-encoded so that any id ("*", ":",
// spaces, newlines, very long) maps to exactly one key under the prefix: the encoding is
// injective, never contains ":", braces or glob characters, and leaves ordinary ids (session
// ids, numbers) as they are.
//
// Every key of one user carries the encoded id as a Redis Cluster hash tag (`{…}`), so the
// token state and its refresh lock live in one slot, on one master: a user whose tokens are
// reachable can always also take the lock. (A prefix that holds a `{…}` of its own puts every
// key in that one slot instead: Redis hashes the first tag.)
import type { UserKey } from './types'

const SAFE = /^[A-Za-z0-9_.-]*$/

const UNSAFE = /[^A-Za-z0-9_.-]/gu

// UTF-8 bytes as %XX; a lone surrogate (not UTF-8 at all) as %uXXXX, which no %XX run equals.
function escapeChar (c: string): string {
  const code = c.charCodeAt(0)
  if (c.length === 1 && code >= 0xd800 && code <= 0xdfff) return '%u' + code.toString(16).toUpperCase()
  let out = ''
  for (const byte of Buffer.from(c, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  return out
}

export function encodeUserId (userId: UserKey): string {
  const id = String(userId)
  return SAFE.test(id) ? id : id.replace(UNSAFE, escapeChar)
}

export function tokenKey (keyPrefix: string, userId: UserKey): string {
  return keyPrefix + '{' + encodeUserId(userId) + '}'
}

/** Never equal to a token key: the encoded id cannot contain "}" or ":". */
export function lockKey (keyPrefix: string, userId: UserKey): string {
  return tokenKey(keyPrefix, userId) + ':refresh-lock'
}

/**
 * Where fastify-miro 0.1 kept a user's token state (no hash tag). Still read when the tagged
 * key is missing, and removed on the next write, so existing deployments keep their logins.
 * Never equal to a tagged key: the encoded id holds no "{".
 */
export function legacyTokenKey (keyPrefix: string, userId: UserKey): string {
  return keyPrefix + encodeUserId(userId)
}

/**
 * The set of the storage keys holding logins of one Miro user (app.miro.revokeAll). Its own
 * hash tag, the Miro user's: never equal to a token key (`prefix{…}`) or a 0.1 key
 * (`prefix<encoded>`), as an encoded id holds no ':'.
 */
export function loginIndexKey (keyPrefix: string, miroUserId: string): string {
  return keyPrefix + 'miro-user:{' + encodeUserId(miroUserId) + '}'
}

/**
 * Marks a login state as used (lib/storage/used-logins.ts), under a hash of the state, its own
 * hash tag. Never equal to a token or lock key (those have "{" right after the prefix), a 0.1
 * key (an encoded id holds no ':') or a login-index key ('miro-user:' vs 'login-state:').
 */
export function usedLoginKey (keyPrefix: string, stateId: string): string {
  return keyPrefix + 'login-state:{' + encodeUserId(stateId) + '}'
}
