// PKCE (RFC 7636) at the sandbox's authorize and token endpoints: a code_challenge sent to
// /oauth/authorize is kept with the authorization code it yields, and the code exchange must
// then send the matching code_verifier, or it gets invalid_grant. Miro's documentation does not
// say whether its token endpoint checks PKCE; the sandbox does, so apps can test it end to end.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { AuthCode } from './state'

export interface PkceChallenge {
  code_challenge: string
  code_challenge_method: 'S256' | 'plain'
}

/** RFC 7636 4.1/4.2: 43 to 128 unreserved characters (a base64url SHA-256 is 43). */
const UNRESERVED = /^[A-Za-z0-9._~-]{43,128}$/

/**
 * The challenge of an authorization request: undefined when it has none, a sentence saying
 * what is wrong when it is malformed. The method defaults to `plain`, as RFC 7636 4.3 says.
 */
export function challengeOf (params: Record<string, string | undefined>): PkceChallenge | undefined | string {
  const challenge = params.code_challenge
  const method = params.code_challenge_method ?? 'plain'
  if (challenge === undefined || challenge === '') {
    return params.code_challenge_method === undefined ? undefined : 'code_challenge_method was sent without a code_challenge.'
  }
  if (method !== 'S256' && method !== 'plain') return 'code_challenge_method must be S256 or plain.'
  if (!UNRESERVED.test(challenge)) return 'code_challenge must be 43 to 128 characters: letters, digits, "-", ".", "_" or "~".'
  return { code_challenge: challenge, code_challenge_method: method }
}

// Kept with the code record itself: it goes when the code does.
const challenges = new WeakMap<AuthCode, PkceChallenge>()

export function keepChallenge (code: AuthCode | undefined, challenge: PkceChallenge | undefined): void {
  if (code !== undefined && challenge !== undefined) challenges.set(code, challenge)
}

/**
 * Why the exchange of `code` with `verifier` is refused (invalid_grant), or undefined when PKCE
 * allows it. A code issued with a challenge needs its verifier; one issued without takes none.
 */
export function verifierError (code: AuthCode | undefined, verifier: string | undefined): string | undefined {
  if (code === undefined) return undefined // unknown codes fail on their own
  const challenge = challenges.get(code)
  if (challenge === undefined) return verifier === undefined ? undefined : 'code_verifier was sent for a code issued without code_challenge'
  if (verifier === undefined || verifier === '') return 'code_verifier is required: the authorization request had a code_challenge'
  if (!UNRESERVED.test(verifier)) return 'code_verifier must be 43 to 128 unreserved characters'
  const expected = challenge.code_challenge_method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(challenge.code_challenge).digest()
  return timingSafeEqual(a, b) ? undefined : 'code_verifier does not match the code_challenge'
}
