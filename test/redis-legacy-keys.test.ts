// Deployments of fastify-miro 0.1 stored each user's state under `prefix + id`, without the
// hash tag every key now carries. Those logins keep working: the state is read from the old
// key while the tagged one is missing, and moved (with the time it had left) on the next write:
// a refresh, a re-login or a logout. Real redis-server, the real plugin, the sandbox.
// The untagged key's DEL costs no round trip of its own: a login sends it alongside its SET, a
// refresh of a state that was never under the old key sends none (counted at the server).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { MiroTokenState } from '../index'
import { createRedisStore, type RedisClient } from '../lib/storage/redis'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'
import { startRedis } from './helpers/redis'
import { watchCommands } from './helpers/redis-monitor'

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

/** Notes when a SET or DEL of a token key is sent and when it is answered; sends it unchanged. */
class EventRedis extends Redis {
  readonly events: string[] = []
  override set (...args: unknown[]): never {
    return this.noted('set', args, (Redis.prototype.set as (...a: unknown[]) => Promise<unknown>).apply(this, args))
  }

  override del (...args: unknown[]): never {
    return this.noted('del', args, (Redis.prototype.del as (...a: unknown[]) => Promise<unknown>).apply(this, args))
  }

  private noted (name: string, args: unknown[], sent: Promise<unknown>): never {
    const key = String(args[0])
    if (!key.startsWith('miro:token:') || key.startsWith('miro:token:miro-user:')) return sent as never
    this.events.push(`${name} ${key} sent`)
    return sent.then((answer) => { this.events.push(`${name} ${key} answered`); return answer }) as never
  }
}

t.test('the 0.1 key costs no round trip: a login sends its DEL with the SET, a refresh sends none', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const client = new EventRedis(redis.url)
  t.teardown(() => { client.disconnect() })
  const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
  t.teardown(() => app.close())
  await app.ready()
  const counter = await watchCommands(redis.url, client)
  t.teardown(() => { counter.stop() })

  const code = await freshCode(sandbox)
  await counter.reset()
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code } })).body, 'ok')
  t.equal((await counter.counts()).get('del'), 1, 'a login deletes the 0.1 key, once')
  const events = client.events.splice(0)
  t.ok(events.indexOf(`del ${LEGACY} sent`) >= 0, 'the DEL of the 0.1 key was sent')
  t.ok(events.indexOf(`del ${LEGACY} sent`) < events.indexOf(`set ${TAGGED} answered`),
    `before the SET of the tagged key was answered: one round trip, not two (${events.join(', ')})`)

  const state = JSON.parse(await probe.get(TAGGED) ?? '') as MiroTokenState
  await probe.set(TAGGED, JSON.stringify({ ...state, tokenExpiresAt: PAST() }), 'KEEPTTL')
  await counter.reset()
  const refreshed = await app.inject('/token')
  t.equal(refreshed.statusCode, 200, 'the expired state refreshes')
  t.not(refreshed.body, state.accessToken, 'with a new access token')
  const counts = await counter.counts()
  t.ok((counts.get('eval') ?? 0) > 0, `the refresh wrote through its compare-and-set (${JSON.stringify(Object.fromEntries(counts))})`)
  t.equal(counts.get('del'), undefined, 'and sent no DEL: no 0.1 key was moved, so none is left to delete')
})

t.test('the first write after a stall succeeds: its SET goes as the probe, the DEL of the 0.1 key after its answer', async (t) => {
  // The storage limit: the probe below is answered some 100 ms after it is sent, well within it.
  const LIMIT_MS = 1000
  const redis = await startRedis()
  const client = new Redis(redis.url)
  client.on('error', () => {})
  const probe = new Redis(redis.url)
  t.teardown(async () => {
    await probe.call('CLIENT', 'UNPAUSE')
    probe.disconnect()
    client.disconnect()
    await redis.stop()
  })
  await probe.flushall()
  await client.ping() // connected: the store refuses to queue while connecting
  const store = createRedisStore(client as unknown as RedisClient, { keyPrefix: 'miro:token:' }, { warn () {} }, undefined, LIMIT_MS)
  const state: MiroTokenState = { userId: 'm1', accessToken: 'a1', refreshToken: 'r1', tokenExpiresAt: new Date(Date.now() + 60_000).toISOString() }

  await probe.call('CLIENT', 'PAUSE', '10000', 'WRITE')
  await t.rejects(store.set('u1', state), new RegExp(`did not answer within ${LIMIT_MS} ms`), 'a write during the pause times out')
  t.ok(store.commands.oneAtATime, 'the store now sends one command at a time, as a probe')
  const write = store.set('u1', state).then(() => 'stored', (err: Error) => err.message)
  await sleep(100)
  await probe.call('CLIENT', 'UNPAUSE')
  t.equal(await write, 'stored', 'the probe is answered, then the DEL goes: the write succeeds')
  t.same(JSON.parse(await probe.get(TAGGED) ?? ''), state, 'stored under the tagged key')
  t.notOk(store.commands.oneAtATime, 'Redis answered: commands flow again')
})
