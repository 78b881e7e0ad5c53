// Logout wins across instances: one instance logs the user out while another one's refresh is
// at Miro (Miro has rotated already and answers late). The refreshing instance finds the state
// gone when the answer comes, does not write it back, and revokes the pair at Miro.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MiroTokenState } from '../index'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'

t.test('a logout on one instance beats a refresh in flight on another', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const instance = async () => {
    const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
    app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
    app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
    app.post('/logout', async (request) => { await request.miro.revokeToken('u1'); return 'bye' })
    t.teardown(() => app.close())
    return app
  }
  const refreshing = await instance()
  const loggingOut = await instance()
  await refreshing.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  const state = JSON.parse(await probe.get('miro:token:{u1}') ?? '') as MiroTokenState
  await probe.set('miro:token:{u1}', JSON.stringify({ ...state, tokenExpiresAt: PAST() }))

  sandbox.failTokenEndpoint({ answerDelayMs: 500, times: 1 })
  const refresh = refreshing.inject('/token')
  await sleep(150) // Miro has rotated; its answer is on its way
  t.equal((await loggingOut.inject({ method: 'POST', url: '/logout' })).body, 'bye')
  const answered = await refresh
  t.equal(answered.statusCode, 401, 'the refresh that lost to the logout answers 401')
  t.equal(answered.json().code, 'FST_MIRO_NOT_AUTHORIZED')
  t.equal(await probe.exists('miro:token:{u1}'), 0, 'nothing was written back')
  const userId = sandbox.users[0]!.id
  const deadline = Date.now() + 3000
  while (sandbox.accessTokensOf(userId).length > 0 && Date.now() < deadline) await sleep(20)
  t.same(sandbox.accessTokensOf(userId), [], 'the pair Miro issued to the racing refresh is revoked too')
  t.same(sandbox.refreshTokensOf(userId), [])
})
