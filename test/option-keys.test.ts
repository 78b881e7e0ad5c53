// Mistakes JavaScript callers can make that TypeScript would catch: a misspelled option key, a
// second registration in one context, `undefined` for an unset environment variable.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyMiro, { type FastifyMiroOptions } from '../index'
import { closestKey } from '../lib/option-keys'

const creds = { clientId: 'id', clientSecret: 'secret', redirectUrl: 'http://127.0.0.1:3000/auth/miro/callback' }
for (const name of ['MIRO_CLIENT_ID', 'MIRO_CLIENT_SECRET', 'MIRO_REDIRECT_URL']) delete process.env[name]

async function withSession (): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: 'a'.repeat(32), cookie: { secure: false } })
  return app
}

async function readyError (t: Test, opts: unknown): Promise<Error & { code?: string }> {
  const app = await withSession()
  t.teardown(() => app.close())
  app.register(fastifyMiro, opts as FastifyMiroOptions)
  const err = await app.ready().then(() => undefined, (e: unknown) => e as Error & { code?: string })
  if (!err) throw new Error('app.ready() resolved')
  return err
}

t.test('a misspelled option names the closest known one', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...creds, storag: 'redis' }, 'fastify-miro: options.storag is not an option: did you mean `storage`?'],
    [{ ...creds, clientID: 'x' }, 'fastify-miro: options.clientID is not an option: did you mean `clientId`?'],
    [{ ...creds, redirectUri: 'http://x/cb' }, 'fastify-miro: options.redirectUri is not an option: did you mean `redirectUrl`?'],
    [{ ...creds, encryptionKeys: [] }, 'fastify-miro: options.encryptionKeys is not an option: did you mean `encryptionKey`?'],
    [{ ...creds, storage: 'redis', redis: { keyprefix: 'x:' } }, 'fastify-miro: options.redis.keyprefix is not an option: did you mean `keyPrefix`?'],
    [{ ...creds, routes: { loginpath: '/in' } }, 'fastify-miro: options.routes.loginpath is not an option: did you mean `loginPath`?']
  ]
  for (const [opts, message] of cases) {
    const err = await readyError(t, opts)
    t.equal(err.message, message)
    t.equal(err.code, 'FST_MIRO_INVALID_OPTIONS')
  }
})

t.test('an unknown option far from every known one lists the options', async (t) => {
  const err = await readyError(t, { ...creds, mongoUrl: 'mongodb://x' })
  t.match(err.message, /^fastify-miro: options\.mongoUrl is not an option; the options are `clientId`, `clientSecret`, .*`storage`/)
})

t.test('the closest key is only offered when it is close', async (t) => {
  t.equal(closestKey('storag', ['storage', 'state']), 'storage')
  t.equal(closestKey('sotrage', ['storage', 'state']), 'storage', 'a swap counts once')
  t.equal(closestKey('zzzzzz', ['storage', 'state']), undefined)
})

t.test("Fastify's register options (prefix, logLevel) are not refused", async (t) => {
  const app = await withSession()
  t.teardown(() => app.close())
  await app.register(fastifyMiro, { ...creds, prefix: '/x', logLevel: 'warn' } as FastifyMiroOptions)
  await app.ready()
  t.ok(app.hasRequestDecorator('miro'))
})

t.test('undefined is "not given", as for an unset environment variable', async (t) => {
  process.env.MIRO_CLIENT_ID = 'env-id'
  t.teardown(() => { delete process.env.MIRO_CLIENT_ID })
  const app = await withSession()
  t.teardown(() => app.close())
  await app.register(fastifyMiro, {
    ...creds,
    clientId: undefined,
    basePath: undefined,
    storage: undefined,
    redis: { keyPrefix: undefined },
    routes: { loginPath: undefined },
    encryptionKey: undefined
  })
  app.get('/', async (request) => request.miro.getAuthUrl())
  t.match((await app.inject('/')).body, /client_id=env-id/)
})

t.test('encryptionKey: an unset old key is left out, an unset write key is named', async (t) => {
  const key = randomBytes(32).toString('base64')
  const app = await withSession()
  t.teardown(() => app.close())
  await app.register(fastifyMiro, { ...creds, encryptionKey: [key, undefined] })
  await app.ready()
  const err = await readyError(t, { ...creds, encryptionKey: [undefined, key] })
  t.equal(err.message, 'fastify-miro: options.encryptionKey[0] (the key new states are written with) is undefined: is its environment variable set?')
})

t.test("basePath's message shows an API origin as its example", async (t) => {
  const err = await readyError(t, { ...creds, basePath: 'api.miro.com' })
  t.equal(err.message, "fastify-miro: options.basePath should be an absolute http(s) URL, like 'https://api.miro.com'")
})

t.test('a second registration in one context says how to register a second Miro app', async (t) => {
  const app = await withSession()
  t.teardown(() => app.close())
  app.register(fastifyMiro, creds)
  app.register(fastifyMiro, { ...creds, clientId: 'other' })
  const err = await app.ready().then(() => undefined, (e: unknown) => e as Error & { code?: string })
  t.equal(err?.code, 'FST_MIRO_INVALID_OPTIONS')
  t.match(err?.message, /^fastify-miro: fastify-miro is already registered in this context .*register each one in its own encapsulated context/)
})

t.test('two Miro apps, each in its own context, each have their own request.miro', async (t) => {
  const app = await withSession()
  t.teardown(() => app.close())
  for (const [prefix, clientId] of [['/a', 'app-a'], ['/b', 'app-b']] as const) {
    await app.register(async (child) => {
      await child.register(fastifyMiro, { ...creds, clientId, routes: false })
      child.get('/url', async (request) => request.miro.getAuthUrl())
    }, { prefix })
  }
  t.match((await app.inject('/a/url')).body, /client_id=app-a&/)
  t.match((await app.inject('/b/url')).body, /client_id=app-b&/)
})
