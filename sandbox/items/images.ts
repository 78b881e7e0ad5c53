// Images by URL: /v2/boards/{board_id}/images (the file upload variant is in uploads.ts).
import type { ItemKind } from './plumbing'

export const images: ItemKind = {
  type: 'image',
  path: 'images',
  ops: { create: 'create-image-item-using-url', get: 'get-image-item', update: 'update-image-item-using-url', delete: 'delete-image-item' },
  defaults: { geometry: { width: 320, height: 240, rotation: 0 } },
  // Created from data.url; Miro answers with data.imageUrl.
  toData: ({ url, ...rest }) => url === undefined ? rest : { ...rest, imageUrl: url }
}
