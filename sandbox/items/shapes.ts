// Shapes: /v2/boards/{board_id}/shapes.
import type { ItemKind } from './plumbing'

export const shapes: ItemKind = {
  type: 'shape',
  path: 'shapes',
  ops: { create: 'create-shape-item', get: 'get-shape-item', update: 'update-shape-item', delete: 'delete-shape-item' },
  defaults: {
    data: { content: '', shape: 'rectangle' },
    style: { fillColor: '#ffffff', fillOpacity: '1.0', fontFamily: 'arial', fontSize: '14', borderColor: '#1a1a1a', borderWidth: '2.0', borderOpacity: '1.0', borderStyle: 'normal', textAlign: 'center', textAlignVertical: 'middle', color: '#1a1a1a' },
    geometry: { width: 100, height: 100, rotation: 0 }
  }
}
