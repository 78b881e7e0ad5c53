// The session backend: state under request.session[sessionKey], read fresh on every call (so it
// survives regenerate()), never in Redis; the id argument is accepted and ignored.
import t from 'tap'
import { Redis } from 'ioredis'
import { startSandbox } from '../sandbox/index'
import { Browser, buildApp } from './helpers/app'
import { startRedis } from './helpers/redis'
import type { MiroTokenState } from '../index'

t.test('login stores the state in the session only, and API calls carry the bearer token', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()

  const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'session', sessionKey: 'miroTokens' } })
  t.teardown(() => app.close())
  app.get('/look', async (request) => ({
    authorized: await request.miro.isAuthorized('ignored-id'),
    other: await request.miro.isAuthorized(12345),
    state: await request.miro.getState('ignored-id') ?? null,
    inSession: request.session.get('miroTokens' as never) ?? null
  }))
  app.get('/boards', async (request) => {
    const names: string[] = []
    for await (const board of request.miro.as(request.session.sessionId).getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.post('/forget', async (request) => {
    await request.miro.setState(request.session.sessionId, undefined)
    return { left: request.session.get('miroTokens' as never) ?? null }
  })

  const browser = new Browser(app)
  t.match((await browser.get('/look')).json(), { authorized: false, inSession: null })
  const callback = await browser.login(sandbox)
  t.equal(callback.statusCode, 302)

  const look = (await browser.get('/look')).json() as { authorized: boolean, other: boolean, state: MiroTokenState, inSession: string }
  t.equal(look.authorized, true)
  t.equal(look.other, true, 'the id argument is ignored by the session backend')
  t.match(look.state, { userId: sandbox.users[0]!.id, teamId: sandbox.users[0]!.teamId, scope: String, refreshToken: String, tokenExpiresAt: String })
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [look.state.accessToken])
  const { userId, accessToken, refreshToken, tokenExpiresAt, teamId, scope } = look.state
  t.equal(look.inSession, ['m1', userId, accessToken, refreshToken, tokenExpiresAt, teamId, scope].join(' '),
    'the session holds one compact line (lib/storage/codec.ts), not an object @fastify/session would hash key by key')
  t.same(await probe.keys('*'), [], 'nothing of the token state reaches Redis')

  // The sandbox answers the boards API only with a valid Bearer token.
  t.same((await browser.get('/boards')).json(), ["Sandbox User's first board"])

  t.same((await browser.request({ method: 'POST', url: '/forget' })).json(), { left: null })
  t.match((await browser.get('/look')).json(), { authorized: false })
})

t.test('the state is read fresh: it follows the session through regenerate()', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'session', routes: false } })
  t.teardown(() => app.close())
  const state: MiroTokenState = { userId: 'u', accessToken: 'token-before', teamId: 't' }
  app.post('/regenerate-then-store', async (request) => {
    const client = request.miro // built before the session is replaced
    const oldId = request.session.sessionId
    await request.session.regenerate()
    await client.setState('ignored', state)
    return { changed: oldId !== request.session.sessionId, readBack: await client.getState('ignored') }
  })
  app.get('/state', async (request) => ({ state: await request.miro.getState('ignored') ?? null }))
  const browser = new Browser(app)
  await browser.get('/state')
  const res = (await browser.request({ method: 'POST', url: '/regenerate-then-store' })).json()
  t.same(res, { changed: true, readBack: state })
  t.same((await browser.get('/state')).json(), { state }, 'the new session, saved with its cookie, holds it')
})

t.test('a request without a session reads as logged out and cannot store', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'session', routes: false } })
  t.teardown(() => app.close())
  app.post('/destroyed', async (request) => {
    await request.session.destroy()
    const authorized = await request.miro.isAuthorized('x')
    const err = await request.miro.setState('x', { userId: 'u', accessToken: 'a' }).catch((e: Error & { code: string }) => e.code)
    return { authorized, err }
  })
  t.same((await app.inject({ method: 'POST', url: '/destroyed' })).json(), { authorized: false, err: 'FST_MIRO_STORAGE_UNAVAILABLE' })
})
