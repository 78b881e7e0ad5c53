// app.miro.revokeAll: "log out everywhere" for one Miro user, over three browsers (three
// sessions) on two instances sharing Redis, through the login index (a set per Miro user, no
// keyspace scan). The index follows logins, refreshes and logouts, and drops keys whose state
// is gone.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { MiroTokenState } from '../index'
import { Browser, buildApp, sandboxAndRedis } from './helpers/app'
import { PAST } from './helpers/expiry'

const PREFIX = 'miro:token:'
const indexKey = (miroUserId: string): string => PREFIX + 'miro-user:{' + miroUserId + '}'

t.test('revokeAll logs one Miro user out of three browsers on two instances', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const instance = async (): Promise<FastifyInstance> => {
    // Each instance its own session store: the sessions differ, the tokens are all in Redis.
    const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'redis' } })
    app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
    t.teardown(() => app.close())
    await app.ready()
    return app
  }
  const a = await instance()
  const b = await instance()
  const alice = [new Browser(a), new Browser(a), new Browser(b)]
  for (const browser of alice) t.equal((await browser.login(sandbox, '/auth/miro', 'Alice')).statusCode, 302)
  const bob = new Browser(a)
  await bob.login(sandbox, '/auth/miro', 'Bob')
  const aliceId = sandbox.users.find((u) => u.name === 'Alice')!.id
  const bobUser = sandbox.users.find((u) => u.name === 'Bob')!

  const members = await probe.smembers(indexKey(aliceId))
  t.equal(members.length, 3, 'the index lists the three logins of Alice')
  t.ok(await probe.ttl(indexKey(aliceId)) > 59 * 24 * 3600, 'the index expires like the states (60 days)')
  for (const member of members) t.ok(await probe.exists(PREFIX + '{' + (JSON.parse(member) as string) + '}'), 'each member is a token key')

  // A refresh renews the index's expiry.
  await probe.expire(indexKey(aliceId), 100)
  const firstKey = PREFIX + '{' + (JSON.parse(members[0]!) as string) + '}'
  const state = JSON.parse(await probe.get(firstKey) ?? '') as MiroTokenState
  await probe.set(firstKey, JSON.stringify({ ...state, tokenExpiresAt: PAST() }), 'KEEPTTL')
  for (const browser of alice) t.equal((await browser.get('/me')).statusCode, 200)
  const deadline = Date.now() + 3000
  while (await probe.ttl(indexKey(aliceId)) <= 100 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(await probe.ttl(indexKey(aliceId)) > 59 * 24 * 3600, 'a refresh renewed the index expiry')

  t.equal(await b.miro.revokeAll({ miroUserId: aliceId, teamId: 'another-team' }), 0, 'another team: nothing ends')
  for (const browser of alice) t.equal((await browser.get('/me')).statusCode, 200)

  const stored = await Promise.all((await probe.smembers(indexKey(aliceId))).map(async (member) =>
    (JSON.parse(await probe.get(PREFIX + '{' + (JSON.parse(member) as string) + '}') ?? '') as MiroTokenState).accessToken))
  t.equal(await b.miro.revokeAll({ miroUserId: aliceId }), 3, 'three logins ended')
  for (const browser of alice) t.equal((await browser.get('/me')).statusCode, 401, 'every browser of Alice is logged out')
  // (The access token a refresh replaced stays live until it expires, as at Miro.)
  t.same(sandbox.accessTokensOf(aliceId).filter((token) => stored.includes(token)), [], 'her stored tokens are revoked at Miro')
  t.same(sandbox.refreshTokensOf(aliceId), [], 'no refresh token of hers works any more')
  t.equal(await probe.exists(indexKey(aliceId)), 0, 'her index is gone')
  t.equal((await bob.get('/me')).statusCode, 200, 'Bob stays logged in')
  t.equal(await a.miro.revokeAll({ miroUserId: aliceId }), 0, 'a second call finds nothing')

  // The logout route takes the key out of the index.
  t.equal(await probe.scard(indexKey(bobUser.id)), 1)
  t.equal((await bob.request({ method: 'POST', url: '/auth/miro/logout' })).statusCode, 204)
  t.equal(await probe.exists(indexKey(bobUser.id)), 0, 'logout removed Bob\'s key from the index')
})

t.test('revokeAll drops keys whose state expired or was deleted, and counts only live logins', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'redis' } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  t.teardown(() => app.close())
  const browsers = [new Browser(app), new Browser(app)]
  for (const browser of browsers) await browser.login(sandbox, '/auth/miro', 'Carol')
  const carolId = sandbox.users.find((u) => u.name === 'Carol')!.id
  const members = await probe.smembers(indexKey(carolId))
  t.equal(members.length, 2)
  // One state expires in Redis (as its TTL would make it): its key stays listed until revokeAll.
  await probe.del(PREFIX + '{' + (JSON.parse(members[0]!) as string) + '}')
  // A stray member that never held a state.
  await probe.sadd(indexKey(carolId), JSON.stringify('never-logged-in'))
  t.equal(await app.miro.revokeAll({ miroUserId: carolId }), 1, 'only the live login counts')
  t.equal(await probe.exists(indexKey(carolId)), 0, 'the gone and stray keys left the index')
  for (const browser of browsers) t.equal((await browser.get('/me')).statusCode, 401)
})

t.test('memory backend: revokeAll over several logins', async (t) => {
  const { sandbox } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, miro: { storage: 'memory' } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  t.teardown(() => app.close())
  const browsers = [new Browser(app), new Browser(app), new Browser(app)]
  for (const browser of browsers) await browser.login(sandbox, '/auth/miro', 'Dan')
  const other = new Browser(app)
  await other.login(sandbox, '/auth/miro', 'Eve')
  const danId = sandbox.users.find((u) => u.name === 'Dan')!.id
  t.equal(await app.miro.revokeAll({ miroUserId: danId }), 3)
  for (const browser of browsers) t.equal((await browser.get('/me')).statusCode, 401)
  t.equal((await other.get('/me')).statusCode, 200)
})

t.test('with encryption the index is named by an HMAC, and found again after a key rotation', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const keyA = 'a'.repeat(64)
  const keyB = 'b'.repeat(64)
  const instance = async (encryptionKey: string | string[]): Promise<FastifyInstance> => {
    const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'redis', encryptionKey } })
    app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
    t.teardown(() => app.close())
    await app.ready()
    return app
  }
  const before = await instance(keyA)
  const rotated = await instance([keyB, keyA])
  const browsers = [new Browser(before), new Browser(before), new Browser(rotated)]
  for (const browser of browsers) await browser.login(sandbox, '/auth/miro', 'Hana')
  const hanaId = sandbox.users.find((u) => u.name === 'Hana')!.id
  const sets = await probe.keys(PREFIX + 'miro-user:*')
  t.equal(sets.length, 2, 'one set per encryption key that wrote')
  t.notOk(sets.some((key) => key.includes(hanaId)), 'no Miro user id in a key name')
  t.equal(await rotated.miro.revokeAll({ miroUserId: hanaId }), 3, 'the rotated instance finds the logins of both sets')
  for (const browser of browsers) t.equal((await browser.get('/me')).statusCode, 401)
})
