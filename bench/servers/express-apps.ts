// The Express 5 recipes fastify-miro replaces: express-session, and a `new Miro(...)` per
// request on Miro's RedisStorage (node-redis) or on the inline session storage.
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import session from 'express-session'
import { Miro } from '@mirohq/miro-api'
import type { State } from '@mirohq/miro-api/dist/storage'
import { BENCH_STATE, BENCH_USER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URL, SESSION_SECRET, STORM_USER } from '../fixtures'
import type { ServerConfig } from '../protocol'
import { RedisStorage, sandboxTokenMiro } from './recipe'

export interface ExpressServer {
  app: Express
  close (): Promise<void>
}

/** The session keys the recipes use (typed here rather than by a global augmentation). */
type RecipeSession = Request['session'] & { user?: string, state?: State }
const sessionOf = (req: Request): RecipeSession => req.session as RecipeSession

const appOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUrl: REDIRECT_URL }

// Same settings as the Fastify side: in-memory store, no session for anonymous requests,
// saved only when it changed.
function withSession (app: Express): void {
  app.use(session({ secret: SESSION_SECRET, resave: false, saveUninitialized: false, cookie: { secure: false } }))
}

function setupRoute (app: Express, state?: State): void {
  app.get('/setup', (req, res) => {
    sessionOf(req).user = BENCH_USER
    if (state) sessionOf(req).state = state
    res.json({ ok: true })
  })
}

/**
 * 4. Express 5 + express-session + Miro's RedisStorage. One RedisStorage (one node-redis
 * connection, as the guide's module-level instance) and a new Miro per request.
 */
export function redisRecipe (config: ServerConfig): ExpressServer {
  if (!config.redisUrl) throw new Error('this scenario needs config.redisUrl')
  const storage = new RedisStorage(config.redisUrl)
  const app = express()
  withSession(app)
  setupRoute(app)
  app.get('/', async (_req, res) => {
    const miro = new Miro({ ...appOptions, storage })
    res.json({ authorized: await miro.isAuthorized(BENCH_USER) })
  })
  return { app, close: () => storage.close() }
}

/** 5. Express 5 + express-session, the token state in the session through an inline Storage. */
export function sessionRecipe (): ExpressServer {
  const app = express()
  withSession(app)
  setupRoute(app, { ...BENCH_STATE })
  app.get('/', async (req, res) => {
    const miro = new Miro({
      ...appOptions,
      storage: {
        get: async () => sessionOf(req).state,
        set: (_, s) => { sessionOf(req).state = s }
      }
    })
    res.json({ authorized: await miro.isAuthorized(req.session.id) })
  })
  return { app, close: async () => {} }
}

/** 6. The storm with the plain SDK: the redis recipe, token calls sent to the sandbox. */
export function stormRecipe (config: ServerConfig): ExpressServer {
  const sandbox = config.sandbox
  if (!config.redisUrl || !sandbox) throw new Error('the storm needs config.redisUrl and config.sandbox')
  const storage = new RedisStorage(config.redisUrl)
  const SandboxMiro = sandboxTokenMiro(sandbox.url)
  const app = express()
  app.get('/', async (_req, res) => {
    const miro = new SandboxMiro({
      clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, storage
    })
    await miro.getAccessToken(STORM_USER)
    res.json({ ok: true })
  })
  // Express's default handler would print 199 stack traces; the failure is counted by status.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.name })
  })
  return { app, close: () => storage.close() }
}
