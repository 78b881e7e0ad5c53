// Embeds: /v2/boards/{board_id}/embeds.
import type { ItemKind } from './plumbing'

export const embeds: ItemKind = {
  type: 'embed',
  path: 'embeds',
  ops: { create: 'create-embed-item', get: 'get-embed-item', update: 'update-embed-item', delete: 'delete-embed-item' },
  defaults: { data: { mode: 'inline' }, geometry: { width: 480, height: 270 } },
  // The sandbox fetches nothing: the provider is named after the URL's host.
  toData: (data) => typeof data.url === 'string' ? { ...data, providerUrl: safeOrigin(data.url), providerName: safeHost(data.url), contentType: 'link' } : data
}

function safeOrigin (url: string): string {
  try { return new URL(url).origin } catch { return '' }
}

function safeHost (url: string): string {
  try { return new URL(url).host } catch { return '' }
}
