// Deployments of fastify-miro 0.1 stored each user's state under `prefix + id`, without the
// hash tag every key now carries. Those logins keep working: the state is read from the old
// key while the tagged one is missing, and moved (with the time it had left) on the next write:
// a refresh, a re-login or a logout. Real redis-server, the real plugin, the sandbox.
import t from 'tap'
import type { MiroTokenState } from '../index'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'

const LEGACY = 'miro:token:u1'
const TAGGED = 'miro:token:{u1}'

t.test('a state under its 0.1 key is read, refreshed into the tagged key, and logged out from it', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/authorized', async (request) => String(await request.miro.isAuthorized('u1')))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
  app.post('/logout', async (request) => { await request.miro.revokeToken('u1'); return 'bye' })
  t.teardown(() => app.close())

  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  // Make it a 0.1 deployment's state: the same value under the untagged key.
  const state = JSON.parse(await probe.get(TAGGED) ?? '') as MiroTokenState
  await probe.del(TAGGED)
  await probe.set(LEGACY, JSON.stringify(state))
  t.equal((await app.inject('/authorized')).body, 'true', 'the old key is read')
  t.equal(await probe.exists(TAGGED), 0, 'a read moves nothing')

  // Now expired, with a TTL of its own: the next request refreshes.
  await probe.set(LEGACY, JSON.stringify({ ...state, tokenExpiresAt: PAST() }), 'EX', 5000)

  const refreshed = await app.inject('/token')
  t.equal(refreshed.statusCode, 200, 'the expired state refreshes')
  t.not(refreshed.body, state.accessToken, 'with a new access token')
  t.equal(await probe.exists(LEGACY), 0, 'the old key is gone once the rotated pair is stored')
  const moved = JSON.parse(await probe.get(TAGGED) ?? '') as MiroTokenState
  t.equal(moved.accessToken, refreshed.body, 'the rotated pair is under the tagged key')
  t.ok(await probe.ttl(TAGGED) > 5000, 'with the expiry of a fresh refresh token')
  t.equal(sandbox.refreshTokensOf(sandbox.users[0]!.id).length, 1, 'one live refresh token at Miro: nothing was refreshed twice')

  // A second 0.1 state, then a logout: both keys end empty.
  await probe.set(LEGACY, JSON.stringify(moved))
  await probe.del(TAGGED)
  t.equal((await app.inject({ method: 'POST', url: '/logout' })).body, 'bye')
  t.same(await probe.keys('miro:token:*'), [], 'a logout deletes the state under either key')
  t.equal((await app.inject('/authorized')).body, 'false')
})

t.test('a new login over a 0.1 state leaves only the tagged key', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  t.teardown(() => app.close())
  await probe.set(LEGACY, JSON.stringify({ userId: 'someone', accessToken: 'old-access', tokenExpiresAt: new Date(Date.now() + 60_000).toISOString() }))
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
  t.same((await probe.keys('miro:token:*')).filter((key) => !key.startsWith('miro:token:miro-user:')), [TAGGED], 'the old key is removed by the write')
})
