// What every board item shares: records, positions inside frames, JSON shapes, and the four
// routes (create, get, update, delete) each item type gets. One file per type says only what
// differs (its path, operations, Miro's defaults).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { boardFor } from '../access'
import { baseUrl, HttpStatusError, iso } from '../http'
import { routeSchema } from '../spec/index'
import type { BoardRecord, Context, ItemRecord, ItemType } from '../state'

type Json = Record<string, unknown>

export interface ItemKind {
  type: ItemType
  /** URL segment: sticky_notes, shapes, … */
  path: string
  ops: { create: string, get: string, update: string, delete: string }
  /** Miro's defaults where the spec gives none (sizes, colours). */
  defaults: { data?: Json, style?: Json, geometry?: ItemRecord['geometry'] }
  /** Request data → stored data (images: url → imageUrl). */
  toData?: (data: Json) => Json
}

export interface ItemBody {
  data?: Json
  style?: Json
  position?: { x?: number, y?: number }
  geometry?: ItemRecord['geometry']
  parent?: { id?: string }
}

type ItemRequest = FastifyRequest<{ Params: { board_id: string, item_id: string } }>

export function registerItemKind (app: FastifyInstance, ctx: Context, kind: ItemKind): void {
  const base = `/v2/boards/:board_id/${kind.path}`
  app.post(base, { schema: routeSchema(kind.ops.create) }, async (req: ItemRequest, res) => {
    const { board, userId } = boardFor(ctx, req, req.params.board_id, 'write')
    const item = createItem(ctx, board, userId, kind, req.body as ItemBody)
    return res.code(201).send(typedItemJson(req, board, item, kind.path))
  })
  app.get(`${base}/:item_id`, async (req: ItemRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(typedItemJson(req, board, itemOf(board, req.params.item_id, kind.type), kind.path))
  })
  app.patch(`${base}/:item_id`, { schema: routeSchema(kind.ops.update) }, async (req: ItemRequest, res) => {
    const { board, userId } = boardFor(ctx, req, req.params.board_id, 'write')
    const item = itemOf(board, req.params.item_id, kind.type)
    updateItem(ctx, board, userId, item, req.body as ItemBody, kind)
    return res.send(typedItemJson(req, board, item, kind.path))
  })
  app.delete(`${base}/:item_id`, async (req: ItemRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    deleteItem(board, itemOf(board, req.params.item_id, kind.type))
    return res.code(204).send()
  })
}

/** The item, or 404 when it is not on this board (or not of this type, for the typed routes). */
export function itemOf (board: BoardRecord, id: string, type?: ItemType): ItemRecord {
  const item = board.content.items.get(id)
  if (!item || (type !== undefined && item.type !== type)) {
    throw new HttpStatusError(404, 'notFound', `Item ${id} not found on board ${board.id}`)
  }
  return item
}

function createItem (ctx: Context, board: BoardRecord, userId: string, kind: ItemKind, body: ItemBody = {}): ItemRecord {
  const now = ctx.store.now()
  const item: ItemRecord = {
    id: ctx.store.numericId(),
    type: kind.type,
    data: { ...kind.defaults.data, ...(kind.toData ? kind.toData(body.data ?? {}) : body.data) },
    ...(kind.defaults.style || body.style ? { style: { ...kind.defaults.style, ...body.style } } : {}),
    position: { x: body.position?.x ?? 0, y: body.position?.y ?? 0 },
    geometry: { ...kind.defaults.geometry, ...body.geometry },
    tagIds: [],
    createdAt: now,
    createdBy: userId,
    modifiedAt: now,
    modifiedBy: userId
  }
  if (body.parent?.id !== undefined) item.parentId = frameOf(board, body.parent.id, item).id
  board.content.items.set(item.id, item)
  touch(board, now, userId)
  return item
}

