// Connectors: lines between two items of the same board, /v2/boards/{board_id}/connectors.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { boardFor } from '../access'
import { baseUrl, HttpStatusError, iso } from '../http'
import { cursorPage } from '../paging'
import { routeSchema } from '../spec/index'
import type { BoardRecord, ConnectorRecord, Context } from '../state'
import { itemUrl } from './plumbing'

type End = ConnectorRecord['startItem']
interface ConnectorBody {
  startItem?: End
  endItem?: End
  shape?: string
  captions?: Array<Record<string, unknown>>
  style?: Record<string, unknown>
}
type ConnectorRequest = FastifyRequest<{ Params: { board_id: string, connector_id: string } }>

const DEFAULT_STYLE = { strokeColor: '#000000', strokeWidth: '1.0', strokeStyle: 'normal', startStrokeCap: 'none', endStrokeCap: 'stealth', fontSize: '14', textOrientation: 'horizontal', color: '#1a1a1a' }

export function registerConnectors (app: FastifyInstance, ctx: Context): void {
  const base = '/v2/boards/:board_id/connectors'
  app.post(base, { schema: routeSchema('create-connector') }, async (req: ConnectorRequest, res) => {
    const { board, userId } = boardFor(ctx, req, req.params.board_id, 'write')
    const body = req.body as Required<Pick<ConnectorBody, 'startItem' | 'endItem'>> & ConnectorBody
    const now = ctx.store.now()
    const connector: ConnectorRecord = {
      id: ctx.store.numericId(),
      startItem: end(board, body.startItem, 'startItem'),
      endItem: end(board, body.endItem, 'endItem'),
      shape: body.shape ?? 'curved',
      captions: body.captions ?? [],
      style: { ...DEFAULT_STYLE, ...body.style },
      createdAt: now,
      createdBy: userId,
      modifiedAt: now,
      modifiedBy: userId
    }
    if (connector.startItem.id === connector.endItem.id) throw new HttpStatusError(400, 'invalidParameters', 'A connector joins two different items')
    board.content.connectors.set(connector.id, connector)
    // The spec answers create-connector with 200, not 201.
    return res.code(200).send(connectorJson(req, board, connector))
  })
  app.get(base, { schema: routeSchema('get-connectors') }, async (req: ConnectorRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(cursorPage(req, baseUrl(req), [...board.content.connectors.values()], (c) => connectorJson(req, board, c), 'get-connectors'))
  })
  app.get(`${base}/:connector_id`, async (req: ConnectorRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'read')
    return res.send(connectorJson(req, board, connectorOf(board, req.params.connector_id)))
  })
  app.patch(`${base}/:connector_id`, { schema: routeSchema('update-connector') }, async (req: ConnectorRequest, res) => {
    const { board, userId } = boardFor(ctx, req, req.params.board_id, 'write')
    const connector = connectorOf(board, req.params.connector_id)
    const body = req.body as ConnectorBody
    if (body.startItem) connector.startItem = end(board, { ...connector.startItem, ...body.startItem }, 'startItem')
    if (body.endItem) connector.endItem = end(board, { ...connector.endItem, ...body.endItem }, 'endItem')
    if (body.shape) connector.shape = body.shape
    if (body.captions) connector.captions = body.captions
    if (body.style) connector.style = { ...connector.style, ...body.style }
    connector.modifiedAt = ctx.store.now()
    connector.modifiedBy = userId
    return res.send(connectorJson(req, board, connector))
  })
  app.delete(`${base}/:connector_id`, async (req: ConnectorRequest, res) => {
    const { board } = boardFor(ctx, req, req.params.board_id, 'write')
    board.content.connectors.delete(connectorOf(board, req.params.connector_id).id)
    return res.code(204).send()
  })
}

function end (board: BoardRecord, given: End, name: string): End {
  if (!given.id || !board.content.items.has(given.id)) throw new HttpStatusError(400, 'invalidParameters', `${name}.id must be an item on board ${board.id}`)
  return given
}

function connectorOf (board: BoardRecord, id: string): ConnectorRecord {
  const c = board.content.connectors.get(id)
  if (!c) throw new HttpStatusError(404, 'notFound', `Connector ${id} not found on board ${board.id}`)
  return c
}

function connectorJson (req: FastifyRequest, board: BoardRecord, c: ConnectorRecord): Record<string, unknown> {
  const endJson = (e: End): Record<string, unknown> => ({
    id: e.id,
    ...(e.position ? { position: e.position } : {}),
    links: { self: itemUrl(req, board.id, 'items', e.id) }
  })
  return {
    id: c.id,
    type: 'connector',
    isSupported: true,
    shape: c.shape,
    startItem: endJson(c.startItem),
    endItem: endJson(c.endItem),
    captions: c.captions,
    style: c.style,
    createdAt: iso(c.createdAt),
    createdBy: { id: c.createdBy, type: 'user' },
    modifiedAt: iso(c.modifiedAt),
    modifiedBy: { id: c.modifiedBy, type: 'user' },
    links: { self: itemUrl(req, board.id, 'connectors', c.id) }
  }
}
