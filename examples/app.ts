// The fastify-miro example app: log in with Miro, list your boards, create one, log out.
//
//   npm start                       # no Miro app needed: a local Miro sandbox is started
//   MIRO_STORAGE=redis npm start    # tokens (and sessions) in Redis at REDIS_URL
//   MIRO_CLIENT_ID=… MIRO_CLIENT_SECRET=… MIRO_REDIRECT_URL=http://localhost:3000/auth/miro/callback npm start
//
// The board panel demo is at /panel (panel.ts); with real Miro, register its redirect URL too:
// the same origin, path /panel/auth/miro/callback.
//
// `buildExampleApp()` is exported for the browser test; the bottom of the file is the
// command-line entry point.
import { createHmac, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyRedis from '@fastify/redis'
import fastifyMiro from '../index'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { boardPanel } from './panel'
import { redisSessionStore } from './redis-session-store'
import * as views from './views'

declare module 'fastify' {
  interface Session {
    /** A one-time message for the next page (Post/Redirect/Get). */
    flash?: views.Flash
  }
}

export interface ExampleAppOptions {
  /** Where the users' Miro tokens live. Default 'session'. */
  storage?: 'session' | 'redis'
  /** Redis for storage 'redis'. Default redis://127.0.0.1:6379. */
  redisUrl?: string
  /** Secret of the session cookie, at least 32 characters. Default: a random one (sessions end on restart). */
  sessionSecret?: string
  miro: {
    clientId: string
    clientSecret: string
    redirectUrl: string
    /** Miro's API origin; the sandbox's URL to use the sandbox. Default: the real Miro. */
    basePath?: string
  }
  logger?: FastifyServerOptions['logger']
  /**
   * Sandbox only: a stand-in for the Web SDK's miro.board.getIdToken(), so the board panel demo
   * (/panel) works outside a board. Without it, /panel/dev/id-token does not exist.
   */
  mintIdToken?: () => string
}

export const LOGIN_PATH = '/auth/miro'
export const LOGOUT_PATH = '/auth/miro/logout'
const LOGIN_FAILED_PATH = '/login-failed'
const LOGGED_OUT_PATH = '/logged-out'
/** Logs the Miro user out of every browser and instance (app.miro.revokeAll: Redis storage only). */
export const LOGOUT_EVERYWHERE_PATH = '/logout-everywhere'
/** Boards shown on the home page; the rest is one click away in Miro. */
const MAX_BOARDS = 100
const BOARD_NAME_MAX = 60
const NOTE_TEXT_MAX = 500
/** Sticky notes shown on a board page (one API call each, for its colour). */
const MAX_NOTES = 50
const SESSION_LIFE_MS = 7 * 24 * 60 * 60 * 1000

export async function buildExampleApp (opts: ExampleAppOptions): Promise<FastifyInstance> {
  const storage = opts.storage ?? 'session'
  const app = Fastify({ logger: opts.logger ?? false })

  // The create-board form posts application/x-www-form-urlencoded (fastify-miro's own logout
  // route accepts any body by itself).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_request, body, done) => { done(null, Object.fromEntries(new URLSearchParams(body as string))) })

  const sessionSecret = opts.sessionSecret ?? randomBytes(32).toString('hex')
  // Signed cookies: the board panel's login state (it has no session). Its own key.
  await app.register(fastifyCookie, { secret: createHmac('sha256', sessionSecret).update('login cookies').digest('hex') })
  if (storage === 'redis') {
    await app.register(fastifyRedis, { url: opts.redisUrl ?? 'redis://127.0.0.1:6379' })
  }

  const ctx: views.PageContext = {
    loginPath: LOGIN_PATH,
    logoutPath: LOGOUT_PATH,
    miroLabel: opts.miro.basePath && !/^https:\/\/api\.miro\.com\/?$/.test(opts.miro.basePath)
      ? `local sandbox (${opts.miro.basePath})`
      : 'miro.com',
    storageLabel: storage === 'redis' ? 'Redis' : 'session',
    // Only a shared storage can find the user's other logins: with the session, each one is in its own session.
    ...(storage === 'redis' ? { logoutEverywherePath: LOGOUT_EVERYWHERE_PATH } : {})
  }

  const sendHtml = (reply: FastifyReply, page: string, status = 200): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page)

  // The instance of the request's context: the site's (below) has fastify-miro.
  const userIdOf = (request: FastifyRequest): string | number | undefined => request.server.miro.userIdOf(request) ?? undefined

  const takeFlash = (request: FastifyRequest): views.Flash | undefined => {
    const flash = request.session.get('flash')
    if (flash !== undefined) request.session.set('flash', undefined)
    return flash
  }

  // The site and the board panel (panel.ts) each register fastify-miro in their own context: its
  // decorators cannot be registered twice in nested contexts. The session is the site's only: the
  // panel's calls carry no cookie, and its login must not regenerate the site's session. Not
  // awaited: the plugins load at ready(), after the error handler below is set, which their
  // routes then use (the panel sets its own).
  app.register(async function site (site) {
    await site.register(fastifySession, {
      secret: sessionSecret,
      // 'auto': Secure over https, and still works on plain http://127.0.0.1 while trying the example.
      cookie: { secure: 'auto', sameSite: 'lax', httpOnly: true, maxAge: SESSION_LIFE_MS },
      ...(storage === 'redis' ? { store: redisSessionStore(site.redis) } : {})
    })
    await site.register(fastifyMiro, {
      ...opts.miro,
      storage,
      routes: {
        loginPath: LOGIN_PATH,
        logoutPath: LOGOUT_PATH,
        successRedirect: '/',
        failureRedirect: LOGIN_FAILED_PATH,
        logoutRedirect: LOGGED_OUT_PATH
      }
    })

    site.get('/', async (request, reply) => {
      const flash = takeFlash(request)
      const userId = userIdOf(request)
      if (userId === undefined || !(await request.miro.isAuthorized(userId))) {
        return sendHtml(reply, views.welcomePage(ctx, flash))
      }
      const api = request.miro.as(userId)
      const boards: views.BoardView[] = []
      let more = false
      const listing = (async () => {
        for await (const board of api.getAllBoards()) {
          if (boards.length === MAX_BOARDS) {
            more = true
            break
          }
          boards.push({
            id: board.id,
            name: board.name,
            description: board.description ?? '',
            viewLink: board.viewLink,
            createdAt: board.createdAt
          })
        }
      })()
      const [info] = await Promise.all([api.tokenInfo(), listing])
      return sendHtml(reply, views.boardsPage(ctx, {
        userName: info.user?.name ?? '',
        teamName: info.team?.name ?? '',
        boards,
        more,
        flash
      }))
    })

    site.post<{ Body: { name?: unknown } | undefined }>('/boards', { preHandler: site.miro.requireAuth }, async (request, reply) => {
      const name = typeof request.body?.name === 'string' ? request.body.name.trim() : ''
      if (name === '' || name.length > BOARD_NAME_MAX) {
        request.session.set('flash', { kind: 'error', text: `A board name has 1 to ${BOARD_NAME_MAX} characters.` })
      } else {
        const board = await request.miro.as(userIdOf(request) as string | number).createBoard({ name })
        request.session.set('flash', { kind: 'ok', text: `Board “${board.name}” created.` })
      }
      return reply.redirect('/', 303)
    })

    // A board's sticky notes, and a form to add one (what /app/board/<id>/ at the sandbox then shows).
    site.get<{ Params: { id: string } }>('/boards/:id', { preHandler: site.miro.requireAuth }, async (request, reply) => {
      const board = await request.miro.as(userIdOf(request) as string | number).getBoard(request.params.id)
      const notes: views.NoteView[] = []
      for await (const item of board.getAllItems({ type: 'sticky_note' })) {
        if (notes.length === MAX_NOTES) break
        // The SDK's generic item model has no style: the colour needs the sticky note itself.
        const note = await board.getStickyNoteItem(item.id)
        notes.push({ id: note.id, content: note.data?.content ?? '', fillColor: note.style?.fillColor ?? 'light_yellow' })
      }
      return sendHtml(reply, views.boardPage(ctx, {
        board: { id: board.id, name: board.name, description: board.description ?? '', viewLink: board.viewLink, createdAt: board.createdAt },
        notes,
        flash: takeFlash(request)
      }))
    })

    site.post<{ Params: { id: string }, Body: { content?: unknown, color?: unknown } | undefined }>('/boards/:id/sticky-notes', { preHandler: site.miro.requireAuth }, async (request, reply) => {
      const content = typeof request.body?.content === 'string' ? request.body.content.trim() : ''
      const color = typeof request.body?.color === 'string' && request.body.color in views.NOTE_COLOURS ? request.body.color : 'light_yellow'
      const back = `/boards/${encodeURIComponent(request.params.id)}`
      if (content === '' || content.length > NOTE_TEXT_MAX) {
        request.session.set('flash', { kind: 'error', text: `A sticky note has 1 to ${NOTE_TEXT_MAX} characters.` })
        return reply.redirect(back, 303)
      }
      const board = await request.miro.as(userIdOf(request) as string | number).getBoard(request.params.id)
      const existing: string[] = []
      for await (const item of board.getAllItems({ type: 'sticky_note' })) existing.push(item.id)
      const count = existing.length
      // Side by side in rows of five, so each new note is visible on the board.
      await board.createStickyNoteItem({
        data: { content: views.noteContent(content) },
        style: { fillColor: color },
        position: { x: (count % 5) * 230, y: Math.floor(count / 5) * 260 }
      })
      request.session.set('flash', { kind: 'ok', text: 'Sticky note added.' })
      return reply.redirect(back, 303)
    })

    if (storage === 'redis') {
      site.post(LOGOUT_EVERYWHERE_PATH, { preHandler: site.miro.requireAuth }, async (request, reply) => {
        // Every login of this Miro user: other browsers, other devices, every instance of the app.
        const state = await request.miro.getState(userIdOf(request) as string | number)
        if (state !== undefined) await site.miro.revokeAll({ miroUserId: state.userId })
        return reply.redirect(LOGGED_OUT_PATH, 303)
      })
    }

    site.get<{ Querystring: { error?: unknown } }>(LOGIN_FAILED_PATH, async (request, reply) => {
      const code = typeof request.query.error === 'string' ? request.query.error : undefined
      return sendHtml(reply, views.loginFailedPage(ctx, code))
    })

    site.get(LOGGED_OUT_PATH, async (_request, reply) => sendHtml(reply, views.loggedOutPage(ctx)))
  })
  app.register(boardPanel, { storage, miro: opts.miro, ctx, mintIdToken: opts.mintIdToken })

  app.setNotFoundHandler(async (_request, reply) =>
    sendHtml(reply, views.errorPage(ctx, 404, 'Page not found', 'There is nothing at this address.'), 404))

  app.setErrorHandler(async (error: Error & { statusCode?: number, code?: string }, request, reply) => {
    // A call to Miro's REST API (the SDK's HttpError) refused our token: it was revoked at
    // Miro. Forget it, so the user can log in again instead of seeing this error forever.
    const miroApiStatus = error.name === 'HttpError' ? error.statusCode : undefined
    if (miroApiStatus === 401) {
      const userId = userIdOf(request)
      if (userId !== undefined) await request.miro.setState(userId, undefined)
      request.session.set('flash', { kind: 'error', text: 'Miro no longer accepts your login: please log in again.' })
      return reply.redirect('/', 303)
    }
    const status = miroApiStatus !== undefined
      ? 502
      : (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: error.code }, 'request refused')
    if (status === 401) {
      return sendHtml(reply, views.errorPage(ctx, status, 'Please log in', 'Your Miro login has ended.', true), status)
    }
    // The plugin's own refusals (a returnTo that is not a path here, a bad login state) say
    // what went wrong, and their messages never hold secrets: show them.
    if (status < 500 && error.code?.startsWith('FST_MIRO_')) {
      return sendHtml(reply, views.errorPage(ctx, status, 'Request refused', error.message), status)
    }
    if (status === 415 || status === 400 || status === 413) {
      return sendHtml(reply, views.errorPage(ctx, status, 'Bad request', 'This app could not read that request.'), status)
    }
    if (status < 500) {
      return sendHtml(reply, views.errorPage(ctx, status, 'Request refused', error.message), status)
    }
    const text = miroApiStatus !== undefined
      ? `Miro answered ${miroApiStatus}. Please try again in a moment.`
      : status === 503 || status === 502 || status === 504
        ? 'Miro or the token storage is not available right now. Please try again in a moment.'
        : 'Something went wrong on our side.'
    return sendHtml(reply, views.errorPage(ctx, status, 'Something went wrong', text), status)
  })

  return app
}