/** PATCH: what the body names changes, the rest stays (the PATCH schemas carry no defaults). */
export function updateItem (ctx: Context, board: BoardRecord, userId: string, item: ItemRecord, body: ItemBody = {}, kind?: ItemKind): void {
  if (body.data) item.data = { ...item.data, ...(kind?.toData ? kind.toData(body.data) : body.data) }
  if (body.style) item.style = { ...item.style, ...body.style }
  if (body.geometry) item.geometry = { ...item.geometry, ...body.geometry }
  if (body.position) item.position = { x: body.position.x ?? item.position.x, y: body.position.y ?? item.position.y }
  if (body.parent?.id !== undefined) item.parentId = frameOf(board, body.parent.id, item).id
  const now = ctx.store.now()
  item.modifiedAt = now
  item.modifiedBy = userId
  touch(board, now, userId)
}

/** Deleting an item takes its connectors with it; a frame's children stay, on the canvas. */
export function deleteItem (board: BoardRecord, item: ItemRecord): void {
  board.content.items.delete(item.id)
  for (const [id, c] of board.content.connectors) {
    if (c.startItem.id === item.id || c.endItem.id === item.id) board.content.connectors.delete(id)
  }
  for (const child of board.content.items.values()) {
    if (child.parentId === item.id) {
      const { x, y } = canvasPosition(board, child)
      delete child.parentId
      child.position = { x, y }
    }
  }
}

function frameOf (board: BoardRecord, id: string, child: ItemRecord): ItemRecord {
  const frame = board.content.items.get(id)
  if (!frame || frame.type !== 'frame') throw new HttpStatusError(400, 'invalidParameters', `parent.id ${id} is not a frame on this board`)
  if (child.type === 'frame') throw new HttpStatusError(400, 'invalidParameters', 'A frame cannot be inside another frame')
  return frame
}

function touch (board: BoardRecord, now: number, userId: string): void {
  board.modifiedAt = now
  board.modifiedBy = userId
}

/** Where the item's centre is on the canvas (children are stored relative to their frame's top left). */
export function canvasPosition (board: BoardRecord, item: ItemRecord): { x: number, y: number } {
  const parent = item.parentId === undefined ? undefined : board.content.items.get(item.parentId)
  if (!parent) return item.position
  return {
    x: parent.position.x - (parent.geometry.width ?? 0) / 2 + item.position.x,
    y: parent.position.y - (parent.geometry.height ?? 0) / 2 + item.position.y
  }
}

function common (req: FastifyRequest, board: BoardRecord, item: ItemRecord): Json {
  return {
    id: item.id,
    type: item.type,
    data: item.data,
    ...(item.style ? { style: item.style } : {}),
    position: { x: item.position.x, y: item.position.y, origin: 'center', relativeTo: item.parentId === undefined ? 'canvas_center' : 'parent_top_left' },
    geometry: item.geometry,
    createdAt: iso(item.createdAt),
    createdBy: { id: item.createdBy, type: 'user' },
    modifiedAt: iso(item.modifiedAt),
    modifiedBy: { id: item.modifiedBy, type: 'user' }
  }
}

export function itemUrl (req: FastifyRequest, boardId: string, segment: string, id: string): string {
  return `${baseUrl(req)}/v2/boards/${encodeURIComponent(boardId)}/${segment}/${encodeURIComponent(id)}`
}

/** What the typed routes answer (StickyNoteItem, ShapeItem, …): parent and links with URLs. */
export function typedItemJson (req: FastifyRequest, board: BoardRecord, item: ItemRecord, segment: string): Json {
  return {
    ...common(req, board, item),
    ...(item.parentId === undefined ? {} : { parent: { id: item.parentId, links: { self: itemUrl(req, board.id, 'items', item.parentId) } } }),
    links: { self: itemUrl(req, board.id, segment, item.id) }
  }
}

/** What the generic item routes answer (GenericItem). */
export function genericItemJson (req: FastifyRequest, board: BoardRecord, item: ItemRecord): Json {
  return {
    ...common(req, board, item),
    ...(item.parentId === undefined ? {} : { parent: { id: item.parentId } }),
    links: { self: itemUrl(req, board.id, 'items', item.id) }
  }
}
