// Miro's two paging styles: offset (boards, tags) and cursor (items, connectors).
import type { FastifyRequest } from 'fastify'
import { HttpStatusError } from './http'
import { limitRange } from './spec/index'

export function integerParam (req: FastifyRequest, name: string, fallback: number, min: number, max: number): number {
  const raw = (req.query as Record<string, unknown> | undefined)?.[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpStatusError(400, 'invalidParameters', `${name} must be an integer from ${min} to ${max}`)
  }
  return value
}

/** { data, total, size, offset, limit, links, type: 'list' } with first/last/next/prev links. */
/** `opId`: the operation whose `limit` range (in the spec) applies. */
export function offsetPage<T> (req: FastifyRequest, base: string, all: T[], toJson: (x: T) => unknown, opId: string): Record<string, unknown> {
  const offset = integerParam(req, 'offset', 0, 0, Number.MAX_SAFE_INTEGER)
  const { min, max, fallback } = limitRange(opId)
  const limit = integerParam(req, 'limit', fallback, min, max)
  const url = new URL(req.url, base)
  const page = (at: number): string => {
    const link = new URL(url)
    link.searchParams.set('offset', String(at))
    link.searchParams.set('limit', String(limit))
    return link.toString()
  }
  const data = all.slice(offset, offset + limit).map(toJson)
  const lastOffset = Math.max(0, Math.floor((all.length - 1) / limit) * limit)
  return {
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
  }
}

/**
 * { data, total, size, cursor?, limit, links }. The cursor is the opaque id of the next entry,
 * so a page stays right when entries before it are deleted; an unknown cursor is a 400.
 */
export function cursorPage<T extends { id: string }> (req: FastifyRequest, base: string, all: T[], toJson: (x: T) => unknown, opId: string): Record<string, unknown> {
  const { min, max, fallback } = limitRange(opId)
  const limit = integerParam(req, 'limit', fallback, min, max)
  const raw = (req.query as Record<string, unknown> | undefined)?.cursor
  let start = 0
  if (typeof raw === 'string' && raw !== '') {
    const id = Buffer.from(raw, 'base64url').toString('utf8')
    start = all.findIndex((x) => x.id === id)
    if (start < 0) throw new HttpStatusError(400, 'invalidParameters', 'cursor is not a cursor this list gave out (or its entry is gone)')
  }
  const slice = all.slice(start, start + limit)
  const next = all[start + limit]
  const url = new URL(req.url, base)
  const link = (cursor: string | undefined): string => {
    const l = new URL(url)
    l.searchParams.set('limit', String(limit))
    if (cursor === undefined) l.searchParams.delete('cursor')
    else l.searchParams.set('cursor', cursor)
    return l.toString()
  }
  const nextCursor = next ? Buffer.from(next.id).toString('base64url') : undefined
  return {
    data: slice.map(toJson),
    total: all.length,
    size: slice.length,
    ...(nextCursor ? { cursor: nextCursor } : {}),
    limit,
    links: {
      self: link(typeof raw === 'string' && raw !== '' ? raw : undefined),
      ...(nextCursor ? { next: link(nextCursor) } : {})
    }
  }
}
