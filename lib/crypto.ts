// Small crypto helpers of the login flow: unguessable values, comparisons in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** 256 random bits, URL-safe: the OAuth `state` of one login. */
export function randomToken (): string {
  return randomBytes(32).toString('base64url')
}

/** Constant-time string equality (hashing first makes the lengths equal too). */
export function safeEqual (a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb) && a.length === b.length
}
