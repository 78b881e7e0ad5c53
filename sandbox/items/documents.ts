// Documents by URL: /v2/boards/{board_id}/documents.
import type { ItemKind } from './plumbing'

export const documents: ItemKind = {
  type: 'document',
  path: 'documents',
  ops: { create: 'create-document-item-using-url', get: 'get-document-item', update: 'update-document-item-using-url', delete: 'delete-document-item' },
  defaults: { geometry: { width: 320, height: 452, rotation: 0 } },
  toData: ({ url, ...rest }) => url === undefined ? rest : { ...rest, documentUrl: url }
}
