// The generic item routes: list (type filter, items of a frame, items with a tag), get,
// position/parent update, delete, and attaching/detaching tags (same paths, told apart by tag_id).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { boardFor } from '../access'
import { baseUrl, HttpStatusError } from '../http'
import { cursorPage, offsetPage } from '../paging'
import { routeSchema } from '../spec/index'
import type { Context } from '../state'
import { deleteItem, genericItemJson, itemOf, updateItem, type ItemBody } from './plumbing'
import { attachTag, detachTag } from './tags'

type Query = Record<string, string | undefined>
type ItemsRequest = FastifyRequest<{ Params: { board_id: string, item_id: string }, Querystring: Query }>

export function registerItems (app: FastifyInstance, ctx: Context): void {
  app.get('/v2/boards/:board_id/items', { schema: routeSchema('get-items', 'get-items-within-frame', 'get-items-by-tag') }, async (req: ItemsRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    const { type, parent_item_id: parentId, tag_id: tagId } = req.query
    let all = [...board.content.items.values()]
    if (tagId !== undefined) {
      // get-items-by-tag: offset paging (ItemPagedResponse)
      all = all.filter((i) => i.tagIds.includes(tagId))
      return res.send(offsetPage(req, baseUrl(req), all, (i) => genericItemJson(req, board, i), 'get-items-by-tag'))
    }
    if (parentId !== undefined) {
      const frame = board.content.items.get(parentId)
      if (!frame || frame.type !== 'frame') throw new HttpStatusError(404, 'notFound', `Frame ${parentId} not found on board ${board.id}`)
      all = all.filter((i) => i.parentId === parentId)
    }
    if (type !== undefined) all = all.filter((i) => i.type === type)
    return res.send(cursorPage(req, baseUrl(req), all, (i) => genericItemJson(req, board, i), parentId === undefined ? 'get-items' : 'get-items-within-frame'))
  })
  app.get('/v2/boards/:board_id/items/:item_id', async (req: ItemsRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(genericItemJson(req, board, itemOf(board, req.params.item_id)))
  })
  app.patch('/v2/boards/:board_id/items/:item_id', { schema: routeSchema('update-item-position-or-parent') }, async (req: ItemsRequest, res) => {
    const { board, userId } = boardFor(ctx, req, req.params.board_id, 'write')
    const item = itemOf(board, req.params.item_id)
    updateItem(ctx, board, userId, item, req.body as ItemBody)
    return res.send(genericItemJson(req, board, item))
  })
  app.delete('/v2/boards/:board_id/items/:item_id', { schema: routeSchema('delete-item', 'remove-tag-from-item') }, async (req: ItemsRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    const item = itemOf(board, req.params.item_id)
    if (req.query.tag_id !== undefined) detachTag(board, item, req.query.tag_id)
    else deleteItem(board, item)
    return res.code(204).send()
  })
  app.post('/v2/boards/:board_id/items/:item_id', { schema: routeSchema('attach-tag-to-item') }, async (req: ItemsRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    const item = itemOf(board, req.params.item_id)
    if (!req.query.tag_id) throw new HttpStatusError(400, 'invalidParameters', 'tag_id is required')
    attachTag(board, item, req.query.tag_id)
    return res.code(204).send()
  })
}
