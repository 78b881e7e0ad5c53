// The session backend: the state in a record of its own in the session store, the session
// holding a pointer to it under sessionKey, read fresh on every call (so it survives
// regenerate()), never in Redis; the id argument is accepted and ignored.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox } from '../sandbox/index'
import { Browser, buildApp } from './helpers/app'
import { startRedis } from './helpers/redis'
import type { MiroTokenState } from '../index'

/** The record a pointer (`r1 <id>`, by default the session's) names, read from the session store itself. */
function recordOf (request: FastifyRequest, sessionKey: string, pointer: unknown = request.session.get(sessionKey as never)): Promise<unknown> {
  if (typeof pointer !== 'string') return Promise.resolve(null)
  return new Promise((resolve, reject) => request.sessionStore.get(`${sessionKey}-token:${pointer.slice(3)}`, (err, record) => err ? reject(err) : resolve(record ?? null)))
}

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
    inSession: request.session.get('miroTokens' as never) ?? null,
    record: await recordOf(request, 'miroTokens')
  }))
  app.get('/boards', async (request) => {
    const names: string[] = []
    for await (const board of request.miro.as(request.session.sessionId).getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.post('/forget', async (request) => {
    const pointer = request.session.get('miroTokens' as never)
    await request.miro.setState(request.session.sessionId, undefined)
    return { left: request.session.get('miroTokens' as never) ?? null, record: await recordOf(request, 'miroTokens', pointer) }
  })

  const browser = new Browser(app)
  t.match((await browser.get('/look')).json(), { authorized: false, inSession: null })
  const callback = await browser.login(sandbox)
  t.equal(callback.statusCode, 302)

  const look = (await browser.get('/look')).json() as { authorized: boolean, other: boolean, state: MiroTokenState, inSession: string, record: { cookie: { expires: string }, miroTokens: string } }
  t.equal(look.authorized, true)
  t.equal(look.other, true, 'the id argument is ignored by the session backend')
  t.match(look.state, { userId: sandbox.users[0]!.id, teamId: sandbox.users[0]!.teamId, scope: String, refreshToken: String, tokenExpiresAt: String })
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [look.state.accessToken])
  const { userId, accessToken, refreshToken, tokenExpiresAt, teamId, scope } = look.state
  t.match(look.inSession, /^r1 [\w-]{22}$/, 'the session holds only a pointer: a stale save of it cannot undo a refresh')
  t.equal(look.record.miroTokens, ['m1', userId, accessToken, refreshToken, tokenExpiresAt, teamId, scope].join(' '),
    'the record holds one compact line (lib/storage/codec.ts) under sessionKey')
  t.ok(Date.parse(look.record.cookie.expires) > Date.now() + 59 * 24 * 3600_000, 'and a cookie.expires, so stores give it a TTL')
  t.same(await probe.keys('*'), [], 'nothing of the token state reaches Redis')

  // The sandbox answers the boards API only with a valid Bearer token.
  t.same((await browser.get('/boards')).json(), ["Sandbox User's first board"])

  t.same((await browser.request({ method: 'POST', url: '/forget' })).json(), { left: null, record: null }, 'pointer and record deleted')
  t.match((await browser.get('/look')).json(), { authorized: false })
})

t.test('the state is read fresh: it follows the session through regenerate()', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'session', routes: false } })
  t.teardown(() => app.close())
  const before: MiroTokenState = { userId: 'u', accessToken: 'token-before', teamId: 't' }
  const state: MiroTokenState = { userId: 'u', accessToken: 'token-after', teamId: 't' }
  app.post('/store-before', async (request) => { await request.miro.setState('ignored', before); return request.session.get('miro' as never) })
  // What a login callback does: the old record goes, a new session, the new state stored in it.
  app.post('/relogin', async (request) => {
    const client = request.miro // built before the session is replaced
    const oldId = request.session.sessionId
    const oldPointer = request.session.get('miro' as never) as unknown as string
    await client.setState('ignored', undefined)
    await request.session.regenerate()
    await client.setState('ignored', state)
    const oldRecord = await new Promise((resolve) => request.sessionStore.get(`miro-token:${oldPointer.slice(3)}`, (_err, r) => resolve(r ?? null)))
    return {
      changed: oldId !== request.session.sessionId,
      newPointer: request.session.get('miro' as never) !== oldPointer,
      oldRecord,
      readBack: await client.getState('ignored')
    }
  })
  app.get('/state', async (request) => ({ state: await request.miro.getState('ignored') ?? null }))
  const browser = new Browser(app)
  await browser.get('/state')
  t.match((await browser.request({ method: 'POST', url: '/store-before' })).body, /^r1 [\w-]{22}$/)
  const oldCookie = browser.cookies.get('sessionId') ?? ''
  const res = (await browser.request({ method: 'POST', url: '/relogin' })).json()
  t.same(res, { changed: true, newPointer: true, oldRecord: null, readBack: state }, 'old record destroyed, a new record for the new session')
  t.same((await browser.get('/state')).json(), { state }, 'the new session, saved with its cookie, holds the pointer to it')
  const planted = new Browser(app)
  planted.cookies.set('sessionId', oldCookie)
  t.same((await planted.get('/state')).json(), { state: null }, 'the old session is gone, and with it its record')
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
