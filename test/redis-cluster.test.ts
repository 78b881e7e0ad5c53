// The plugin on a real Redis Cluster (three masters from redis-server): login, a refresh storm,
// a refresh and a logout work with one token call per user; every key of a user lives in one
// slot; and with one master SIGKILLed, users on the other masters go on (refreshes included)
// while those on the dead one get 503 within the storage time limit, with Redis's cause and no
// address in the message.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { MiroTokenState } from '../index'
import { startSandbox } from '../sandbox/index'
import { lockKey, tokenKey } from '../lib/storage/keys'
import { buildApp, freshCode } from './helpers/app'
import { startRedisCluster, type ClusterNode } from './helpers/redis-cluster'
import { PAST } from './helpers/expiry'

const PREFIX = 'miro:token:'
const STORAGE_TIMEOUT = 500
const USERS = Array.from({ length: 12 }, (_, i) => `user-${i}`)

t.test('Redis Cluster: every step of the token lifecycle, then one master down', async (t) => {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.stop())
  const seeds = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  const client = new Redis.Cluster(seeds, { clusterRetryStrategy: () => 100 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const probe = new Redis.Cluster(seeds)
  probe.on('error', () => {})
  t.teardown(() => { probe.disconnect() })
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())

  const app = await buildApp({
    sandbox,
    session: false,
    redisClient: client,
    miro: { storage: 'redis', routes: false, storageTimeout: STORAGE_TIMEOUT, userId: (request) => request.headers['x-user'] as string }
  })
  app.post<{ Body: { code: string } }>('/login', async (request) =>
    request.miro.exchangeCodeForAccessToken(request.headers['x-user'] as string, request.body.code).then(() => 'ok'))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken(request.headers['x-user'] as string))
  app.post('/logout', async (request) => { await request.miro.revokeToken(request.headers['x-user'] as string); return 'bye' })
  t.teardown(() => app.close())
  const get = (user: string) => app.inject({ url: '/token', headers: { 'x-user': user, accept: 'application/json' } })
  const expire = async (user: string): Promise<MiroTokenState> => {
    const state = JSON.parse(await probe.get(tokenKey(PREFIX, user)) ?? '') as MiroTokenState
    await probe.set(tokenKey(PREFIX, user), JSON.stringify({ ...state, tokenExpiresAt: PAST() }), 'KEEPTTL')
    return state
  }

  for (const user of USERS) {
    const res = await app.inject({ method: 'POST', url: '/login', headers: { 'x-user': user }, payload: { code: await freshCode(sandbox) } })
    t.equal(res.body, 'ok', `${user} logs in`)
  }

  // One slot per user: the token state and the refresh lock are on the same master.
  const home = new Map<string, ClusterNode>()
  for (const user of USERS) {
    const node = await cluster.nodeOf(tokenKey(PREFIX, user))
    home.set(user, node)
    t.equal((await cluster.nodeOf(lockKey(PREFIX, user))).port, node.port, `${user}'s lock key is on its token key's master`)
  }

  // A storm: every state expired, ten requests per user at once: one refresh each.
  for (const user of USERS) await expire(user)
  const callsBefore = sandbox.tokenCalls.length
  const storm = await Promise.all(USERS.flatMap((user) => Array.from({ length: 10 }, () => get(user))))
  t.same([...new Set(storm.map((r) => r.statusCode))], [200], 'every request of the storm is answered')
  const refreshes = sandbox.tokenCalls.slice(callsBefore).filter((c) => c.grantType === 'refresh_token')
  t.equal(refreshes.length, USERS.length, 'one token call per user')
  for (const user of USERS) {
    const bodies = new Set(storm.filter((_, i) => USERS[Math.floor(i / 10)] === user).map((r) => r.body))
    t.equal(bodies.size, 1, `${user}'s ten requests got the one new access token`)
  }

  // A logout.
  const leaving = USERS[0]!
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: { 'x-user': leaving } })).body, 'bye')
  t.equal(await probe.exists(tokenKey(PREFIX, leaving)), 0, 'the logout deleted the state')
  t.equal((await get(leaving)).statusCode, 401, 'and the user is logged out')

  // One master down (SIGKILL): it holds some users; the others are on the live masters.
  const dead = home.get(USERS[1]!)!
  const onDead = USERS.slice(1).filter((u) => home.get(u)!.port === dead.port)
  const alive = USERS.slice(1).filter((u) => home.get(u)!.port !== dead.port)
  t.ok(onDead.length > 0 && alive.length > 1, `${onDead.length} users on the dead master, ${alive.length} elsewhere`)
  const refreshing = alive[0]!
  await expire(refreshing) // a user on a live master whose token must be refreshed meanwhile
  process.kill(dead.pid, 'SIGKILL')
  await sleep(50)

  for (let round = 0; round < 2; round++) {
    const started = Date.now()
    const [deadAnswers, aliveAnswers] = await Promise.all([
      Promise.all(onDead.map(async (u) => { const r = await get(u); return { r, ms: Date.now() - started } })),
      Promise.all(alive.map((u) => get(u)))
    ])
    t.same([...new Set(aliveAnswers.map((r) => r.statusCode))], [200], `round ${round}: every user on a live master is served, the refresh included`)
    for (const { r, ms } of deadAnswers) {
      t.equal(r.statusCode, 503, `round ${round}: a user on the dead master gets 503`)
      t.equal(r.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
      // Generous slack: the bound is "within the time limit", not a speed goal.
      t.ok(ms < STORAGE_TIMEOUT * 2 + 500, `round ${round}: within the storage time limit (${ms} ms)`)
      const message = r.json().message as string
      t.match(message, /redis get(:| did not answer)/, 'the message says what failed')
      t.match(message, /a Cluster node failed: (ECONNREFUSED|connection closed|Connection is closed)/i, 'and why')
      t.notMatch(message, /127\.0\.0\.1|localhost|redis:\/\/|:\d{4,5}\b/, 'and carries no address')
    }
  }
  const refreshed = await get(refreshing)
  t.equal(refreshed.statusCode, 200)
  const stored = JSON.parse(await probe.get(tokenKey(PREFIX, refreshing)) ?? '') as MiroTokenState
  t.equal(stored.accessToken, refreshed.body, 'the refresh on a live master was stored')
  t.equal(sandbox.refreshTokensOf(sandbox.users[0]!.id).includes(stored.refreshToken!), true, 'and its refresh token is the live one at Miro')
})
