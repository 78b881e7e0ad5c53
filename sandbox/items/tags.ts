// Tags: /v2/boards/{board_id}/tags, and the tags of an item. Miro lets cards and sticky notes
// carry up to 8 tags.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { boardFor } from '../access'
import { baseUrl, HttpStatusError } from '../http'
import { offsetPage } from '../paging'
import { routeSchema } from '../spec/index'
import type { BoardRecord, Context, ItemRecord, TagRecord } from '../state'
import { itemOf, itemUrl } from './plumbing'

const TAGGABLE = new Set(['card', 'sticky_note'])
const MAX_TAGS = 8

type TagRequest = FastifyRequest<{ Params: { board_id: string, tag_id: string, item_id: string } }>

export function registerTags (app: FastifyInstance, ctx: Context): void {
  app.post('/v2/boards/:board_id/tags', { schema: routeSchema('create-tag') }, async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    const body = req.body as { title: string, fillColor?: string }
    const tag: TagRecord = { id: ctx.store.numericId(), title: body.title, fillColor: body.fillColor ?? 'red' }
    board.content.tags.set(tag.id, tag)
    return res.code(201).send(tagJson(req, board, tag, true))
  })
  app.get('/v2/boards/:board_id/tags', { schema: routeSchema('get-tags-from-board') }, async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(offsetPage(req, baseUrl(req), [...board.content.tags.values()], (t) => tagJson(req, board, t, false), 'get-tags-from-board'))
  })
  app.get('/v2/boards/:board_id/tags/:tag_id', async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(tagJson(req, board, tagOf(board, req.params.tag_id), true))
  })
  app.patch('/v2/boards/:board_id/tags/:tag_id', { schema: routeSchema('update-tag') }, async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    const tag = tagOf(board, req.params.tag_id)
    const body = req.body as { title?: string, fillColor?: string }
    if (body.title !== undefined) tag.title = body.title
    if (body.fillColor !== undefined) tag.fillColor = body.fillColor
    return res.send(tagJson(req, board, tag, true))
  })
  app.delete('/v2/boards/:board_id/tags/:tag_id', async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    const tag = tagOf(board, req.params.tag_id)
    board.content.tags.delete(tag.id)
    for (const item of board.content.items.values()) item.tagIds = item.tagIds.filter((id) => id !== tag.id)
    return res.code(204).send()
  })
  app.get('/v2/boards/:board_id/items/:item_id/tags', async (req: TagRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    const item = itemOf(board, req.params.item_id)
    return res.send({ tags: item.tagIds.map((id) => board.content.tags.get(id)).filter((t) => t !== undefined).map((t) => tagJson(req, board, t, false)) })
  })
}

export function attachTag (board: BoardRecord, item: ItemRecord, tagId: string): void {
  const tag = tagOf(board, tagId)
  if (!TAGGABLE.has(item.type)) throw new HttpStatusError(400, 'invalidParameters', `Only cards and sticky notes take tags, not ${item.type}`)
  if (item.tagIds.includes(tag.id)) return
  if (item.tagIds.length >= MAX_TAGS) throw new HttpStatusError(400, 'invalidParameters', `An item carries at most ${MAX_TAGS} tags`)
  item.tagIds.push(tag.id)
}

export function detachTag (board: BoardRecord, item: ItemRecord, tagId: string): void {
  const tag = tagOf(board, tagId)
  item.tagIds = item.tagIds.filter((id) => id !== tag.id)
}

function tagOf (board: BoardRecord, id: string): TagRecord {
  const tag = board.content.tags.get(id)
  if (!tag) throw new HttpStatusError(404, 'notFound', `Tag ${id} not found on board ${board.id}`)
  return tag
}

function tagJson (req: FastifyRequest, board: BoardRecord, tag: TagRecord, withLinks: boolean): Record<string, unknown> {
  return {
    id: tag.id,
    type: 'tag',
    title: tag.title,
    fillColor: tag.fillColor,
    ...(withLinks ? { links: { self: itemUrl(req, board.id, 'tags', tag.id) } } : {})
  }
}
