// The boards slice of the REST API: GET/POST /v2/boards and GET /v2/boards/{id}, per user, in memory.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { requireToken } from './auth'
import { HttpStatusError, readJson, sendJson } from './http'
import type { BoardRecord, Context } from './state'

const DEFAULT_LIMIT = 20
const MAX_LIMIT = 50 // Miro's cap for GET /v2/boards

export function listBoards (ctx: Context, req: IncomingMessage, res: ServerResponse): void {
  const { grant } = requireToken(ctx, req)
  const url = new URL(req.url ?? '/', baseUrl(req))
  const offset = integerParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER)
  const limit = integerParam(url, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT)
  const teamId = url.searchParams.get('team_id')
  const query = url.searchParams.get('query')?.toLowerCase()
  const all = ctx.store.boardsOf(grant.userId)
    .filter((b) => !teamId || b.teamId === teamId)
    .filter((b) => !query || b.name.toLowerCase().includes(query))
  const data = all.slice(offset, offset + limit).map((b) => boardJson(ctx, req, b))
  const page = (at: number): string => {
    const link = new URL(url)
    link.searchParams.set('offset', String(at))
    link.searchParams.set('limit', String(limit))
    return link.toString()
  }
  const lastOffset = Math.max(0, Math.floor((all.length - 1) / limit) * limit)
  sendJson(res, 200, {
    data,
    total: all.length,
    size: data.length,
    offset,
    limit,
    links: {
      self: page(offset),
      first: page(0),
      last: page(lastOffset),
      ...(offset + limit < all.length ? { next: page(offset + limit) } : {}),
      ...(offset > 0 ? { prev: page(Math.max(0, offset - limit)) } : {})
    },
    type: 'list'
  })
}

export async function createBoard (ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { grant } = requireToken(ctx, req)
  const body = await readJson(req)
  const name = optionalString(body, 'name', 60) || 'Untitled'
  const description = optionalString(body, 'description', 300) ?? ''
  const owner = ctx.store.findUser(grant.userId)
  if (!owner) throw new HttpStatusError(404, 'notFound', 'User not found')
  sendJson(res, 201, boardJson(ctx, req, ctx.store.createBoard(owner, name, description)))
}

export function getBoard (ctx: Context, req: IncomingMessage, res: ServerResponse, id: string): void {
  const { grant } = requireToken(ctx, req)
  const board = ctx.store.boards.get(id)
  // Someone else's board looks the same as a missing one, like Miro's private boards.
  if (!board || board.ownerId !== grant.userId) throw new HttpStatusError(404, 'notFound', `Board ${id} not found`)
  sendJson(res, 200, boardJson(ctx, req, board))
}

function boardJson (ctx: Context, req: IncomingMessage, board: BoardRecord): Record<string, unknown> {
  const base = baseUrl(req)
  const owner = { id: board.ownerId, name: ctx.store.findUser(board.ownerId)?.name ?? '', type: 'user' }
  return {
    id: board.id,
    type: 'board',
    name: board.name,
    description: board.description,
    links: {
      self: `${base}/v2/boards/${encodeURIComponent(board.id)}`,
      related: `${base}/v2/boards/${encodeURIComponent(board.id)}/members?limit=20&offset=0`
    },
    createdAt: iso(board.createdAt),
    createdBy: owner,
    modifiedAt: iso(board.modifiedAt),
    modifiedBy: owner,
    owner,
    team: { id: board.teamId, name: ctx.store.teamName(board.teamId), type: 'team' },
    currentUserMembership: { id: board.ownerId, name: owner.name, role: 'owner', type: 'board_member' },
    viewLink: `${base}/app/board/${encodeURIComponent(board.id)}/`
  }
}

/** Miro's timestamps have no milliseconds: 2024-01-31T10:20:30Z. */
function iso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Links point back at the address the client used. */
function baseUrl (req: IncomingMessage): string {
  return `http://${req.headers.host ?? 'localhost'}`
}

function integerParam (url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpStatusError(400, 'invalidParameters', `${name} must be an integer from ${min} to ${max}`)
  }
  return value
}

function optionalString (body: Record<string, unknown>, name: string, maxLength: number): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length > maxLength) {
    throw new HttpStatusError(400, 'invalidParameters', `${name} must be a string of at most ${maxLength} characters`)
  }
  return value
}
