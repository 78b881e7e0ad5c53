// Tokens that stay valid under load: one refresh per user across instances (Miro rotates
// refresh tokens), invalid_grant as a logout, Miro and storage outages as errors — never a
// logout, never a 500, never lost state.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { FastifyMiroOptions, MiroTokenState } from '../index'
import { Browser, buildApp, freshCode } from './helpers/app'
import { startPrivateRedis, startRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const refreshes = (sandbox: Sandbox): number => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.ok).length

/** An instance of an app keyed by an `x-user` header, tokens in Redis. */
async function redisInstance (t: Test, sandbox: Sandbox, redisUrl: string, miro: FastifyMiroOptions = {}, logLines?: string[]): Promise<FastifyInstance> {
  const app = await buildApp({
    sandbox,
    session: false,
    redisUrl,
    ...(logLines ? { logLines } : {}),
    miro: { storage: 'redis', routes: false, userId: (request) => request.headers['x-user'] as string, ...miro }
  })
  app.post<{ Body: { code: string } }>('/login', async (request) =>
    request.miro.exchangeCodeForAccessToken(app.miro.userIdOf(request) as string, request.body.code).then(() => 'ok'))
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miro.as(app.miro.userIdOf(request) as string).getAllBoards()) names.push(board.name ?? '')
    return names
  })
  t.teardown(() => app.close())
  return app
}

async function expireStored (probe: Redis, key: string): Promise<MiroTokenState> {
  const state = JSON.parse(await probe.get(key) ?? '') as MiroTokenState
  await probe.set(key, JSON.stringify({ ...state, tokenExpiresAt: PAST() }))
  return state
}

