// Frames: /v2/boards/{board_id}/frames.
import type { ItemKind } from './plumbing'

export const frames: ItemKind = {
  type: 'frame',
  path: 'frames',
  ops: { create: 'create-frame-item', get: 'get-frame-item', update: 'update-frame-item', delete: 'delete-frame-item' },
  // Items join a frame through their own parent field (see plumbing.ts); a frame has none.
  defaults: { data: { format: 'custom', title: 'Sample frame title', type: 'freeform', showContent: true }, style: { fillColor: '#ffffffff' }, geometry: { width: 800, height: 450 } }
}
