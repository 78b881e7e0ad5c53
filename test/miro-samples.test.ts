// Miro's own sample apps (miroapp/api-clients: apps/fastify/fastify.js and the routes of
// apps/client-test-app), ported onto fastify-miro (test/miro-samples/), run against the
// sandbox: every route of both, as a browser would click through them.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox } from '../sandbox/index'
import { Browser, pathOf } from './helpers/app'
import { buildClientTestApp } from './miro-samples/client-test-app'
import { buildFastifySample } from './miro-samples/fastify'

// A 1×1 PNG, for the upload (the original sends its img.png).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64')
const HTML = { accept: 'text/html' }

t.test('apps/fastify/fastify.js: "/" logs the browser in, then answers its first board', async (t) => {
  const sb = await startSandbox()
  t.teardown(() => sb.close())
  const app = await buildFastifySample({ clientId: sb.clientId, clientSecret: sb.clientSecret, redirectUrl: 'http://localhost/auth/miro/callback', basePath: sb.url })
  t.teardown(() => app.close())
  const browser = new Browser(app)

  const first = await browser.get('/')
  t.equal(first.statusCode, 302, 'not authorized: redirected')
  t.equal(first.headers.location, '/auth/miro', 'to the login route')
  t.ok(browser.cookies.get('userId'), 'a user id cookie was set')
  const login = await browser.get('/auth/miro')
  t.equal(new URL(String(login.headers.location)).origin, sb.url, 'the login route sends the browser to the sandbox')
  const callback = await browser.get(pathOf(await sb.approve(String(login.headers.location))))
  t.equal(callback.statusCode, 302, 'GET /auth/miro/callback exchanged the code')
  t.equal(callback.headers.location, '/')
  const home = await browser.get('/')
  t.equal(home.statusCode, 200)
  t.match(home.json(), { type: 'board', name: "Sandbox User's first board", owner: { id: sb.users[0]?.id } }, 'the first board')
  t.match(sb.tokenCalls, [{ grantType: 'authorization_code', ok: true }])
})

t.test('apps/client-test-app: boards, board, item, image upload, connector', async (t) => {
  const sb = await startSandbox()
  t.teardown(() => sb.close())
  const dir = await mkdtemp(join(tmpdir(), 'miro-sample-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const imagePath = join(dir, 'img.png')
  await writeFile(imagePath, PNG)
  const app = await buildClientTestApp({ clientId: sb.clientId, clientSecret: sb.clientSecret, redirectUrl: 'http://localhost/auth/miro/callback/', basePath: sb.url }, imagePath)
  t.teardown(() => app.close())
  const browser = new Browser(app)

  // The middleware: not authorized → log in; the callback at /auth/miro/callback/.
  const first = await browser.get('/', HTML)
  t.equal(first.statusCode, 302, 'not authorized: redirected to log in')
  const login = await browser.get(String(first.headers.location))
  const callback = await browser.get(pathOf(await sb.approve(String(login.headers.location))))
  t.equal(callback.statusCode, 302, 'GET /auth/miro/callback/ exchanged the code')

  const home = await browser.get('/', HTML)
  t.equal(home.statusCode, 200, 'GET /')
  const user = sb.users[0]?.id ?? ''
  const boardId = sb.boards(user)[0]?.id ?? ''
  t.match(home.body, `<a href="boards/${boardId}">Sandbox User&#39;s first board (${boardId})</a>`, 'lists the boards')

  const empty = await browser.get(`/boards/${boardId}`, HTML)
  t.equal(empty.statusCode, 200, 'GET /boards/:boardId')
  t.match(empty.body, '<ul></ul>', 'no items yet')

  for (const n of [1, 2]) {
    const made = await browser.request({ method: 'POST', url: `/image/${boardId}`, headers: HTML })
    t.equal(made.statusCode, 302, `POST /image/:boardId (${n})`)
    t.equal(made.headers.location, `/boards/${boardId}`)
  }
  const images = sb.items(boardId)
  t.same(images.map((i) => i.type), ['image', 'image'], 'two images from the uploaded file')
  const upload = await fetch(String(images[0]?.data.imageUrl))
  t.same(Buffer.from(await upload.arrayBuffer()), PNG, 'the image URL serves the uploaded file')
  const [a, b] = images.map((i) => i.id)

  const listed = await browser.get(`/boards/${boardId}`, HTML)
  t.match(listed.body, `<a href="/boards/${boardId}/item/${a}">${a}</a></em> (image)`, 'the board page lists the items')

  const item = await browser.get(`/boards/${boardId}/item/${a}`, HTML)
  t.equal(item.statusCode, 200, 'GET /boards/:boardId/item/:itemId')
  t.match(item.body, '<dd class="type">image</dd>')
  t.match(item.body, `<dd class="board-id">${boardId}</dd>`)

  const connect = await browser.request({ method: 'POST', url: `/connectTo/${boardId}/${a}`, headers: { ...HTML, 'content-type': 'application/x-www-form-urlencoded' }, payload: `itemId=${b}` })
  t.equal(connect.statusCode, 302, 'POST /connectTo/:boardId/:itemId')
  t.equal(connect.headers.location, `/boards/${boardId}/item/${a}?connectedTo=${b}`)
  t.match(sb.connectors(boardId), [{ startItem: a, endItem: b, shape: 'elbowed' }], 'the connector is on the board')
  const after = await browser.get(String(connect.headers.location), HTML)
  t.equal(after.statusCode, 200)
  t.match(after.body, 'Successfully connected this item to', 'the item page says so')
})
