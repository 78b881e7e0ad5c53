// Every error fastify-miro raises at runtime is one of these classes, so an app can
// `instanceof` them in its own error handler. Messages never carry secrets or URLs.
import createError from '@fastify/error'

/** Register-time: an option is missing or wrong. The message names the fix. */
export const MiroOptionsError = createError('FST_MIRO_INVALID_OPTIONS', 'fastify-miro: %s', 500)

/** No tokens are stored for this user: they have to log in. */
export const MiroNotAuthorizedError = createError(
  'FST_MIRO_NOT_AUTHORIZED', 'This user has not authorized the Miro app yet: send them to the login route', 401)

/** Miro refused the refresh token (revoked, rotated away or expired): the stored state is gone. */
export const MiroTokenRevokedError = createError(
  'FST_MIRO_TOKEN_REVOKED', 'Miro no longer accepts this user\'s tokens: they have to log in again', 401)

/** Miro refused the authorization code of a login (used, expired or foreign). */
export const MiroCodeRejectedError = createError(
  'FST_MIRO_CODE_REJECTED', 'Miro rejected the authorization code (%s): start the login again', 400)

/** The callback's `state` is missing, wrong, already used or expired (CSRF protection). */
export const MiroInvalidStateError = createError(
  'FST_MIRO_INVALID_STATE', 'The login state is missing, wrong, already used or expired: start the login again', 403)

/** The user pressed "Deny" on Miro's consent page. */
export const MiroAccessDeniedError = createError(
  'FST_MIRO_ACCESS_DENIED', 'The login was cancelled: the user did not allow the Miro app', 403)

/** The login route's `returnTo` is not a path on this site (it would be an open redirect). */
export const MiroInvalidReturnToError = createError(
  'FST_MIRO_INVALID_RETURN_TO', 'returnTo must be a path on this site, like /boards', 400)

/** The callback had no authorization code. */
export const MiroMissingCodeError = createError(
  'FST_MIRO_MISSING_CODE', 'The Miro callback carries no authorization code', 400)

/** Miro answered a token call with a 5xx, a 429, an unexpected body, or could not be reached. */
export const MiroUnavailableError = createError(
  'FST_MIRO_UNAVAILABLE', 'Miro could not complete the %s call (%s): try again later', 502)

/** Miro refused our client credentials or request: a configuration problem of this app. */
export const MiroTokenRequestError = createError(
  'FST_MIRO_TOKEN_REQUEST_FAILED', 'Miro refused the %s call (%s): check clientId, clientSecret and redirectUrl', 502)

/** Miro did not answer a token call in time. */
export const MiroTimeoutError = createError(
  'FST_MIRO_TIMEOUT', 'Miro did not answer the %s call within %d ms', 504)

/** The token storage (Redis, the session store or a custom Storage) failed. Not a logout. */
export const MiroStorageError = createError(
  'FST_MIRO_STORAGE_UNAVAILABLE', 'The Miro token storage is unavailable (%s): try again later', 503)

/** Tokens were to be stored without a user id to store them under (a bug in the calling code). */
export const MiroNoUserIdError = createError(
  'FST_MIRO_NO_USER_ID', 'No user id to store the Miro tokens under: pass one, or check options.userId', 500)

/** The Web SDK id token of a request is missing, malformed, forged, expired or for another app. */
export const MiroInvalidIdTokenError = createError(
  'FST_MIRO_INVALID_ID_TOKEN', 'The Miro id token of this request is refused: %s', 401)

/** Another instance held the refresh lock for too long. */
export const MiroRefreshBusyError = createError(
  'FST_MIRO_REFRESH_BUSY', 'The Miro token of this user is being refreshed elsewhere and the refresh did not finish in %d ms', 503)

/** `app.miro.*`, or `request.miro.as()` for another user, with `storage: 'session'`: only a shared backend reaches any user's tokens. */
export const MiroSharedStorageRequiredError = createError(
  'FST_MIRO_SHARED_STORAGE_REQUIRED', "%s needs a shared token storage: with storage 'session' a user's tokens are only reachable from that user's own requests. Use storage: 'redis' (or your own Storage) for work outside a request", 500)

/** The storage cannot do what was asked (e.g. revokeAll without a login index). */
export const MiroNotSupportedError = createError(
  'FST_MIRO_NOT_SUPPORTED', '%s is not supported by this token storage: %s', 500)

/** A logout posted from a page of another site (CSRF); see routes.trustedOrigins. */
export const MiroCrossSiteError = createError(
  'FST_MIRO_CROSS_SITE', 'This request comes from a page of another site and is refused: logout only from the app itself (or list the origin in routes.trustedOrigins)', 403)

export type MiroError = InstanceType<
  | typeof MiroNotAuthorizedError
  | typeof MiroTokenRevokedError
  | typeof MiroCodeRejectedError
  | typeof MiroMissingCodeError
  | typeof MiroInvalidStateError
  | typeof MiroAccessDeniedError
  | typeof MiroInvalidReturnToError
  | typeof MiroUnavailableError
  | typeof MiroTokenRequestError
  | typeof MiroTimeoutError
  | typeof MiroStorageError
  | typeof MiroRefreshBusyError
  | typeof MiroNoUserIdError
  | typeof MiroInvalidIdTokenError
  | typeof MiroSharedStorageRequiredError
  | typeof MiroNotSupportedError
  | typeof MiroCrossSiteError
>

/** True for the errors that mean "this user is logged out", as opposed to an outage. */
export function isLoggedOutError (err: unknown): boolean {
  return err instanceof MiroNotAuthorizedError || err instanceof MiroTokenRevokedError
}

/**
 * A short, secret-free description of a low-level error (a socket or Redis failure):
 * only its code or class name, never its message, which may carry URLs with secrets.
 */
export function describeCause (err: unknown): string {
  const e = err as { code?: unknown, name?: unknown, cause?: { code?: unknown } } | null
  const code = e?.cause?.code ?? e?.code
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code
  const name = e?.name
  return typeof name === 'string' && /^[A-Za-z]{2,40}$/.test(name) ? name : 'unknown error'
}
