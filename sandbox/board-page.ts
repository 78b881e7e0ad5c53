// GET /app/board/<id>/: the board as a person sees it, so a developer can look at what their
// app did. Sticky notes are coloured notes at their positions; other items are outlined boxes
// with their type. The sandbox has no browser login: whoever has the link sees the board, as
// with a board shared by link (it is loopback only). Opening it sets lastOpenedAt, as in Miro.
import type { FastifyInstance } from 'fastify'
import { HttpStatusError, sendHtml } from './http'
import { canvasPosition } from './items/plumbing'
import { escapeHtml } from './pages'
import type { BoardRecord, Context, ItemRecord } from './state'

// Miro's sticky-note palette (StickyNoteStyle.fillColor).
const NOTE_COLOURS: Record<string, string> = {
  gray: '#e6e6e6',
  light_yellow: '#fff9b1',
  yellow: '#f5d128',
  orange: '#ff9d48',
  light_green: '#d5f692',
  green: '#c9df56',
  dark_green: '#93d275',
  cyan: '#67c6c0',
  light_pink: '#ffcee0',
  pink: '#ea94bb',
  violet: '#c6a2d2',
  red: '#f0939d',
  light_blue: '#a6ccf5',
  blue: '#6cd8fa',
  dark_blue: '#9ea9ff',
  black: '#000000'
}
const MARGIN = 40

export function registerBoardPage (app: FastifyInstance, ctx: Context): void {
  app.get<{ Params: { board_id: string } }>('/app/board/:board_id/', (req, res) => {
    const board = ctx.store.boards.get(req.params.board_id)
    if (!board) throw new HttpStatusError(404, 'notFound', `Board ${req.params.board_id} not found`)
    board.lastOpened = { at: ctx.store.now(), by: board.ownerId }
    return sendHtml(res, 200, boardPage(board))
  })
}

interface Box { item: ItemRecord, x: number, y: number, w: number, h: number }

function boardPage (board: BoardRecord): string {
  const boxes: Box[] = [...board.content.items.values()].map((item) => {
    const { x, y } = canvasPosition(board, item)
    const w = item.geometry.width ?? 200
    const h = item.geometry.height ?? (item.type === 'text' ? 40 : w)
    return { item, x: x - w / 2, y: y - h / 2, w, h }
  })
  const minX = Math.min(0, ...boxes.map((b) => b.x))
  const minY = Math.min(0, ...boxes.map((b) => b.y))
  const width = Math.max(600, ...boxes.map((b) => b.x + b.w - minX)) + 2 * MARGIN
  const height = Math.max(400, ...boxes.map((b) => b.y + b.h - minY)) + 2 * MARGIN
  // Frames first, so what is inside them is drawn on top.
  const ordered = [...boxes].sort((a, b) => Number(b.item.type === 'frame') - Number(a.item.type === 'frame'))
  const items = ordered.map((b) => itemHtml(b, b.x - minX + MARGIN, b.y - minY + MARGIN)).join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(board.name)} – Miro sandbox</title>
<style>
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #050038; background: #f4f4f6 }
  header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #e0e0e8 }
  header .logo { background: #ffd02f; font-weight: 700; padding: 2px 8px; border-radius: 4px; margin-right: 8px }
  .canvas { position: relative; margin: 20px; background: #fff; border-radius: 8px;
    background-image: radial-gradient(#d8d8e0 1px, transparent 1px); background-size: 24px 24px }
  .item { position: absolute; box-sizing: border-box; overflow: hidden; padding: 8px; word-break: break-word }
  .sticky_note { box-shadow: 0 2px 6px rgba(5, 0, 56, .2); display: flex; align-items: center; justify-content: center; text-align: center }
  .frame { border: 1px solid #8c8ca1; background: rgba(255, 255, 255, .6) }
  .frame > .title { position: absolute; top: -22px; left: 0; font-size: 12px; color: #6b6b85 }
  .other { border: 1px dashed #8c8ca1; color: #6b6b85; font-size: 12px }
  .empty { padding: 40px; color: #6b6b85 }
</style>
</head>
<body>
<header><span class="logo">miro sandbox</span><strong>${escapeHtml(board.name)}</strong> · ${boxes.length} item${boxes.length === 1 ? '' : 's'}</header>
<main class="canvas" style="width:${width}px;height:${height}px" data-board-id="${escapeHtml(board.id)}">
${items || '<p class="empty">This board is empty.</p>'}
</main>
</body>
</html>
`
}

function itemHtml (box: Box, left: number, top: number): string {
  const { item } = box
  const place = `left:${left}px;top:${top}px;width:${box.w}px;height:${box.h}px`
  const attrs = `data-item-id="${escapeHtml(item.id)}" data-type="${item.type}"`
  const text = stripTags(String(item.data.content ?? item.data.title ?? ''))
  if (item.type === 'sticky_note') {
    const colour = NOTE_COLOURS[String(item.style?.fillColor ?? 'light_yellow')] ?? NOTE_COLOURS.light_yellow
    return `<div class="item sticky_note" ${attrs} style="${place};background:${colour}">${escapeHtml(text)}</div>`
  }
  if (item.type === 'frame') {
    return `<div class="item frame" ${attrs} style="${place}"><span class="title">${escapeHtml(text)}</span></div>`
  }
  return `<div class="item other" ${attrs} style="${place}">${item.type}${text ? `: ${escapeHtml(text)}` : ''}</div>`
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' }

/** Miro content is HTML (<p>…</p>); the page shows its text (escaped again by the caller). */
function stripTags (html: string): string {
  return html.replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/gi, (m, e: string) => {
      if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m
      const code = Number(e[1] === 'x' || e[1] === 'X' ? '0' + e.slice(1) : e.slice(1))
      return code <= 0x10ffff ? String.fromCodePoint(code) : m
    })
    .replace(/\s+/g, ' ').trim()
}
