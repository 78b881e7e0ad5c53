// The refresh lock is a short lease (lib/lifecycle/lease.ts) that its holder renews while it
// works: a refresh slower than one lease keeps the lock, so no other instance refreshes the
// same user meanwhile, and the lock is gone once the refresh is done.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MiroTokenState } from '../index'
import { LEASE_MS } from '../lib/lifecycle/lease'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'

t.test('a refresh longer than the lease keeps the lock: the other instance waits for it and refreshes nothing', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const instances = await Promise.all([0, 1].map(async () => {
    const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'u1', httpTimeout: LEASE_MS + 3000 } })
    app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
    app.get('/token', async (request) => request.miro.getAccessToken('u1'))
    t.teardown(() => app.close())
    return app
  }))
  const [a, b] = instances as [typeof instances[0], typeof instances[0]]
  await a.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  const state = JSON.parse(await probe.get('miro:token:{u1}') ?? '') as MiroTokenState
  await probe.set('miro:token:{u1}', JSON.stringify({ ...state, tokenExpiresAt: PAST() }))

  // Miro takes one lease and a half for the first refresh.
  sandbox.failTokenEndpoint({ delayMs: LEASE_MS * 1.5, times: 1 })
  const slow = a.inject('/token')
  await sleep(LEASE_MS + 300)
  t.ok(await probe.pttl('miro:token:{u1}:refresh-lock') > 0, 'past its first lease, the lock is still held (renewed)')
  const waiting = await b.inject('/token')
  const first = await slow
  t.equal(first.statusCode, 200)
  t.equal(waiting.statusCode, 200, 'the other instance waited for the refresh')
  t.equal(waiting.body, first.body, 'and got its pair')
  t.same(sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').map((c) => c.ok), [true], 'one refresh call in all')
  t.equal(await probe.exists('miro:token:{u1}:refresh-lock'), 0, 'released once done')
})
