// The board panel demo: what a Miro app that runs inside a board (an iframe) does. Its page gets
// an id token from the Web SDK (`await miro.board.getIdToken()`) and calls this backend with
// `Authorization: Bearer <token>`; no cookie is involved. fastify-miro, with identity 'idToken',
// verifies the token and finds the user's OAuth tokens by Miro team and user.
//
// Registered by app.ts in its own context, beside the main site's: fastify-miro's request
// decorators can be registered once per context, not twice in nested ones. The panel has no
// session: the login's state travels in a signed cookie (app.ts gives @fastify/cookie a secret).
import type { FastifyInstance, FastifyReply } from 'fastify'
import fastifyMiro from '../index'
import { html, raw } from './html'
import { errorPage, layout, type PageContext } from './views'

export interface PanelOptions {
  /** The main site's storage: the panel keeps its tokens in memory, or in Redis next to the site's. */
  storage: 'session' | 'redis'
  /** The main site's Miro settings; the panel's redirect URL is derived from it (same origin). */
  miro: { clientId: string, clientSecret: string, redirectUrl: string, basePath?: string }
  /** The main site's page context (labels of the footer). */
  ctx: PageContext
  /** Sandbox only: a stand-in for miro.board.getIdToken(), served at /panel/dev/id-token. */
  mintIdToken?: (() => string) | undefined
}

const PANEL_PATH = '/panel'
const LOGIN_PATH = '/panel/auth/miro'
const AUTHORIZED_PATH = '/panel/authorized'
const DEV_ID_TOKEN_PATH = '/panel/dev/id-token'
const MAX_BOARDS = 100

const sendHtml = (reply: FastifyReply, page: string, status = 200): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page)

// The panel's script. Data reaches the DOM through textContent only, never as markup.
const SCRIPT = raw(`
const $ = (id) => document.getElementById(id)
const root = $('panel')
function show (state, text) {
  root.dataset.state = state
  $('status').textContent = text
  $('authorize').hidden = state !== 'unauthorized'
  $('result').hidden = state !== 'ok'
}
async function getIdToken () {
  // Inside a board, the Web SDK hands out the id token:
  if (window.parent !== window && window.miro?.board?.getIdToken) return window.miro.board.getIdToken()
  // Sandbox only: this backend mints one for the sandbox's first user.
  if (!root.dataset.devIdToken) throw new Error('Open this page as a panel inside a Miro board: it needs miro.board.getIdToken().')
  const res = await fetch(root.dataset.devIdToken, { credentials: 'omit' })
  if (!res.ok) throw new Error('No id token from ' + root.dataset.devIdToken + ' (HTTP ' + res.status + ').')
  return (await res.json()).token
}
async function load () {
  show('loading', 'Loading your boards…')
  let token
  try {
    token = await getIdToken()
  } catch (err) {
    return show('no-board', err.message)
  }
  const res = await fetch('/panel/api/boards', { headers: { authorization: 'Bearer ' + token }, credentials: 'omit' })
  const body = await res.json().catch(() => ({}))
  if (res.ok) {
    $('identity').textContent = 'Verified id token: team ' + body.identity.teamId + ', user ' + body.identity.userId
    $('boards').replaceChildren(...body.boards.map((name) => {
      const li = document.createElement('li')
      li.textContent = name
      return li
    }))
    return show('ok', body.boards.length + (body.boards.length === 1 ? ' board' : ' boards'))
  }
  if (res.status === 401 && body.code === 'FST_MIRO_NOT_AUTHORIZED') {
    return show('unauthorized', 'Not authorized yet: this app may not read your boards until you allow it.')
  }
  if (body.code === 'FST_MIRO_INVALID_ID_TOKEN') return show('error', 'The backend refused the id token: ' + body.message)
  show('error', 'The backend answered HTTP ' + res.status + (body.message ? ': ' + body.message : '.'))
}
const reload = () => load().catch((err) => show('error', 'The backend could not be reached: ' + err.message))
$('authorize').addEventListener('click', () => {
  // The login runs in a top-level window, where Miro's consent page and the login cookie work.
  const login = window.open('${LOGIN_PATH}', 'miro-login', 'popup,width=620,height=720')
  if (!login) show('unauthorized', 'The login window was blocked: allow pop-ups for this site, then Authorize again.')
})
window.addEventListener('message', (event) => {
  if (event.origin === location.origin && event.data === 'miro-authorized') reload()
})
reload()
`)

