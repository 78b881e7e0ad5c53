// The Fastify servers: the references (plain Fastify) and fastify-miro, route for route.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyRedis from '@fastify/redis'
import fastifyMiro, { type FastifyMiroOptions } from '../../index'
import { Miro } from '@mirohq/miro-api'
import {
  API_USER, BENCH_STATE, BENCH_USER, CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, REDIRECT_URL, SESSION_SECRET, STORM_USER, pluginKey
} from '../fixtures'
import type { ServerConfig } from '../protocol'
import { RedisStorage, sandboxTokenMiro } from './recipe'

/** Untyped access to session keys, so the bench adds no global type augmentation. */
interface LooseSession { sessionId: string, get (key: string): unknown, set (key: string, value: unknown): void }
const sessionOf = (request: FastifyRequest): LooseSession => request.session as unknown as LooseSession

const miroOptions: FastifyMiroOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUrl: REDIRECT_URL }

// Same session settings as the Express recipes: no session for anonymous requests, and the
// cookie is only sent again when the session changes.
async function withSession (app: FastifyInstance): Promise<void> {
  await app.register(fastifyCookie, { secret: COOKIE_SECRET })
  await app.register(fastifySession, {
    secret: SESSION_SECRET, cookie: { secure: false }, saveUninitialized: false, rolling: false
  })
}

function requireRedis (config: ServerConfig): string {
  if (!config.redisUrl) throw new Error('this scenario needs config.redisUrl')
  return config.redisUrl
}

/** 1. Reference: @fastify/cookie + @fastify/session, one JSON route. */
export async function sessionReference (): Promise<FastifyInstance> {
  const app = Fastify()
  await withSession(app)
  app.get('/setup', async (request) => {
    sessionOf(request).set('user', BENCH_USER)
    return { ok: true }
  })
  app.get('/', async (request) => ({ user: sessionOf(request).get('user') }))
  return app
}

/** 2. The same with fastify-miro registered (session storage, default routes); `request.miro` is never read. */
export async function sessionWithPlugin (): Promise<FastifyInstance> {
  const app = Fastify()
  await withSession(app)
  await app.register(fastifyMiro, { ...miroOptions, storage: 'session' })
  app.get('/setup', async (request) => {
    sessionOf(request).set('user', BENCH_USER)
    return { ok: true }
  })
  app.get('/', async (request) => ({ user: sessionOf(request).get('user') }))
  return app
}

/** 3 (reference). One ioredis GET + JSON.parse, what isAuthorized boils down to. */
export async function redisPlain (config: ServerConfig): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyRedis, { url: requireRedis(config) })
  const key = pluginKey(BENCH_USER)
  app.get('/', async () => {
    const raw = await app.redis.get(key)
    const state = raw === null ? undefined : JSON.parse(raw) as { accessToken?: string }
    return { authorized: !!state?.accessToken }
  })
  return app
}

/** 3. fastify-miro on Redis: `request.miro.isAuthorized(id)` with a fixed id, no session plugin. */
export async function redisWithPlugin (config: ServerConfig): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyRedis, { url: requireRedis(config) })
  await app.register(fastifyMiro, { ...miroOptions, storage: 'redis', routes: false })
  app.get('/', async (request) => ({ authorized: await request.miro.isAuthorized(BENCH_USER) }))
  return app
}

/** 5. fastify-miro on the session: the token state lives in the logged-in session. */
export async function sessionAuthWithPlugin (): Promise<FastifyInstance> {
  const app = Fastify()
  await withSession(app)
  await app.register(fastifyMiro, { ...miroOptions, storage: 'session', routes: false })
  app.get('/setup', async (request) => {
    const session = sessionOf(request)
    session.set('user', BENCH_USER)
    await request.miro.setState(session.sessionId, { ...BENCH_STATE })
    return { ok: true }
  })
  app.get('/', async (request) => ({ authorized: await request.miro.isAuthorized(sessionOf(request).sessionId) }))
  return app
}

/** 5 (by hand). The same session and stored state, read without fastify-miro: what the plugin adds on top. */
export async function sessionAuthByHand (): Promise<FastifyInstance> {
  const app = Fastify()
  await withSession(app)
  app.get('/setup', async (request) => {
    const session = sessionOf(request)
    session.set('user', BENCH_USER)
    session.set('miro', { ...BENCH_STATE })
    return { ok: true }
  })
  app.get('/', async (request) => {
    const state = sessionOf(request).get('miro') as { accessToken?: string } | undefined
    return { authorized: !!state?.accessToken }
  })
  return app
}

/** 6. Refresh storm: fastify-miro on Redis, token calls to the sandbox. */
export async function stormWithPlugin (config: ServerConfig): Promise<FastifyInstance> {
  const sandbox = config.sandbox
  if (!sandbox) throw new Error('the storm needs config.sandbox')
  const app = Fastify()
  await app.register(fastifyRedis, { url: requireRedis(config) })
  await app.register(fastifyMiro, {
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    redirectUrl: REDIRECT_URL,
    basePath: sandbox.url,
    storage: 'redis',
    routes: false
  })
  app.get('/', async (request) => {
    await request.miro.getAccessToken(STORM_USER)
    return { ok: true }
  })
  return app
}

function requireSandbox (config: ServerConfig): NonNullable<ServerConfig['sandbox']> {
  if (!config.sandbox) throw new Error('this scenario needs config.sandbox')
  return config.sandbox
}

/** Ten Miro API calls (ten first pages of getAllBoards) as `api`: the API-heavy route. */
async function tenCalls (api: ReturnType<Miro['as']>): Promise<{ boards: number }> {
  let boards = 0
  for (let i = 0; i < 10; i++) {
    for await (const board of api.getAllBoards()) if (board.id) boards++
  }
  return { boards }
}

/** 7. A route making 10 API calls against the sandbox, fastify-miro on Redis. */
export async function api10WithPlugin (config: ServerConfig): Promise<FastifyInstance> {
  const sandbox = requireSandbox(config)
  const app = Fastify()
  await app.register(fastifyRedis, { url: requireRedis(config) })
  await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url, storage: 'redis', routes: false })
  app.get('/', async (request) => tenCalls(request.miro.as(API_USER)))
  return app
}

/** 7 (reference). The same route with the plain SDK and the guide's RedisStorage (one client for the app, as the guide does). */
export async function api10WithSdk (config: ServerConfig): Promise<FastifyInstance> {
  const sandbox = requireSandbox(config)
  const storage = new RedisStorage(requireRedis(config))
  const SandboxMiro = sandboxTokenMiro(sandbox.url)
  const miro = new SandboxMiro({ clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url, storage })
  const app = Fastify()
  app.addHook('onClose', () => storage.close())
  app.get('/', async () => tenCalls(miro.as(API_USER)))
  return app
}

/** 8 and 9. fastify-miro on Redis, a token for the user named by `?u=` (refresh ahead, storms of many users). */
export async function usersWithPlugin (config: ServerConfig): Promise<FastifyInstance> {
  const sandbox = requireSandbox(config)
  const app = Fastify()
  await app.register(fastifyRedis, { url: requireRedis(config) })
  await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url, storage: 'redis', routes: false })
  app.get<{ Querystring: { u?: string } }>('/', async (request) => {
    await request.miro.getAccessToken(request.query.u ?? '')
    return { ok: true }
  })
  return app
}
