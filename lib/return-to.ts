// `returnTo`: where to send the user after login. Only a same-origin path is accepted, so
// the login route can never be used as an open redirect.
const PLACEHOLDER = 'http://return-to.invalid'
// Checked before and after normalization (which percent-encodes, up to 9 characters for one):
// short enough that the guard's login link and the signed login cookie stay well under browser limits.
const MAX_LENGTH = 1024

/**
 * The path to return to, normalized, or `undefined` when `value` is not a plain same-origin
 * path. Refused: absolute URLs, protocol-relative `//host`, `/\host` (browsers read "\" as
 * "/"), control characters (the URL parser drops tabs and newlines, so `/\t/host` would
 * become `//host`), and anything overlong.
 */
export function safeReturnTo (value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LENGTH) return undefined
  if (value[0] !== '/' || value[1] === '/' || value[1] === '\\') return undefined
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return undefined
  let url: URL
  try {
    url = new URL(value, PLACEHOLDER)
  } catch {
    return undefined
  }
  if (url.origin !== PLACEHOLDER) return undefined
  const path = url.pathname + url.search + url.hash
  return path.startsWith('//') || path.length > MAX_LENGTH ? undefined : path
}
