// Keys for per-user Redis values. The user id is percent-encoded so that any id ("*", ":",
// spaces, newlines, very long) maps to exactly one key under the prefix: the encoding is
// injective, never contains ":" or glob characters, and leaves ordinary ids (session ids,
// numbers) as they are.
import type { UserKey } from './types'

const SAFE = /^[A-Za-z0-9_.-]*$/

export function encodeUserId (userId: UserKey): string {
  const id = String(userId)
  if (SAFE.test(id)) return id
  return encodeURIComponent(id).replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

export function tokenKey (keyPrefix: string, userId: UserKey): string {
  return keyPrefix + encodeUserId(userId)
}

/** Never equal to a token key: the encoded id cannot contain ":". */
export function lockKey (keyPrefix: string, userId: UserKey): string {
  return keyPrefix + encodeUserId(userId) + ':refresh-lock'
}
