// Small request/response helpers shared by the handlers: body reading and Miro's error shapes.
import type { IncomingMessage, ServerResponse } from 'node:http'

const BODY_LIMIT = 1024 * 1024

/** Thrown by handlers to answer with a status; the router turns it into a Miro error. */
export class HttpStatusError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > BODY_LIMIT) {
        reject(new HttpStatusError(413, 'payloadTooLarge', 'Request body is larger than 1 MB'))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** Form body (application/x-www-form-urlencoded) as a flat record; other content types give {}. */
export async function readForm (req: IncomingMessage): Promise<Record<string, string>> {
  const body = await readBody(req)
  if (!isType(req, 'application/x-www-form-urlencoded')) return {}
  return Object.fromEntries(new URLSearchParams(body))
}

/** JSON object body, or a 400 Miro error when it is not one. */
export async function readJson (req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req)
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    throw new HttpStatusError(400, 'invalidBody', 'Request body must be a JSON object')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpStatusError(400, 'invalidBody', 'Request body must be a JSON object')
  }
  return parsed as Record<string, unknown>
}

export function isType (req: IncomingMessage, type: string): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() === type
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers)
}

/** JSON text written by hand (numericIds), sent as is. */
export function sendJsonText (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers
  })
  res.end(text)
}

/** Miro REST error body: { type, status, code, message }. */
export function sendMiroError (res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { type: 'error', status, code, message })
}

/**
 * Token-endpoint error body. Carries the OAuth fields (error, error_description) and Miro's
 * (status, message, type) so clients reading either find them. Never echo secrets in it.
 */
export function oauthErrorBody (status: number, error: string, description: string): Record<string, unknown> {
  return { error, error_description: description, status, message: description, type: 'error' }
}

export function sendHtml (res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    // Inline CSS only; no scripts, no framing. No form-action: browsers would block the redirect to redirect_uri.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'cache-control': 'no-store'
  })
  res.end(html)
}

export function redirect (res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'content-length': 0, 'cache-control': 'no-store' })
  res.end()
}
