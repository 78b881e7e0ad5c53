// Logout changes state with a POST that a form on any site can send (text/plain needs no
// preflight), and cookies may go with it (SameSite=None setups, Chromium's two-minute Lax
// window). So a browser's cross-site logout is refused: Fetch Metadata (`Sec-Fetch-Site`)
// where the browser sends it, `Origin` where it does not. Requests with neither (curl, server
// to server, old browsers) carry no ambient browser cookies to abuse and are let through.
import type { FastifyRequest } from 'fastify'

/**
 * True when `request` comes from a page of another site than the app's `ownOrigin` (the origin
 * of redirectUrl, or of the request itself) and its origin is not in `trusted`.
 */
export function isCrossSite (request: FastifyRequest, ownOrigin: string, trusted: ReadonlySet<string>): boolean {
  const origin = header(request, 'origin')
  const site = header(request, 'sec-fetch-site')
  const fromTrusted = origin !== undefined && (origin === ownOrigin || origin === requestOrigin(request) || trusted.has(origin))
  if (site !== undefined) return !(site === 'same-origin' || site === 'none' || fromTrusted)
  return origin !== undefined && !fromTrusted
}

function header (request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' ? value.toLowerCase() : undefined
}

const requestOrigin = (request: FastifyRequest): string => `${request.protocol}://${request.host}`.toLowerCase()
