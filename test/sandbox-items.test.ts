// Board content at the sandbox through the SDK's own high-level Board and item classes: every
// item type, frames and parents, tags, connectors, cursor paging, access by membership, the
// test accessors (sandbox.items/boards) and failEndpoint.
import t, { type Test } from 'tap'
import { MiroApi, MiroLowlevelApi } from '@mirohq/miro-api'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { sandboxLogin } from './helpers/sandbox-login'

async function sandbox (t: Test): Promise<Sandbox> {
  const sb = await startSandbox({ users: [{ name: 'Ada' }, { name: 'Bob' }] })
  t.teardown(() => sb.close())
  return sb
}

t.test('every item type through the SDK, and what the sandbox holds', async (t) => {
  const sb = await sandbox(t)
  const ada = await sandboxLogin(sb, { userName: 'Ada' })
  const api = new MiroApi(ada.access_token, sb.url)
  const board = await api.createBoard({ name: 'Items' })

  const note = await board.createStickyNoteItem({ data: { content: 'Hello', shape: 'rectangle' }, style: { fillColor: 'light_green' }, position: { x: 100, y: -50 } })
  t.match(note, { type: 'sticky_note', data: { content: 'Hello', shape: 'rectangle' }, style: { fillColor: 'light_green' }, position: { x: 100, y: -50, relativeTo: 'canvas_center' } })
  const shape = await board.createShapeItem({ data: { shape: 'circle', content: 'O' } })
  const text = await board.createTextItem({ data: { content: 'Words' } })
  const card = await board.createCardItem({ data: { title: 'Task' } })
  const appCard = await board.createAppCardItem({ data: { title: 'App' } })
  const frame = await board.createFrameItem({ data: { title: 'Frame' }, geometry: { width: 400, height: 300 } })
  const image = await board.createImageItem({ data: { url: 'https://example.com/a.png' } })
  t.equal(image.data?.imageUrl, 'https://example.com/a.png', 'an image made from a URL answers with imageUrl')
  const doc = await board.createDocumentItem({ data: { url: 'https://example.com/a.pdf' } })
  t.equal(doc.data?.documentUrl, 'https://example.com/a.pdf')
  const embed = await board.createEmbedItem({ data: { url: 'https://example.com/v' } })
  t.match(embed.data, { url: 'https://example.com/v', mode: 'inline', providerName: 'example.com' })
  t.equal(shape.data?.shape, 'circle')
  t.equal(text.data?.content, 'Words')
  t.equal(card.data?.title, 'Task')
  t.equal(appCard.data?.title, 'App')

  // Parent: a sticky note inside the frame, positioned from the frame's top left.
  const inner = await board.createStickyNoteItem({ data: { content: 'Inside' }, parent: { id: frame.id }, position: { x: 20, y: 30 } })
  t.match(inner, { parent: { id: frame.id }, position: { relativeTo: 'parent_top_left' } })
  const within = await new MiroLowlevelApi(ada.access_token, sb.url).getItemsWithinFrame(board.id, frame.id)
  t.same(within.body.data?.map((i) => i.id), [inner.id], 'items within the frame (get-items-within-frame)')

  await board.createTextItem({ data: { content: 'the eleventh' } })
  // Everything, through the SDK's cursor paging (page size 10): 11 items.
  const all: string[] = []
  for await (const item of board.getAllItems()) all.push(`${item.type}:${item.id}`)
  t.equal(all.length, 11, 'getAllItems followed the cursor past the first page of 10')
  t.same(new Set(all).size, 11, 'no item twice')
  const notes: string[] = []
  for await (const item of board.getAllItems({ type: 'sticky_note' })) notes.push(item.id)
  t.same(notes, [note.id, inner.id], 'type filter')

  // get and update through the generic item routes
  const generic = await board.getItem(note.id)
  t.equal(generic.type, 'sticky_note')
  await generic.update({ position: { x: 5, y: 6 }, parent: { id: frame.id } })
  t.match(sb.items(board.id).find((i) => i.id === note.id), { position: { x: 5, y: 6 }, parentId: frame.id }, 'sandbox.items shows the move')
  await note.update({ data: { content: 'Changed' } })
  t.match(sb.items(board.id).find((i) => i.id === note.id), { data: { content: 'Changed', shape: 'rectangle' }, style: { fillColor: 'light_green' } }, 'a PATCH keeps what it does not name (no defaults on updates)')

  // tags
  const tag = await board.createTag({ title: 'urgent', fillColor: 'red' })
  await note.attachTag(tag.id)
  t.same((await note.getAllTags()).map((x) => x.title), ['urgent'])
  t.same(sb.items(board.id).find((i) => i.id === note.id)?.tagIds, [tag.id])
  const tagged: string[] = []
  for (const item of (await new MiroLowlevelApi(ada.access_token, sb.url).getItemsByTag(board.id, tag.id)).body.data ?? []) tagged.push(item.id)
  t.same(tagged, [note.id], 'items by tag')
  await note.removeTag(tag.id)
  t.same(await note.getAllTags(), [])
  await t.rejects(note.update({ style: { fillColor: 'chartreuse' as never } }), { name: 'HttpError', statusCode: 400, body: { code: 'invalidParameters' } }, 'enum checked on updates too')
  t.same(sb.tags(board.id), [{ id: tag.id, title: 'urgent', fillColor: 'red' }])

  // connectors
  const connector = await shape.connectTo(text.id, { shape: 'elbowed', captions: [{ content: 'to' }] } as never)
  t.match(sb.connectors(board.id), [{ id: connector.id, startItem: shape.id, endItem: text.id, shape: 'elbowed' }])
  await text.delete()
  t.same(sb.connectors(board.id), [], 'deleting an item takes its connectors')
  await t.rejects(board.getItem(text.id), { name: 'HttpError', statusCode: 404 })

  // deleting the frame leaves its children on the canvas
  await frame.delete()
  t.notOk(sb.items(board.id).find((i) => i.id === inner.id)?.parentId, 'children stay, without a parent')
  t.equal(sb.items(board.id).length, 9)
})

