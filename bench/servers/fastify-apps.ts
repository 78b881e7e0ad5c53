// The Fastify servers: the references (plain Fastify) and fastify-miro, route for route.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyRedis from '@fastify/redis'
import fastifyMiro, { type FastifyMiroOptions } from '../../index'
import {
  BENCH_STATE, BENCH_USER, CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, REDIRECT_URL, SESSION_SECRET, STORM_USER, pluginKey
} from '../fixtures'
import type { ServerConfig } from '../protocol'

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
