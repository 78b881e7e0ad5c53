// Maps method + path to a handler and turns thrown errors into Miro error responses.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { decide, showConsent } from './authorize'
import { createBoard, getBoard, listBoards } from './boards'
import { HttpStatusError, sendMiroError } from './http'
import { revoke, token, tokenInfo } from './oauth'
import type { Context } from './state'

const BOARD_PATH = /^\/v2\/boards\/([^/]+)\/?$/

export function createRouter (ctx: Context): RequestListener {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => fail(res, err))
  }
}

async function route (ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://sandbox').pathname
  const key = `${req.method} ${path}`
  switch (key) {
    case 'GET /oauth/authorize': return showConsent(ctx, req, res)
    case 'POST /oauth/authorize': return await decide(ctx, req, res)
    case 'POST /v1/oauth/token': return await token(ctx, req, res)
    case 'POST /v2/oauth/revoke': return await revoke(ctx, req, res)
    case 'GET /v1/oauth-token': return tokenInfo(ctx, req, res)
    case 'GET /v2/boards': return listBoards(ctx, req, res)
    case 'POST /v2/boards': return await createBoard(ctx, req, res)
  }
  const board = req.method === 'GET' ? BOARD_PATH.exec(path) : null
  if (board?.[1]) return getBoard(ctx, req, res, decodeSegment(board[1]))
  throw new HttpStatusError(404, 'notFound', `${req.method} ${path} is not part of the Miro sandbox`)
}

function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

function fail (res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err instanceof HttpStatusError) {
    sendMiroError(res, err.status, err.code, err.message)
    return
  }
  sendMiroError(res, 500, 'internalError', 'The sandbox failed to handle the request')
}
