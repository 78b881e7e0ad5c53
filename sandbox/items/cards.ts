// Cards: /v2/boards/{board_id}/cards.
import type { ItemKind } from './plumbing'

export const cards: ItemKind = {
  type: 'card',
  path: 'cards',
  ops: { create: 'create-card-item', get: 'get-card-item', update: 'update-card-item', delete: 'delete-card-item' },
  defaults: { data: { title: 'sample card item', description: '' }, style: { cardTheme: '#2d9bf0' }, geometry: { width: 320, height: 94, rotation: 0 } }
}
