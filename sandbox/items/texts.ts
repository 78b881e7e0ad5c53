// Texts: /v2/boards/{board_id}/texts (data.content is required by the spec's TextData).
import type { ItemKind } from './plumbing'

export const texts: ItemKind = {
  type: 'text',
  path: 'texts',
  ops: { create: 'create-text-item', get: 'get-text-item', update: 'update-text-item', delete: 'delete-text-item' },
  defaults: { style: { color: '#1a1a1a', fillOpacity: '1.0', fontFamily: 'arial', fontSize: '14', textAlign: 'left' }, geometry: { width: 200, rotation: 0 } }
}
