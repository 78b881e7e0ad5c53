// Contract test: every answer the sandbox gives (success and error, at least one request per
// operation and status) is checked against Miro's OpenAPI document (the vendored extract in
// sandbox/spec/): the status must be one the operation declares, the body must match its schema.
import t from 'tap'
import Ajv, { type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { componentsSchema, miroSpec, SPEC_ID, type JsonSchema } from '../sandbox/spec/index'
import { sandboxLogin } from './helpers/sandbox-login'

type Json = Record<string, any>

/**
 * Statuses the sandbox gives that the spec leaves out of these operations, with their schema:
 * Miro answers 401 to a missing or bad token and 403 to a member who may not write, on every
 * endpoint, but the extract's operations declare neither (their #/components/responses/401 and
 * 403 references exist only on other operations, and dangle).
 */
const UNDECLARED: Record<string, string> = { 401: 'Error401', 403: 'ErrorResponse' }
/** Error answers whose spec reference dangles are checked against Miro's error schemas. */
const ERROR_SCHEMAS: Record<string, string> = { 400: 'Error400', 404: 'Error404', 409: 'Error409', 429: 'Error429' }

const ajv = new Ajv({ strict: false, allErrors: true })
addFormats(ajv)
ajv.addFormat('int64', /^-?\d+$/)
ajv.addFormat('int32', true)
ajv.addFormat('double', true)
const components = componentsSchema() as { components: { schemas: Record<string, JsonSchema> } }
// WidgetDataOutput is a oneOf of nine data schemas that all accept e.g. { content } (none is
// closed): no item's data can match exactly one. The spec means "one of these shapes": anyOf.
const widgetData = components.components.schemas.WidgetDataOutput as { oneOf?: unknown[], anyOf?: unknown[] }
components.components.schemas.WidgetDataOutput = { type: 'object', anyOf: widgetData.oneOf ?? widgetData.anyOf }
ajv.addSchema(components)

const validators = new Map<string, ValidateFunction>()
function validatorFor (schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema)
  let v = validators.get(key)
  if (!v) {
    v = ajv.compile(JSON.parse(key.replaceAll('"$ref":"#/', `"$ref":"${SPEC_ID}#/`)))
    validators.set(key, v)
  }
  return v
}
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` })

/** Every (operation, status) a request was checked for. */
const seen = new Set<string>()

interface Call {
  token?: string | undefined
  body?: unknown
  query?: Record<string, string>
  headers?: Record<string, string>
  raw?: string | Buffer
}

let sb: Sandbox

async function call (opId: string, path: string, opts: Call = {}): Promise<{ status: number, body: Json }> {
  const op = miroSpec.operations[opId]
  if (!op) throw new Error(`no operation ${opId}`)
  const template = new RegExp('^' + op.path.replace(/\{[^}]+\}/g, '[^/]+') + '$')
  if (!template.test(path)) throw new Error(`${path} is not ${op.path}`)
  const url = new URL(path, sb.url)
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  let payload: string | Buffer | undefined = opts.raw
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(opts.body)
  }
  const res = await fetch(url, { method: op.method, headers, ...(payload === undefined ? {} : { body: payload }) })
  const text = await res.text()
  const body = text ? JSON.parse(text) as Json : {}
  const status = String(res.status)
  const declared = status in op.responses
  t.ok(declared || status in UNDECLARED, `${opId}: ${status} is a status the spec declares (${Object.keys(op.responses).join(', ')})`)
  const schema = op.responses[status] ?? (ERROR_SCHEMAS[status] ? ref(ERROR_SCHEMAS[status]) : undefined) ?? (UNDECLARED[status] ? ref(UNDECLARED[status]) : undefined)
  if (res.status === 204) {
    t.equal(text, '', `${opId}: 204 has no body`)
  } else if (schema) {
    const validate = validatorFor(schema)
    const ok = validate(body)
    t.ok(ok, `${opId} ${status} matches the spec`, ok ? {} : { errors: validate.errors?.slice(0, 5), body })
  } else if (res.status >= 400) {
    const validate = validatorFor(ref('ErrorResponse'))
    t.ok(validate(body), `${opId} ${status}: a Miro error body`, { body })
  }
  if (res.status >= 400) t.match(body, { type: 'error', status: res.status, message: String }, `${opId} ${status}: Miro's error fields`)
  seen.add(`${opId} ${status}`)
  return { status: res.status, body }
}

t.before(async () => {
  sb = await startSandbox({ users: [{ name: 'Ada' }, { name: 'Bob' }] })
})
t.teardown(() => sb.close())

