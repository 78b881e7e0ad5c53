// Keys for per-user Redis values. The user id is percent-encoded so that any id ("*", ":",
// spaces, newlines, very long) maps to exactly one key under the prefix: the encoding is
// injective, never contains ":" or glob characters, and leaves ordinary ids (session ids,
// numbers) as they are.
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
  return keyPrefix + encodeUserId(userId)
}

/** Never equal to a token key: the encoded id cannot contain ":". */
export function lockKey (keyPrefix: string, userId: UserKey): string {
  return keyPrefix + encodeUserId(userId) + ':refresh-lock'
}
