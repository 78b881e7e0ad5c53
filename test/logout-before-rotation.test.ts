// A logout that begins while a refresh of the same user is still taking its lock (before it
// reaches Miro) waits for that refresh, and must then revoke the state the refresh rotated as
// well as the new pair: Miro leaves the rotated-away access token live until it expires.
// Found under load by the fault suite's logout race (1–2 of 10 users kept a live token in 2 of
// 4 loaded runs); here the lock's SET NX is held back 300 ms by a real ioredis client subclass,
// so the order is certain.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { MiroTokenState } from '../index'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'

/** ioredis, with every SET … NX (the refresh lock) sent 300 ms late. */
class SlowLockRedis extends Redis {
  override set (...args: unknown[]): never {
    const send = (): unknown => (Redis.prototype.set as (...a: unknown[]) => unknown).apply(this, args)
    return (args.includes('NX') ? sleep(300).then(send) : send()) as never
  }
}

t.test('a logout during a refresh\'s lock wait revokes the pair the refresh replaced', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const client = new SlowLockRedis(redis.url)
  t.teardown(() => { client.disconnect() })
  const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
  app.post('/logout', async (request) => { await request.miro.revokeToken('u1'); return 'bye' })
  t.teardown(() => app.close())

  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
  const before = JSON.parse(await probe.get('miro:token:{u1}') ?? '') as MiroTokenState
  await probe.set('miro:token:{u1}', JSON.stringify({ ...before, tokenExpiresAt: PAST() }), 'KEEPTTL')
  const miroUser = sandbox.users[0]!.id
  t.same(sandbox.accessTokensOf(miroUser), [before.accessToken], 'one live access token')

  const refresh = app.inject({ url: '/token', headers: { accept: 'application/json' } })
  await sleep(100) // the refresh is waiting for its lock, not at Miro yet
  const logout = await app.inject({ method: 'POST', url: '/logout' })
  t.equal(logout.body, 'bye')
  t.equal((await refresh).statusCode, 200, 'the refresh the logout waited for finished first')
  t.equal(await probe.exists('miro:token:{u1}'), 0, 'nothing stored after the logout')
  t.same(sandbox.accessTokensOf(miroUser), [], 'no access token left live at Miro: the new pair\'s nor the rotated one\'s')
  t.same(sandbox.refreshTokensOf(miroUser), [])
})