t.test('the contract, operation by operation', async (t) => {
  const ada = await sandboxLogin(sb, { userName: 'Ada' })
  const bob = await sandboxLogin(sb, { userName: 'Bob' })
  const A = ada.access_token
  const eq = (got: { status: number }, want: number, what: string): void => { t.equal(got.status, want, what) }

  // OAuth
  eq(await call('token-info', '/v1/oauth-token', { token: A }), 200, 'token info')
  eq(await call('token-info', '/v1/oauth-token', { token: 'made-up' }), 400, 'token info, bad token')

  // Boards
  const board = (await call('create-board', '/v2/boards', { token: A, body: { name: 'Contract', description: 'spec check', policy: { sharingPolicy: { access: 'view' } } } })).body
  eq({ status: board.id ? 201 : 0 }, 201, 'board created')
  eq(await call('create-board', '/v2/boards', { token: A, body: { name: '' } }), 400, 'empty name refused (minLength 1)')
  eq(await call('create-board', '/v2/boards', { token: A, body: { name: 'x', teamId: '999' } }), 404, 'unknown team')
  eq(await call('create-board', '/v2/boards', { body: { name: 'x' } }), 401, 'no token')
  eq(await call('get-boards', '/v2/boards', { token: A, query: { query: 'spec', sort: 'alphabetically' } }), 200, 'list boards')
  eq(await call('get-boards', '/v2/boards', { token: A, query: { limit: '51' } }), 400, 'limit above 50')
  eq(await call('get-boards', '/v2/boards', { token: A, query: { sort: 'sideways' } }), 400, 'unknown sort')
  eq(await call('get-specific-board', `/v2/boards/${board.id}`, { token: A }), 200, 'get board')
  eq(await call('get-specific-board', `/v2/boards/${board.id}`, { token: bob.access_token }), 404, "someone else's board")
  const B = `/v2/boards/${encodeURIComponent(board.id)}`

  // Typed items: create, get, update, delete, and their errors.
  const kinds: Array<{ ops: string, path: string, body: Json, bad: Json, patch: Json, badPatch: Json }> = [
    { ops: 'sticky-note', path: 'sticky_notes', body: { data: { content: '<p>Hi</p>' }, style: { fillColor: 'light_green' }, position: { x: 10, y: 20 } }, bad: { style: { fillColor: 'chartreuse' } }, patch: { data: { content: 'Bye' } }, badPatch: { data: { shape: 'blob' } } },
    { ops: 'shape', path: 'shapes', body: { data: { shape: 'circle', content: 'O' } }, bad: { style: { borderStyle: 'wavy' } }, patch: { style: { fillColor: '#ff0000' } }, badPatch: { geometry: { width: 'wide' } } },
    { ops: 'text', path: 'texts', body: { data: { content: 'Words' } }, bad: { data: {} }, patch: { data: { content: 'More' } }, badPatch: { position: { x: 'left' } } },
    { ops: 'card', path: 'cards', body: { data: { title: 'Task' } }, bad: { data: { dueDate: 'soon' } }, patch: { data: { title: 'Done' } }, badPatch: { data: { dueDate: 'later' } } },
    { ops: 'app-card', path: 'app_cards', body: { data: { title: 'App' } }, bad: { data: { status: 'sleeping' } }, patch: { data: { status: 'connected' } }, badPatch: { data: { status: 'sleeping' } } },
    { ops: 'frame', path: 'frames', body: { data: { title: 'Frame' }, geometry: { width: 400, height: 300 } }, bad: { data: { format: 'a4' } }, patch: { data: { title: 'Frame 2' } }, badPatch: { data: { type: 'grid' } } },
    { ops: 'embed', path: 'embeds', body: { data: { url: 'https://example.com/video' } }, bad: { data: { url: 'https://example.com/v', mode: 'fullscreen' } }, patch: { data: { mode: 'modal' } }, badPatch: { data: { mode: 'fullscreen' } } },
    { ops: 'image', path: 'images', body: { data: { url: 'https://example.com/a.png', title: 'A' } }, bad: { data: { url: {} } }, patch: { data: { title: 'B' } }, badPatch: { position: { y: 'down' } } },
    { ops: 'document', path: 'documents', body: { data: { url: 'https://example.com/a.pdf' } }, bad: {}, patch: { data: { title: 'Doc' } }, badPatch: { geometry: { height: 'tall' } } }
  ]
  const opId = (ops: string, verb: string): string => ops === 'image' || ops === 'document'
    ? { create: `create-${ops}-item-using-url`, update: `update-${ops}-item-using-url` }[verb] ?? `${verb}-${ops}-item`
    : `${verb}-${ops}-item`
  const created: Record<string, string> = {}
  for (const k of kinds) {
    const base = `${B}/${k.path}`
    const one = await call(opId(k.ops, 'create'), base, { token: A, body: k.body })
    eq(one, 201, `${k.path}: created`)
    created[k.path] = one.body.id
    eq(await call(opId(k.ops, 'create'), base, { token: A, body: k.bad }), 400, `${k.path}: invalid body`)
    eq(await call(opId(k.ops, 'create'), `/v2/boards/uXjVnope123=/${k.path}`, { token: A, body: k.body }), 404, `${k.path}: unknown board`)
    eq(await call(opId(k.ops, 'create'), base, { body: k.body }), 401, `${k.path}: no token`)
    eq(await call(opId(k.ops, 'get'), `${base}/${one.body.id}`, { token: A }), 200, `${k.path}: get`)
    eq(await call(opId(k.ops, 'get'), `${base}/1234`, { token: A }), 404, `${k.path}: get unknown`)
    eq(await call(opId(k.ops, 'update'), `${base}/${one.body.id}`, { token: A, body: k.patch }), 200, `${k.path}: update`)
    eq(await call(opId(k.ops, 'update'), `${base}/${one.body.id}`, { token: A, body: k.badPatch }), 400, `${k.path}: invalid update`)
    eq(await call(opId(k.ops, 'update'), `${base}/1234`, { token: A, body: k.patch }), 404, `${k.path}: update unknown`)
    const spare = await call(opId(k.ops, 'create'), base, { token: A, body: k.body })
    eq(await call(opId(k.ops, 'delete'), `${base}/${spare.body.id}`, { token: A }), 204, `${k.path}: delete`)
    eq(await call(opId(k.ops, 'delete'), `${base}/${spare.body.id}`, { token: A }), 404, `${k.path}: delete again`)
  }
  const upload = multipart({ data: JSON.stringify({ title: 'uploaded', position: { x: 5, y: 5 } }) }, Buffer.from('89504e470d0a1a0a', 'hex'))
  eq(await call('create-image-item-using-local-file', `${B}/images`, { token: A, raw: upload.body, headers: { 'content-type': upload.type } }), 201, 'image from a file')

  // Members who may read but not write.
  sb.shareBoard(board.id, sb.users[1]?.id ?? '', 'viewer')
  eq(await call('get-sticky-note-item', `${B}/sticky_notes/${created.sticky_notes}`, { token: bob.access_token }), 200, 'a viewer reads')
  eq(await call('create-sticky-note-item', `${B}/sticky_notes`, { token: bob.access_token, body: {} }), 403, 'a viewer cannot write')

  // Generic items
  const note = created.sticky_notes ?? ''
  const frame = created.frames ?? ''
  eq(await call('get-items', `${B}/items`, { token: A, query: { limit: '10' } }), 200, 'items')
  eq(await call('get-items', `${B}/items`, { token: A, query: { type: 'sticky_note' } }), 200, 'items by type')
  eq(await call('get-items', `${B}/items`, { token: A, query: { type: 'sticker' } }), 400, 'unknown type')
  eq(await call('get-items', `${B}/items`, { token: A, query: { limit: '5' } }), 400, 'limit below 10')
  eq(await call('get-items', '/v2/boards/uXjVnope123=/items', { token: A }), 404, 'items of an unknown board')
  eq(await call('get-specific-item', `${B}/items/${note}`, { token: A }), 200, 'one item')
  eq(await call('get-specific-item', `${B}/items/1234`, { token: A }), 404, 'unknown item')
  eq(await call('update-item-position-or-parent', `${B}/items/${note}`, { token: A, body: { parent: { id: frame }, position: { x: 50, y: 60 } } }), 200, 'into the frame')
  eq(await call('update-item-position-or-parent', `${B}/items/${note}`, { token: A, body: { parent: { id: note } } }), 400, 'parent must be a frame')
  eq(await call('update-item-position-or-parent', `${B}/items/1234`, { token: A, body: { position: { x: 1 } } }), 404, 'move an unknown item')
  eq(await call('get-items-within-frame', `${B}/items`, { token: A, query: { parent_item_id: frame } }), 200, 'items in the frame')
  eq(await call('get-items-within-frame', `${B}/items`, { token: A, query: { parent_item_id: note } }), 404, 'not a frame')
  eq(await call('get-items-within-frame', `${B}/items`, { token: A, query: { parent_item_id: frame, limit: '51' } }), 400, 'limit above 50')
  eq(await call('get-sticky-note-item', `${B}/sticky_notes/${note}`, { token: A }), 200, 'typed item with a parent')

  // Tags
  const tag = await call('create-tag', `${B}/tags`, { token: A, body: { title: 'urgent', fillColor: 'red' } })
  eq(tag, 201, 'tag created')
  eq(await call('create-tag', `${B}/tags`, { token: A, body: { title: 'x'.repeat(121) } }), 400, 'title too long')
  eq(await call('create-tag', '/v2/boards/uXjVnope123=/tags', { token: A, body: { title: 't' } }), 404, 'tag on an unknown board')
  eq(await call('get-tags-from-board', `${B}/tags`, { token: A }), 200, 'tags of the board')
  eq(await call('get-tags-from-board', `${B}/tags`, { token: A, query: { limit: '0' } }), 400, 'limit 0')
  eq(await call('get-tags-from-board', '/v2/boards/uXjVnope123=/tags', { token: A }), 404, 'tags of an unknown board')
  eq(await call('get-tag', `${B}/tags/${tag.body.id}`, { token: A }), 200, 'one tag')
  eq(await call('get-tag', `${B}/tags/1234`, { token: A }), 404, 'unknown tag')
  eq(await call('update-tag', `${B}/tags/${tag.body.id}`, { token: A, body: { fillColor: 'blue' } }), 200, 'tag updated')
  eq(await call('update-tag', `${B}/tags/${tag.body.id}`, { token: A, body: { fillColor: 'mauve' } }), 400, 'unknown colour')
  eq(await call('update-tag', `${B}/tags/1234`, { token: A, body: { fillColor: 'blue' } }), 404, 'update an unknown tag')
  eq(await call('attach-tag-to-item', `${B}/items/${note}`, { token: A, query: { tag_id: tag.body.id } }), 204, 'attached')
  eq(await call('attach-tag-to-item', `${B}/items/${created.shapes}`, { token: A, query: { tag_id: tag.body.id } }), 400, 'shapes take no tags')
  eq(await call('attach-tag-to-item', `${B}/items/${note}`, { token: A, query: { tag_id: '1234' } }), 404, 'unknown tag')
  eq(await call('get-tags-from-item', `${B}/items/${note}/tags`, { token: A }), 200, 'tags of the item')
  eq(await call('get-tags-from-item', `${B}/items/1234/tags`, { token: A }), 404, 'tags of an unknown item')
  eq(await call('get-items-by-tag', `${B}/items`, { token: A, query: { tag_id: tag.body.id } }), 200, 'items with the tag')
  eq(await call('get-items-by-tag', `${B}/items`, { token: A, query: { tag_id: tag.body.id, limit: '51' } }), 400, 'limit above 50')
  eq(await call('get-items-by-tag', '/v2/boards/uXjVnope123=/items', { token: A, query: { tag_id: tag.body.id } }), 404, 'items with a tag, unknown board')
  eq(await call('remove-tag-from-item', `${B}/items/${note}`, { token: A, query: { tag_id: tag.body.id } }), 204, 'detached')
  eq(await call('remove-tag-from-item', `${B}/items/${note}`, { token: A, query: { tag_id: '1234' } }), 404, 'detach an unknown tag')
  eq(await call('delete-tag', `${B}/tags/${tag.body.id}`, { token: A }), 204, 'tag deleted')
  eq(await call('delete-tag', `${B}/tags/${tag.body.id}`, { token: A }), 404, 'tag deleted twice')

  // Connectors
  const link = await call('create-connector', `${B}/connectors`, { token: A, body: { startItem: { id: note, snapTo: 'left' }, endItem: { id: created.shapes }, shape: 'elbowed', captions: [{ content: 'hi' }], style: { strokeWidth: '4', strokeStyle: 'dotted' } } })
  eq(link, 200, 'connector (the spec says 200)')
  eq(await call('create-connector', `${B}/connectors`, { token: A, body: { startItem: { id: note } } }), 400, 'no endItem')
  eq(await call('create-connector', `${B}/connectors`, { token: A, body: { startItem: { id: note }, endItem: { id: '1234' } } }), 400, 'endItem not on the board')
  eq(await call('create-connector', '/v2/boards/uXjVnope123=/connectors', { token: A, body: { startItem: { id: note }, endItem: { id: note } } }), 404, 'unknown board')
  eq(await call('get-connectors', `${B}/connectors`, { token: A }), 200, 'connectors')
  eq(await call('get-connectors', `${B}/connectors`, { token: A, query: { cursor: 'bm9wZQ' } }), 400, 'a cursor never given out')
  eq(await call('get-connectors', '/v2/boards/uXjVnope123=/connectors', { token: A }), 404, 'connectors of an unknown board')
  eq(await call('get-connector', `${B}/connectors/${link.body.id}`, { token: A }), 200, 'one connector')
  eq(await call('get-connector', `${B}/connectors/1234`, { token: A }), 404, 'unknown connector')
  eq(await call('update-connector', `${B}/connectors/${link.body.id}`, { token: A, body: { shape: 'straight' } }), 200, 'connector updated')
  eq(await call('update-connector', `${B}/connectors/${link.body.id}`, { token: A, body: { shape: 'wavy' } }), 400, 'unknown connector shape')
  eq(await call('update-connector', `${B}/connectors/1234`, { token: A, body: { shape: 'straight' } }), 404, 'update unknown connector')
  eq(await call('delete-connector', `${B}/connectors/${link.body.id}`, { token: A }), 204, 'connector deleted')
  eq(await call('delete-connector', `${B}/connectors/${link.body.id}`, { token: A }), 404, 'connector deleted twice')

  // Generic delete last: it takes the item away.
  eq(await call('delete-item', `${B}/items/${note}`, { token: A }), 204, 'item deleted')
  eq(await call('delete-item', `${B}/items/${note}`, { token: A }), 404, 'item deleted twice')

  // Injected failures answer with Miro's error bodies too.
  sb.failEndpoint('GET /v2/boards/{board_id}/items', { status: 429, times: 1 })
  eq(await call('get-items', `${B}/items`, { token: A }), 429, 'injected 429')

  // Revoke, last: it ends Ada's token.
  eq(await call('revoke-token-v2', '/v2/oauth/revoke', { body: { accessToken: A, clientId: sb.clientId, clientSecret: 'wrong' } }), 404, 'v2 revoke, bad client')
  eq(await call('revoke-token-v2', '/v2/oauth/revoke', { raw: 'not json' }), 404, 'v2 revoke, not JSON')
  eq(await call('revoke-token-v2', '/v2/oauth/revoke', { body: { accessToken: bob.access_token, clientId: sb.clientId, clientSecret: sb.clientSecret } }), 204, 'v2 revoke')
  eq(await call('revoke-token', '/v1/oauth/revoke', { query: { access_token: A } }), 204, 'v1 revoke')
  eq(await call('revoke-token', '/v1/oauth/revoke', { query: { access_token: A } }), 400, 'v1 revoke of a dead token')
})

