// App cards: /v2/boards/{board_id}/app_cards.
import type { ItemKind } from './plumbing'

export const appCards: ItemKind = {
  type: 'app_card',
  path: 'app_cards',
  ops: { create: 'create-app-card-item', get: 'get-app-card-item', update: 'update-app-card-item', delete: 'delete-app-card-item' },
  defaults: { data: { title: 'sample app card item', description: '', fields: [], owned: true, status: 'disconnected' }, style: { fillColor: '#2d9bf0' }, geometry: { width: 320, height: 94, rotation: 0 } }
}