t.test('redis backend', async (t) => {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })

  t.test('60 concurrent requests on two instances for one expired token: exactly one refresh, all succeed', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const a = await redisInstance(t, sandbox, redis.url)
    const b = await redisInstance(t, sandbox, redis.url)
    const headers = { 'x-user': 'storm' }
    t.equal((await a.inject({ method: 'POST', url: '/login', headers, payload: { code: await freshCode(sandbox) } })).body, 'ok')
    const before = await expireStored(probe, 'miro:token:{storm}')

    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).inject({ url: '/boards', headers })))
    t.same(results.map((r) => r.statusCode), Array(60).fill(200), 'all 60 succeed')
    t.ok(results.every((r) => r.body === '["Sandbox User\'s first board"]'))
    t.equal(refreshes(sandbox), 1, 'the token endpoint saw exactly one refresh')
    const after = JSON.parse(await probe.get('miro:token:{storm}') ?? '') as MiroTokenState
    t.not(after.refreshToken, before.refreshToken, 'the rotated refresh token is stored')
    t.ok(Date.parse(after.tokenExpiresAt ?? '') > Date.now(), 'and a fresh expiry')
    t.equal(after.teamId, before.teamId)
    t.equal(await probe.exists('miro:token:{storm}:refresh-lock'), 0, 'the lock is released')
  })

  t.test('invalid_grant on refresh: the state is deleted and the user is logged out, not a 500', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisInstance(t, sandbox, redis.url)
    const headers = { 'x-user': 'revoked' }
    await app.inject({ method: 'POST', url: '/login', headers, payload: { code: await freshCode(sandbox) } })
    const state = await expireStored(probe, 'miro:token:{revoked}')
    // Someone else used the refresh token: Miro rotated it away.
    const rotated = await fetch(`${sandbox.url}/v1/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.refreshToken ?? '', client_id: sandbox.clientId, client_secret: sandbox.clientSecret })
    })
    t.equal(rotated.status, 200)

    const api = await app.inject({ url: '/boards', headers })
    t.equal(api.statusCode, 401)
    t.equal(api.json().code, 'FST_MIRO_NOT_AUTHORIZED')
    t.equal(await probe.exists('miro:token:{revoked}'), 0, 'the dead state is deleted')
    const html = await app.inject({ url: '/boards', headers: { ...headers, accept: 'text/html' } })
    t.equal(html.statusCode, 401, 'routes are off here, so browsers get the 401 too')
  })

  t.test('Miro down or slow on refresh: 502/504 with a code, the stored state untouched', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisInstance(t, sandbox, redis.url, { httpTimeout: 300 })
    const headers = { 'x-user': 'patient' }
    await app.inject({ method: 'POST', url: '/login', headers, payload: { code: await freshCode(sandbox) } })
    await expireStored(probe, 'miro:token:{patient}')
    const stored = await probe.get('miro:token:{patient}')

    sandbox.failTokenEndpoint({ status: 503 })
    const down = await app.inject({ url: '/boards', headers })
    t.equal(down.statusCode, 502)
    t.equal(down.json().code, 'FST_MIRO_UNAVAILABLE')
    t.equal(await probe.get('miro:token:{patient}'), stored, 'untouched')

    // Slower than httpTimeout: the request answers 504, the refresh goes on (Miro may rotate
    // any moment now: giving up would lose the new pair), and nobody refreshes again meanwhile.
    sandbox.failTokenEndpoint({ delayMs: 1000, times: 1 })
    const slow = await app.inject({ url: '/boards', headers })
    t.equal(slow.statusCode, 504)
    t.equal(slow.json().code, 'FST_MIRO_TIMEOUT')
    const joined = await app.inject({ url: '/boards', headers })
    t.equal(joined.statusCode, 504, 'a request meanwhile waits for the same refresh')
    t.equal(sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').length, 1, 'the 503 call, and no second refresh was sent yet')
    const deadline = Date.now() + 5000
    while (refreshes(sandbox) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal((await app.inject({ url: '/boards', headers })).statusCode, 200, 'the late answer was stored and serves the next request')
    t.equal(refreshes(sandbox), 1, 'one refresh in all')
    t.not(await probe.get('miro:token:{patient}'), stored, 'the rotated pair is stored')

    await expireStored(probe, 'miro:token:{patient}')
    const kept = await probe.get('miro:token:{patient}')
    await sandbox.close()
    const refused = await app.inject({ url: '/boards', headers })
    t.equal(refused.statusCode, 502)
    t.match(refused.json(), { code: 'FST_MIRO_UNAVAILABLE', message: /ECONNREFUSED/ })
    t.equal(await probe.get('miro:token:{patient}'), kept, 'untouched')
  })

  t.test('a stored value that is not a token state counts as logged out, with a warning', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const lines: string[] = []
    const app = await redisInstance(t, sandbox, redis.url, {}, lines)
    for (const junk of ['{not json', '"a string"', '[]', '{"accessToken":42,"userId":"u"}', '{"accessToken":"a","userId":"u","tokenExpiresAt":"soon"}', 'null']) {
      await probe.set('miro:token:{junk}', junk)
      lines.length = 0
      const res = await app.inject({ url: '/boards', headers: { 'x-user': 'junk' } })
      t.equal(res.statusCode, 401, `logged out for ${junk}`)
      t.equal(lines.filter((l) => l.includes('"level":40') && l.includes('not valid')).length, junk === 'null' ? 0 : 1, `one warning for ${junk}`)
    }
  })
})

t.test('storage down: 503 with a code, not a logout; the app recovers by itself', async (t) => {
  const redis = await startPrivateRedis()
  t.teardown(() => redis.stop())
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await redisInstance(t, sandbox, redis.url)
  app.get('/authorized', async (request) => request.miro.isAuthorized(app.miro.userIdOf(request) as string))
  const headers = { 'x-user': 'outage' }
  await app.inject({ method: 'POST', url: '/login', headers, payload: { code: await freshCode(sandbox) } })
  t.equal((await app.inject({ url: '/boards', headers })).statusCode, 200)

  await redis.kill()
  for (const url of ['/boards', '/authorized']) {
    const res = await app.inject({ url, headers: { ...headers, accept: 'text/html' } })
    t.equal(res.statusCode, 503, `${url}: 503, not a redirect to the login`)
    t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
  }

  await redis.restart() // empty: persistence is off in this test
  const deadline = Date.now() + 10_000
  let status = 0
  while (Date.now() < deadline) {
    status = (await app.inject({ url: '/authorized', headers })).statusCode
    if (status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'answers again without a restart of the app')
  t.equal((await app.inject({ method: 'POST', url: '/login', headers, payload: { code: await freshCode(sandbox) } })).body, 'ok')
  t.equal((await app.inject({ url: '/boards', headers })).statusCode, 200)
})

t.test('session backend: concurrent requests of one session refresh once and all keep the new state', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'session' } })
  t.teardown(() => app.close())
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miroApi().getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.post('/expire', async (request) => {
    const state = await request.miro.getState('ignored')
    await request.miro.setState('ignored', { ...state!, tokenExpiresAt: PAST() })
    return 'expired'
  })
  app.get('/state', async (request) => request.miro.getState('ignored'))
  const browser = new Browser(app)
  await browser.login(sandbox)
  await browser.request({ method: 'POST', url: '/expire' })

  const results = await Promise.all(Array.from({ length: 20 }, () => browser.get('/boards')))
  t.same(results.map((r) => r.statusCode), Array(20).fill(200))
  t.equal(refreshes(sandbox), 1, 'one refresh')
  const state = (await browser.get('/state')).json() as MiroTokenState
  t.ok(Date.parse(state.tokenExpiresAt ?? '') > Date.now(), 'the session holds the refreshed state')
  t.equal((await browser.get('/boards')).statusCode, 200, 'and it works: no second refresh needed')
  t.equal(refreshes(sandbox), 1)
})