t.test('every operation was called, with every status the sandbox gives', async (t) => {
  for (const [id, op] of Object.entries(miroSpec.operations)) {
    const statuses = [...seen].filter((s) => s.startsWith(`${id} `))
    const success = Object.keys(op.responses).filter((s) => s.startsWith('2'))
    t.ok(success.some((s) => seen.has(`${id} ${s}`)), `${id}: a success answer was checked`)
    // 429 is only ever injected (checked once above), 409 never given (the sandbox has no conflicting edits).
    for (const status of ['400', '404']) {
      if (status in op.responses && !NO_SUCH_ANSWER.has(`${id} ${status}`)) t.ok(seen.has(`${id} ${status}`), `${id}: ${status} was checked`, { statuses })
    }
  }
})

/** Declared statuses the sandbox cannot produce for that operation, with why. */
const NO_SUCH_ANSWER = new Set([
  'get-specific-board 400', // no query, and a path id that is not a board is a 404
  'delete-app-card-item 400', 'delete-card-item 400', 'delete-document-item 400', 'delete-embed-item 400', 'delete-frame-item 400',
  'delete-image-item 400', 'delete-shape-item 400', 'delete-sticky-note-item 400', 'delete-text-item 400', 'delete-item 400',
  'delete-connector 400', 'delete-tag 400', 'get-app-card-item 400', 'get-card-item 400', 'get-document-item 400', 'get-embed-item 400',
  'get-frame-item 400', 'get-image-item 400', 'get-shape-item 400', 'get-sticky-note-item 400', 'get-text-item 400',
  'get-specific-item 400', 'get-connector 400', 'get-tag 400', 'get-tags-from-item 400', 'remove-tag-from-item 400',
  'get-boards 404' // a list is never missing
])

function multipart (fields: Record<string, string>, file: Buffer): { type: string, body: Buffer } {
  const boundary = 'sandbox-contract-boundary'
  const parts: Buffer[] = []
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="resource"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`), file, Buffer.from('\r\n'))
  for (const [name, value] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`))
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { type: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(parts) }
}