function panelPage (ctx: PageContext, devIdTokenPath: string | undefined): string {
  const source = devIdTokenPath === undefined
    ? html`<p>Inside a Miro board, the id token comes from <code>await miro.board.getIdToken()</code>: add this page's URL as your Miro app's URL and open the app in a board.</p>`
    : html`<p class="meta">Sandbox mode: in a real board, the id token comes from <code>await miro.board.getIdToken()</code>. Here <code>${devIdTokenPath}</code> mints one for the sandbox's first user.</p>`
  return layout(ctx, 'Board panel', html`
<style>#panel [hidden] { display: none }</style>
<section class="card" id="panel" data-state="loading" data-dev-id-token="${devIdTokenPath ?? ''}">
  <h2>Board panel</h2>
  <p>This page plays a panel inside a Miro board: it calls the backend with <code>Authorization: Bearer &lt;id token&gt;</code>, no cookies.</p>
  ${source}
  <p id="status" role="status">Loading…</p>
  <button class="button" id="authorize" type="button" hidden>Authorize</button>
  <div id="result" hidden>
    <p class="meta" id="identity"></p>
    <ul class="boards" id="boards"></ul>
  </div>
</section>
${devIdTokenPath === undefined ? raw('<script src="https://miro.com/app/static/sdk/v2/miro.js"></script>') : ''}
<script>${SCRIPT}</script>`).value
}

function authorizedPage (ctx: PageContext): string {
  return layout(ctx, 'Authorized', html`
<section class="card hero">
  <h1>Authorized — you can close this window</h1>
  <p>The board panel can now read your boards.</p>
</section>
<script>
window.opener?.postMessage('miro-authorized', location.origin)
window.close()
</script>`).value
}

export async function boardPanel (panel: FastifyInstance, opts: PanelOptions): Promise<void> {
  const ctx: PageContext = {
    ...opts.ctx, loginPath: LOGIN_PATH, logoutPath: LOGIN_PATH + '/logout', storageLabel: opts.storage === 'redis' ? 'Redis' : 'memory'
  }

  // JSON for the panel's frontend (FST_MIRO_NOT_AUTHORIZED: open the login), a page for the
  // login window. Set before fastify-miro is registered, so that its routes use it too.
  panel.setErrorHandler(async (error: Error & { statusCode?: number, code?: string }, request, reply) => {
    const miroApiStatus = error.name === 'HttpError' ? error.statusCode : undefined
    if (miroApiStatus === 401) { // Miro no longer accepts the user's token: forget it, log in again.
      await request.miro.setState(panel.miro.userIdOf(request) as string, undefined)
      return reply.code(401).send({ statusCode: 401, code: 'FST_MIRO_NOT_AUTHORIZED', message: 'Miro no longer accepts this login' })
    }
    const status = miroApiStatus !== undefined ? 502 : error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    const message = status >= 500 && error.code === undefined ? 'Something went wrong on our side' : error.message
    if (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html')) { // the login window
      return sendHtml(reply, errorPage(ctx, status, status < 500 ? 'Request refused' : 'Something went wrong', message), status)
    }
    return reply.code(status).header('cache-control', 'no-store').send({ statusCode: status, code: error.code, message })
  })

  // Not under a prefix: fastify-miro would prefix the callback route too, and the route would no
  // longer match the redirect URL. So the routes of the plugin are given in full.
  await panel.register(fastifyMiro, {
    ...opts.miro,
    redirectUrl: new URL(LOGIN_PATH + '/callback', opts.miro.redirectUrl).href,
    identity: 'idToken',
    ...(opts.storage === 'redis' ? { storage: 'redis', redis: { keyPrefix: 'miro:panel:' } } : { storage: 'memory' }),
    routes: { loginPath: LOGIN_PATH, logoutPath: LOGIN_PATH + '/logout', successRedirect: AUTHORIZED_PATH, failureRedirect: '/login-failed' }
  })

  panel.get(PANEL_PATH, async (_request, reply) => sendHtml(reply, panelPage(ctx, opts.mintIdToken && DEV_ID_TOKEN_PATH)))
  panel.get(AUTHORIZED_PATH, async (_request, reply) => sendHtml(reply, authorizedPage(ctx)))

  panel.get(PANEL_PATH + '/api/boards', { preHandler: panel.miro.requireAuth }, async (request, reply) => {
    const boards: string[] = []
    for await (const board of request.miroApi().getAllBoards()) {
      boards.push(board.name)
      if (boards.length === MAX_BOARDS) break
    }
    return reply.header('cache-control', 'no-store').send({ identity: request.miroIdentity, boards })
  })

  const mintIdToken = opts.mintIdToken
  if (mintIdToken) {
    panel.get(DEV_ID_TOKEN_PATH, async (_request, reply) => reply.header('cache-control', 'no-store').send({ token: mintIdToken() }))
  }
}