t.test('owner and members decide access', async (t) => {
  const sb = await sandbox(t)
  const ada = await sandboxLogin(sb, { userName: 'Ada' })
  const bob = await sandboxLogin(sb, { userName: 'Bob' })
  const board = await new MiroApi(ada.access_token, sb.url).createBoard({ name: 'Private' })
  await board.createStickyNoteItem({ data: { content: 'secret' } })
  const bobApi = new MiroApi(bob.access_token, sb.url)
  const bobLow = new MiroLowlevelApi(bob.access_token, sb.url)
  await t.rejects(bobApi.getBoard(board.id), { name: 'HttpError', statusCode: 404 }, 'not a member: 404, as if missing')
  await t.rejects(bobLow.getItems(board.id), { name: 'HttpError', statusCode: 404 })
  sb.shareBoard(board.id, sb.users[1]?.id ?? '', 'viewer')
  const asViewer = await bobApi.getBoard(board.id)
  t.equal(asViewer.currentUserMembership?.role, 'viewer')
  t.equal((await bobLow.getItems(board.id)).body.data?.length, 1, 'a viewer reads')
  await t.rejects(asViewer.createStickyNoteItem({ data: { content: 'no' } }), { name: 'HttpError', statusCode: 403, body: { code: 'forbidden' } }, 'a viewer cannot write')
  sb.shareBoard(board.id, sb.users[1]?.id ?? '', 'editor')
  await asViewer.createStickyNoteItem({ data: { content: 'yes' } })
  t.same(sb.items(board.id).map((i) => [i.data.content, i.createdBy]), [['secret', sb.users[0]?.id], ['yes', sb.users[1]?.id]])
  t.same(sb.boards(sb.users[1]?.id ?? '').map((b) => [b.name, b.members[sb.users[1]?.id ?? '']]), [["Bob's first board", 'owner'], ['Private', 'editor']])
  t.throws(() => sb.items('uXjVnone'), /no board uXjVnone/)
})

