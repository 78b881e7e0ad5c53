// Every register-time mistake fails app.ready() with a message that names the fix.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyRedis from '@fastify/redis'
import fastifyMiro, { MiroOptionsError, type FastifyMiroOptions } from '../index'
import { resolveOptions } from '../lib/options'
import { startRedis } from './helpers/redis'

const creds = { clientId: 'id', clientSecret: 'secret', redirectUrl: 'http://127.0.0.1:3000/auth/miro/callback' }

// Keep the user's MIRO_* variables out of these tests.
for (const name of ['MIRO_CLIENT_ID', 'MIRO_CLIENT_SECRET', 'MIRO_REDIRECT_URL']) delete process.env[name]

async function withSession (): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: 'a'.repeat(32), cookie: { secure: false } })
  return app
}

async function fails (t: Test, opts: unknown, message: RegExp, app?: FastifyInstance): Promise<void> {
  const instance = app ?? await withSession()
  instance.register(fastifyMiro, opts as FastifyMiroOptions)
  await t.rejects(async () => { await instance.ready() }, { message, code: 'FST_MIRO_INVALID_OPTIONS' })
  await instance.close().catch(() => {})
}

t.test('missing credentials name the option and the environment variable', async (t) => {
  await fails(t, { clientSecret: 's', redirectUrl: creds.redirectUrl }, /options\.clientId is required: pass clientId or set the MIRO_CLIENT_ID environment variable/)
  await fails(t, { clientId: 'i', redirectUrl: creds.redirectUrl }, /options\.clientSecret is required.*MIRO_CLIENT_SECRET/)
  await fails(t, { clientId: 'i', clientSecret: 's' }, /options\.redirectUrl is required.*MIRO_REDIRECT_URL/)
  await fails(t, undefined, /options\.clientId is required/)
})

t.test('credentials fall back to MIRO_* environment variables', async (t) => {
  process.env.MIRO_CLIENT_ID = 'env-id'
  process.env.MIRO_CLIENT_SECRET = 'env-secret'
  process.env.MIRO_REDIRECT_URL = 'http://127.0.0.1:9/cb'
  t.teardown(() => { for (const name of ['MIRO_CLIENT_ID', 'MIRO_CLIENT_SECRET', 'MIRO_REDIRECT_URL']) delete process.env[name] })
  const app = await withSession()
  await app.register(fastifyMiro)
  app.get('/', async (request) => request.miro.getAuthUrl())
  const res = await app.inject('/')
  t.equal(res.body, 'https://miro.com/oauth/authorize?response_type=code&client_id=env-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb')
  await app.close()
})

t.test('options of the wrong type', async (t) => {
  await fails(t, { ...creds, clientId: 42 }, /options\.clientId should be a string/)
  await fails(t, { ...creds, redirectUrl: 'not a url' }, /options\.redirectUrl should be an absolute http\(s\) URL/)
  await fails(t, { ...creds, basePath: 'ftp://x' }, /options\.basePath should be an absolute http\(s\) URL/)
  await fails(t, { ...creds, basePath: 'http://127.0.0.1:1/v2' }, /options\.basePath should be an origin without a path/)
  await fails(t, { ...creds, httpTimeout: -1 }, /options\.httpTimeout should be a positive number/)
  await fails(t, { ...creds, httpTimeout: '100' }, /options\.httpTimeout should be a positive number/)
  for (const storageTimeout of [0, -1, '1500', Number.NaN, Number.POSITIVE_INFINITY, null]) {
    await fails(t, { ...creds, storageTimeout }, /options\.storageTimeout should be a positive number/)
  }
  await fails(t, { ...creds, storageTimeout: 2 ** 31 }, /options\.storageTimeout should be at most 2147483647 milliseconds/)
  await fails(t, { ...creds, sessionKey: 5 }, /options\.sessionKey should be a string/)
  await fails(t, { ...creds, userId: 'sid' }, /options\.userId should be a function/)
  await fails(t, { ...creds, redis: 'x' }, /options\.redis should be an object/)
  await fails(t, { ...creds, storage: 'memory', redis: { ttl: 1.5 } }, /options\.redis\.ttl should be a positive integer/)
  await fails(t, { ...creds, storage: 'memory', redis: { keyPrefix: 1 } }, /options\.redis\.keyPrefix should be a string/)
})

t.test('storageTimeout: 1500 ms unless given', async (t) => {
  t.equal(resolveOptions(creds).storageTimeout, 1500)
  t.equal(resolveOptions({ ...creds, storageTimeout: 250 }).storageTimeout, 250)
  t.equal(resolveOptions({ ...creds, storageTimeout: 2 ** 31 - 1 }).storageTimeout, 2 ** 31 - 1, 'the longest delay a Node timer takes')
})