// ---------------------------------------------------------------------------------------------
// Command line: `node dist/examples/app.js` (what `npm start` runs).

function fail (message: string): never {
  console.error(`fastify-miro example: ${message}`)
  process.exit(1)
}

/** Checks Redis before starting, to say what is wrong instead of timing out. */
async function checkRedis (url: string): Promise<void> {
  const { Redis } = await import('ioredis')
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  let cause: Error & { code?: string } | undefined
  probe.on('error', (err: Error) => { cause ??= err })
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    const reason = cause ?? err as Error & { code?: string }
    fail(`cannot reach Redis at ${url} (${reason.code ?? reason.message}): start redis-server, set REDIS_URL, or use MIRO_STORAGE=session`)
  } finally {
    probe.disconnect()
  }
}

async function main (): Promise<void> {
  const env = process.env
  const host = env.HOST || '127.0.0.1'
  const port = Number(env.PORT || 3000)
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT should be a port number from 1 to 65535, not '${env.PORT}'`)
  const storage = env.MIRO_STORAGE || 'session'
  if (storage !== 'session' && storage !== 'redis') fail(`MIRO_STORAGE should be 'session' or 'redis', not '${storage}'`)
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379'
  if (env.SESSION_SECRET !== undefined && env.SESSION_SECRET.length < 32) fail('SESSION_SECRET should have at least 32 characters')

  // The address a browser uses: cookies are per host name, so it must be the redirect URL's.
  const browserHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
  const appUrl = `http://${browserHost}:${port}`

  const credentials = ['MIRO_CLIENT_ID', 'MIRO_CLIENT_SECRET', 'MIRO_REDIRECT_URL'] as const
  const missing = credentials.filter((name) => !env[name])
  if (missing.length > 0 && missing.length < credentials.length) {
    fail(`${missing.join(', ')} not set: set all of MIRO_CLIENT_ID, MIRO_CLIENT_SECRET and MIRO_REDIRECT_URL to use Miro, or none to use the local sandbox`)
  }
  if (storage === 'redis') await checkRedis(redisUrl)

  let sandbox: Sandbox | undefined
  let miro: ExampleAppOptions['miro']
  let banner: string
  if (missing.length === 0) {
    miro = { clientId: env.MIRO_CLIENT_ID as string, clientSecret: env.MIRO_CLIENT_SECRET as string, redirectUrl: env.MIRO_REDIRECT_URL as string }
    let openUrl = appUrl
    try {
      openUrl = new URL(miro.redirectUrl).origin
    } catch {}
    banner = `fastify-miro example: using Miro with client id ${miro.clientId} (${storage} storage) — open ${openUrl}`
  } else {
    sandbox = await startSandbox()
    miro = { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: `${appUrl}/auth/miro/callback`, basePath: sandbox.url }
    banner = `fastify-miro example: no MIRO_CLIENT_ID/SECRET/REDIRECT_URL set, using the local Miro sandbox at ${sandbox.url} (${storage} storage) — open ${appUrl}`
  }

  const app = await buildExampleApp({
    storage,
    redisUrl,
    ...(env.SESSION_SECRET ? { sessionSecret: env.SESSION_SECRET } : {}),
    miro,
    ...(sandbox ? { mintIdToken: () => sandbox.mintIdToken() } : {}),
    logger: { level: env.LOG_LEVEL || 'warn' }
  })

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`fastify-miro example: ${signal} again, exiting now`)
      process.exit(1)
    }
    stopping = true
    const timer = setTimeout(() => fail('could not close within 5 s, exiting anyway'), 5000)
    timer.unref()
    Promise.allSettled([app.close(), sandbox?.close()]).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) fail(`error while closing: ${(failed.reason as Error).message}`)
      console.log('fastify-miro example: stopped')
      process.exit(0)
    }, () => process.exit(1))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)

  try {
    await app.listen({ host, port })
  } catch (err) {
    await Promise.allSettled([app.close(), sandbox?.close()])
    const code = (err as { code?: string }).code
    fail(code === 'EADDRINUSE' ? `port ${port} on ${host} is in use: set PORT to a free one` : `cannot listen on ${host}:${port}: ${(err as Error).message}`)
  }
  console.log(banner)
}

if (require.main === module) {
  main().catch((err: unknown) => fail((err as Error).stack ?? String(err)))
}
