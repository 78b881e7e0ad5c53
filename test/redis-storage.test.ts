// The redis backend: JSON at keyPrefix + userId in the client @fastify/redis decorated (or its
// namespace), 60-day expiry renewed on every write when there is a refresh token, none without,
// `ttl` overriding; the plugin never opens, quits or reconfigures that client.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import fastifyMiro, { type FastifyMiroOptions, type MiroTokenState } from '../index'
import { freshCode, REDIRECT_URL } from './helpers/app'
import { startRedis } from './helpers/redis'

const SIXTY_DAYS = 60 * 24 * 3600

t.test('redis backend', async (t) => {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })

  async function redisApp (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions = {}, namespace?: string) {
    const app = Fastify()
    await app.register(fastifyRedis, { url: redis.url, ...(namespace ? { namespace } : {}) })
    await app.register(fastifyMiro, {
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      redirectUrl: REDIRECT_URL,
      basePath: sandbox.url,
      storage: 'redis',
      routes: false,
      ...miro
    })
    app.post<{ Params: { id: string }, Body: { code: string } }>('/users/:id/login', async (request) =>
      request.miro.exchangeCodeForAccessToken(request.params.id, request.body.code).then(() => 'ok'))
    app.get<{ Params: { id: string } }>('/users/:id/authorized', async (request) => request.miro.isAuthorized(request.params.id))
    app.get<{ Params: { id: string } }>('/users/:id/boards', async (request) => {
      const names: string[] = []
      for await (const board of request.miro.as(request.params.id).getAllBoards()) names.push(board.name ?? '')
      return names
    })
    app.delete<{ Params: { id: string } }>('/users/:id', async (request) => request.miro.setState(request.params.id, undefined).then(() => 'gone'))
    t.teardown(() => app.close())
    return app
  }

  t.test('code exchange stores JSON at keyPrefix + userId; as(id) calls carry Bearer; deleting clears', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    t.equal((await app.inject('/users/alice/authorized')).body, 'false')
    t.equal((await app.inject({ method: 'POST', url: '/users/alice/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
    t.same(await probe.keys('*'), ['miro:token:alice'])
    const stored = JSON.parse(await probe.get('miro:token:alice') ?? '') as MiroTokenState
    t.match(stored, { userId: sandbox.users[0]!.id, accessToken: String, refreshToken: String, teamId: sandbox.users[0]!.teamId, scope: String })
    const ttl = await probe.ttl('miro:token:alice')
    t.ok(ttl > SIXTY_DAYS - 10 && ttl <= SIXTY_DAYS, `expires after Miro's refresh-token life (ttl ${ttl})`)
    t.equal((await app.inject('/users/alice/authorized')).body, 'true')
    t.equal((await app.inject('/users/bob/authorized')).body, 'false', 'another id is another user')
    t.same((await app.inject('/users/alice/boards')).json(), ["Sandbox User's first board"])
    t.equal((await app.inject({ method: 'DELETE', url: '/users/alice' })).body, 'gone')
    t.equal(await probe.exists('miro:token:alice'), 0)
    t.equal((await app.inject('/users/alice/authorized')).body, 'false')
  })

  t.test('the expiry is renewed on every write', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    await app.inject({ method: 'POST', url: '/users/carol/login', payload: { code: await freshCode(sandbox) } })
    // Time passes: the expiry ran down and the access token expired.
    const stored = JSON.parse(await probe.get('miro:token:carol') ?? '') as MiroTokenState
    await probe.set('miro:token:carol', JSON.stringify({ ...stored, tokenExpiresAt: new Date(Date.now() - 1000).toISOString() }), 'EX', 100)
    t.equal((await app.inject('/users/carol/authorized')).body, 'true')
    t.equal(sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').length, 1, 'refreshed')
    const ttl = await probe.ttl('miro:token:carol')
    t.ok(ttl > SIXTY_DAYS - 10, `the refresh wrote a new 60-day expiry (ttl ${ttl})`)
  })

  t.test('no refresh token: no expiry; ttl overrides both', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox({ expiresIn: null })
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    await app.inject({ method: 'POST', url: '/users/dan/login', payload: { code: await freshCode(sandbox) } })
    const stored = JSON.parse(await probe.get('miro:token:dan') ?? '') as MiroTokenState
    t.equal(stored.refreshToken, undefined)
    t.equal(stored.tokenExpiresAt, undefined)
    t.equal(await probe.ttl('miro:token:dan'), -1, 'no expiry')

    const withTtl = await redisApp(t, sandbox, { redis: { ttl: 300, keyPrefix: 'app1:' } })
    await withTtl.inject({ method: 'POST', url: '/users/erin/login', payload: { code: await freshCode(sandbox) } })
    const ttl = await probe.ttl('app1:erin')
    t.ok(ttl > 290 && ttl <= 300, `ttl option used (ttl ${ttl})`)
  })

  t.test('a namespace of @fastify/redis is used when named', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox, { redis: { namespace: 'tokens' } }, 'tokens')
    await app.inject({ method: 'POST', url: '/users/frank/login', payload: { code: await freshCode(sandbox) } })
    t.equal(await probe.exists('miro:token:frank'), 1)
  })

  t.test('the decorated client is never opened, quit or reconfigured', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const client = new Redis(redis.url)
    t.teardown(() => client.disconnect())
    await client.ping()
    const clientsBefore = (await probe.client('LIST') as string).trim().split('\n').length
    const optionsBefore = JSON.stringify(client.options)

    const app = Fastify()
    await app.register(fastifyRedis, { client, closeClient: false })
    await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url, storage: 'redis', routes: false })
    app.post('/login', async (request) => request.miro.exchangeCodeForAccessToken('gina', (request.body as { code: string }).code).then(() => 'ok'))
    app.get('/authorized', async (request) => request.miro.isAuthorized('gina'))
    await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
    t.equal((await app.inject('/authorized')).body, 'true')
    t.equal((await probe.client('LIST') as string).trim().split('\n').length, clientsBefore, 'no connection opened')
    await app.close()
    t.equal(client.status, 'ready', 'still connected after app.close()')
    t.equal(JSON.stringify(client.options), optionsBefore, 'options untouched')
  })
})
