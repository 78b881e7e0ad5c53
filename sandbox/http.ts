// Small reply helpers shared by the handlers: Miro's error shapes, HTML pages, redirects.
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Thrown by handlers to answer with a status; the app's error handler turns it into a Miro error. */
export class HttpStatusError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** Miro REST error body: { type, status, code, message }. */
export function miroError (status: number, code: string, message: string): Record<string, unknown> {
  return { type: 'error', status, code, message }
}

/**
 * Token-endpoint error body. Carries the OAuth fields (error, error_description) and Miro's
 * (status, message, type) so clients reading either find them. Never echo secrets in it.
 */
export function oauthErrorBody (status: number, error: string, description: string): Record<string, unknown> {
  return { error, error_description: description, status, message: description, type: 'error' }
}

export function sendHtml (reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers({
    'content-type': 'text/html; charset=utf-8',
    // Inline CSS only; no scripts, no framing. No form-action: browsers would block the redirect to redirect_uri.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'cache-control': 'no-store'
  }).send(html)
}

export function redirect (reply: FastifyReply, location: string): FastifyReply {
  return reply.code(302).headers({ location, 'cache-control': 'no-store' }).send()
}

/** Links point back at the address the client used. */
export function baseUrl (req: FastifyRequest): string {
  return `http://${req.headers.host ?? 'localhost'}`
}

/** Miro's timestamps have no milliseconds: 2024-01-31T10:20:30Z. */
export function iso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