t.test('unknown storage values', async (t) => {
  await fails(t, { ...creds, storage: 'mongo' }, /options\.storage 'mongo' is unknown: use 'session', 'redis', 'memory' or an object with get\(\) and set\(\)/)
  await fails(t, { ...creds, storage: { get () {} } }, /options\.storage should be 'session', 'redis', 'memory' or an object with get\(userId\) and set\(userId, state\)/)
  await fails(t, { ...creds, storage: 7 }, /options\.storage should be/)
})

t.test("storage 'session' without @fastify/session", async (t) => {
  await fails(t, creds, /storage 'session' needs @fastify\/session: register @fastify\/cookie and @fastify\/session before fastify-miro/, Fastify())
})

t.test("storage 'redis' without @fastify/redis, or with an unknown namespace", async (t) => {
  await fails(t, { ...creds, storage: 'redis' }, /storage 'redis' needs @fastify\/redis: register it before fastify-miro/, Fastify())

  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const named = Fastify()
  await named.register(fastifyRedis, { url: redis.url, namespace: 'cache' })
  await fails(t, { ...creds, storage: 'redis', routes: false, redis: { namespace: 'tokens' } },
    /options\.redis\.namespace 'tokens' is not a @fastify\/redis namespace: register @fastify\/redis with \{ namespace: 'tokens' \}/, named)

  const namedOnly = Fastify()
  await namedOnly.register(fastifyRedis, { url: redis.url, namespace: 'cache' })
  await fails(t, { ...creds, storage: 'redis', routes: false }, /@fastify\/redis was registered with a namespace: set options\.redis\.namespace/, namedOnly)

  const ok = Fastify()
  await ok.register(fastifyRedis, { url: redis.url, namespace: 'tokens' })
  await ok.register(fastifyMiro, { ...creds, storage: 'redis', routes: false, redis: { namespace: 'tokens' } })
  await t.resolves(async () => { await ok.ready() })
  await ok.close()
})

t.test('the routes need somewhere to keep the login state, and a user id', async (t) => {
  await fails(t, { ...creds, storage: 'memory' }, /the login routes keep the pending login in a cookie: register @fastify\/cookie/, Fastify())
  // The login cookie is sealed with a key derived from the client secret: no cookie secret needed.
  const cookies = Fastify()
  await cookies.register(fastifyCookie)
  await fails(t, { ...creds, storage: 'memory' }, /options\.userId is required without @fastify\/session/, cookies)
  await fails(t, { ...creds, routes: { loginPath: 'auth' } }, /options\.routes\.loginPath should be a path starting with '\/'/)
  await fails(t, { ...creds, routes: { logoutPath: '/auth/miro/callback' } }, /must differ from the callback path '\/auth\/miro\/callback'/)
  await fails(t, { ...creds, routes: 'yes' }, /options\.routes should be false, true or an object/)
  await fails(t, { ...creds, state: 'off' }, /options\.state should be true or false/)
  await fails(t, { ...creds, pkce: 'yes' }, /options\.pkce should be true or false/)
  await fails(t, { ...creds, state: false, pkce: true }, /options\.pkce needs options\.state/)
  await fails(t, { ...creds, routes: { trustedOrigins: 'https://a.example.com' } }, /options\.routes\.trustedOrigins should be a list of origins, like \['https:\/\/admin\.example\.com'\]/)
  await fails(t, { ...creds, routes: { trustedOrigins: ['https://a.example.com/'] } }, /options\.routes\.trustedOrigins\[0\] should be an origin \(scheme, host and port only\)/)
  await fails(t, { ...creds, routes: { trustedOrigins: ['a.example.com'] } }, /options\.routes\.trustedOrigins\[0\] should be an absolute http\(s\) URL/)
})

t.test('the errors are MiroOptionsError instances', async (t) => {
  const app = Fastify()
  app.register(fastifyMiro, { storage: 'memory', routes: false })
  const err = await (async () => { await app.ready() })().catch((e: unknown) => e)
  t.ok(err instanceof MiroOptionsError)
  t.equal((err as Error).message, 'fastify-miro: options.clientId is required: pass clientId or set the MIRO_CLIENT_ID environment variable')
})

t.test('storage memory warns once in production, and only there', async (t) => {
  const lines: string[] = []
  const stream = { write: (line: string) => { lines.push(line) } }
  const previous = process.env.NODE_ENV
  t.teardown(() => { process.env.NODE_ENV = previous })

  process.env.NODE_ENV = 'production'
  const prod = Fastify({ logger: { level: 'warn', stream } })
  await prod.register(fastifyMiro, { ...creds, storage: 'memory', routes: false })
  prod.get('/', async (request) => String(await request.miro.isAuthorized('x')))
  await prod.inject('/')
  await prod.inject('/')
  t.equal(lines.filter((l) => l.includes("storage 'memory'")).length, 1)
  await prod.close()

  lines.length = 0
  process.env.NODE_ENV = 'development'
  const dev = Fastify({ logger: { level: 'warn', stream } })
  await dev.register(fastifyMiro, { ...creds, storage: 'memory', routes: false })
  await dev.ready()
  t.equal(lines.length, 0)
  await dev.close()
})
