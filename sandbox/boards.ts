// The boards slice of the REST API: GET/POST /v2/boards and GET /v2/boards/{id}, per member, in memory.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { boardFor } from './access'
import { requireToken } from './auth'
import { baseUrl, HttpStatusError, iso } from './http'
import { offsetPage } from './paging'
import type { BoardRecord, Context } from './state'

type Query = Record<string, string | undefined>

export function listBoards (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const { grant } = requireToken(ctx, req)
  const q = req.query as Query
  let all = ctx.store.boardsOf(grant.userId)
  // The spec: with team_id or project_id, query and owner are ignored.
  if (q.team_id) all = all.filter((b) => b.teamId === q.team_id)
  if (q.project_id) all = all.filter((b) => b.projectId === q.project_id)
  if (!q.team_id && !q.project_id) {
    const query = q.query?.toLowerCase()
    if (query) all = all.filter((b) => b.name.toLowerCase().includes(query) || b.description.toLowerCase().includes(query))
    if (q.owner) all = all.filter((b) => b.ownerId === q.owner)
  }
  all = sortBoards(all, q.sort ?? 'default', Boolean(q.team_id))
  return res.send(offsetPage(req, baseUrl(req), all, (b) => boardJson(ctx, req, b, grant.userId), 'get-boards'))
}

/**
 * default: last_created with team_id, else last_opened. Boards nobody opened (the sandbox's
 * /app/board/ page opens one) keep creation order, after the opened ones.
 */
function sortBoards (boards: BoardRecord[], sort: string, byTeam: boolean): BoardRecord[] {
  const mode = sort === 'default' ? (byTeam ? 'last_created' : 'last_opened') : sort
  const list = [...boards]
  switch (mode) {
    case 'last_created': return list.sort((a, b) => b.createdAt - a.createdAt)
    case 'last_modified': return list.sort((a, b) => b.modifiedAt - a.modifiedAt)
    case 'alphabetically': return list.sort((a, b) => a.name.localeCompare(b.name))
    default: return list.sort((a, b) => (b.lastOpened?.at ?? -Infinity) - (a.lastOpened?.at ?? -Infinity))
  }
}

interface BoardChanges {
  name: string
  description?: string
  teamId?: string
  projectId?: string
  policy?: Record<string, Record<string, unknown>>
}

export function createBoard (ctx: Context, req: FastifyRequest, res: FastifyReply): FastifyReply {
  const { grant } = requireToken(ctx, req)
  // Shape, name length (1–60) and policy enums were checked by the route schema (BoardChanges).
  const body = (req.body ?? { name: 'Untitled' }) as BoardChanges
  const owner = ctx.store.findUser(grant.userId)
  if (!owner) throw new HttpStatusError(404, 'notFound', 'User not found')
  if (body.description !== undefined && (typeof body.description !== 'string' || body.description.length > 300)) {
    throw new HttpStatusError(400, 'invalidParameters', 'description must be a string of at most 300 characters')
  }
  if (body.teamId !== undefined && !ctx.store.knowsTeam(body.teamId)) {
    throw new HttpStatusError(404, 'notFound', `Team ${body.teamId} not found`)
  }
  const board = ctx.store.createBoard(owner, body.name, body.description ?? '', {
    ...(body.teamId === undefined ? {} : { teamId: body.teamId }),
    ...(body.projectId === undefined ? {} : { projectId: body.projectId }),
    ...(body.policy === undefined ? {} : { policy: body.policy })
  })
  return res.code(201).send(boardJson(ctx, req, board, grant.userId))
}

export function getBoard (ctx: Context, req: FastifyRequest<{ Params: { board_id: string } }>, res: FastifyReply): FastifyReply {
  const { board, userId } = boardFor(ctx, req, req.params.board_id, 'read')
  const json = boardJson(ctx, req, board, userId)
  if (board.lastOpened) {
    json.lastOpenedAt = iso(board.lastOpened.at)
    json.lastOpenedBy = person(ctx, board.lastOpened.by)
  }
  return res.send(json)
}

function person (ctx: Context, id: string): { id: string, name: string, type: 'user' } {
  return { id, name: ctx.store.findUser(id)?.name ?? '', type: 'user' }
}

export function boardJson (ctx: Context, req: FastifyRequest, board: BoardRecord, viewerId: string): Record<string, unknown> {
  const base = baseUrl(req)
  const owner = person(ctx, board.ownerId)
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
    modifiedBy: person(ctx, board.modifiedBy),
    owner,
    policy: board.policy,
    ...(board.projectId === undefined ? {} : { project: { id: board.projectId } }),
    team: { id: board.teamId, name: ctx.store.teamName(board.teamId), type: 'team' },
    currentUserMembership: { ...person(ctx, viewerId), role: board.members.get(viewerId) ?? 'viewer', type: 'board_member' },
    viewLink: `${base}/app/board/${encodeURIComponent(board.id)}/`
  }
}
