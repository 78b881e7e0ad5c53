// Sticky notes: /v2/boards/{board_id}/sticky_notes.
import type { ItemKind } from './plumbing'

export const stickyNotes: ItemKind = {
  type: 'sticky_note',
  path: 'sticky_notes',
  ops: { create: 'create-sticky-note-item', get: 'get-sticky-note-item', update: 'update-sticky-note-item', delete: 'delete-sticky-note-item' },
  // Miro's defaults for a new sticky note: light yellow, centred text, 199 × 228.
  defaults: { data: { content: '', shape: 'square' }, style: { fillColor: 'light_yellow', textAlign: 'center', textAlignVertical: 'top' }, geometry: { width: 199, height: 228 } }
}