t.test('GET /v2/boards: query, owner, team_id, project_id and sort as the spec says', async (t) => {
  const sb = await startSandbox({ users: [{ name: 'Ada', teamId: '1001' }, { name: 'Bob', teamId: '1002' }] })
  t.teardown(() => sb.close())
  const ada = await sandboxLogin(sb, { userName: 'Ada' })
  const api = new MiroApi(ada.access_token, sb.url)
  const low = new MiroLowlevelApi(ada.access_token, sb.url)
  const list = async (query: Record<string, string>): Promise<string[]> =>
    ((await low.getBoards(query)).body.data ?? []).map((b) => b.name)
  await api.createBoard({ name: 'Zebra', description: 'about beta things' })
  await api.createBoard({ name: 'Alpha beta' })
  await api.createBoard({ name: 'Other team', teamId: '1002', projectId: '77' } as never)
  t.same(await list({ query: 'beta' }), ['Zebra', 'Alpha beta'], 'query matches the name or the description')
  t.same(await list({ query: 'beta', teamId: '1001' }), ['Alpha beta', 'Zebra', "Ada's first board"], 'with team_id the query is ignored; default sort there is last_created')
  t.same(await list({ projectId: '77', query: 'nothing' }), ['Other team'], 'project_id, query ignored')
  t.same(await list({ owner: sb.users[1]?.id ?? '' }), [], 'owner filter')
  t.same(await list({ sort: 'alphabetically' }), ["Ada's first board", 'Alpha beta', 'Other team', 'Zebra'])
  t.equal((await low.getBoards({ teamId: '1002' })).body.data?.[0]?.team?.id, '1002', 'teamId on create is used')
  await t.rejects(api.createBoard({ name: '' }), { name: 'HttpError', statusCode: 400 }, 'name minLength 1')
  const withPolicy = await api.createBoard({ name: 'Shared', policy: { sharingPolicy: { access: 'view' } } })
  t.match(withPolicy.policy, { sharingPolicy: { access: 'view', teamAccess: 'private' }, permissionsPolicy: { copyAccess: 'anyone' } }, 'policy is kept, defaults filled in')
  // Opening the board page is what last_opened (the default sort without team_id) goes by.
  await fetch(`${sb.url}/app/board/${encodeURIComponent(withPolicy.id)}/`)
  t.equal((await list({}))[0], 'Shared', 'the board opened last comes first')
  t.ok((await low.getSpecificBoard(withPolicy.id)).body.lastOpenedAt, 'lastOpenedAt is set')
})

t.test('failEndpoint: status and delay per endpoint', async (t) => {
  const sb = await sandbox(t)
  const ada = await sandboxLogin(sb, { userName: 'Ada' })
  const api = new MiroApi(ada.access_token, sb.url)
  const board = await api.createBoard({ name: 'Faults' })
  sb.failEndpoint('POST /v2/boards/{board_id}/sticky_notes', { status: 503, times: 1 })
  await t.rejects(board.createStickyNoteItem({ data: { content: 'x' } }), { name: 'HttpError', statusCode: 503, body: { type: 'error', status: 503 } })
  await board.createStickyNoteItem({ data: { content: 'x' } })
  t.equal(sb.items(board.id).length, 1, 'times: 1 fails once, and the refused call created nothing')
  sb.failEndpoint('GET /v2/boards/:board_id', { delayMs: 300 })
  const started = Date.now()
  await api.getBoard(board.id)
  t.ok(Date.now() - started >= 280, 'delayed answer')
  sb.failEndpoint('GET /v2/boards/:board_id', null)
  t.throws(() => sb.failEndpoint('GET /v2/nowhere', { status: 500 }), /serves no GET \/v2\/nowhere/)
  t.throws(() => sb.failEndpoint('POST /v1/oauth/token', { status: 500 }), /failTokenEndpoint/)
  t.throws(() => sb.failEndpoint('GET /v2/boards', { status: 200 }), /400 to 599/)
  t.throws(() => sb.failEndpoint('boards', { status: 500 }), /METHOD \/path/)
})
