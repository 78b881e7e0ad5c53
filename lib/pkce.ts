// PKCE (RFC 7636) with S256: the login keeps a random verifier beside its state and sends its
// hash as code_challenge; the code exchange sends the verifier. A code intercepted on its way
// back (a log, a hostile app on the redirect) is then worthless without the login's cookie.
import { createHash, randomBytes } from 'node:crypto'

/** 256 random bits: 43 characters of the unreserved set RFC 7636 asks for. */
export const newVerifier = (): string => randomBytes(32).toString('base64url')

export const challengeOf = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url')

/** The authorize URL with the challenge of `verifier`. */
export function withChallenge (authorizeUrl: string, verifier: string): string {
  return `${authorizeUrl}&code_challenge=${challengeOf(verifier)}&code_challenge_method=S256`
}
