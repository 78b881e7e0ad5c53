// Who may do what on a board, as in Miro: members read, editors and above write; a board you are
// not a member of looks the same as a missing one (404).
import type { FastifyRequest } from 'fastify'
import { requireToken } from './auth'
import { HttpStatusError } from './http'
import type { BoardRecord, Context } from './state'

const WRITERS = new Set(['editor', 'coowner', 'owner'])

export interface BoardAccess {
  board: BoardRecord
  userId: string
}

export function boardFor (ctx: Context, req: FastifyRequest, boardId: string, need: 'read' | 'write'): BoardAccess {
  const { grant } = requireToken(ctx, req)
  const board = ctx.store.boards.get(boardId)
  const role = board?.members.get(grant.userId)
  if (!board || !role) throw new HttpStatusError(404, 'notFound', `Board ${boardId} not found`)
  if (need === 'write' && !WRITERS.has(role)) {
    throw new HttpStatusError(403, 'forbidden', `A board ${role} cannot change board ${boardId}`)
  }
  return { board, userId: grant.userId }
}
