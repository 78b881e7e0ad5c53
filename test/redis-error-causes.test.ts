// Storage errors say what Redis said: the code word of its error reply (WRONGTYPE, MOVED,
// CLUSTERDOWN…) with its fixed explanation, or ioredis's own condition, and never an address,
// a key, an argument or a URL. Every error here is a real one, from real redis-server processes.
import t from 'tap'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { startSandbox } from '../sandbox/index'
import { tokenKey } from '../lib/storage/keys'
import { describeRedisCause } from '../lib/storage/redis-errors'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { startRedisCluster } from './helpers/redis-cluster'

const SECRET = 'at-0123456789-secret'
const NO_ADDRESS = /127\.0\.0\.1|localhost|redis:\/\/|\d{4,5}/

async function errorOf (p: Promise<unknown>): Promise<unknown> {
  return await p.then(() => { throw new Error('expected a Redis error') }, (err: unknown) => err)
}

t.test('error replies of one Redis: the code word and Redis\'s own sentence, no argument', async (t) => {
  const { probe } = await sandboxAndRedis(t)
  const unknown = await errorOf(probe.call('nosuchcommand', SECRET))
  t.match((unknown as Error).message, SECRET, 'Redis quotes the arguments of an unknown command')
  t.equal(describeRedisCause(unknown), 'ERR', 'only its code word is kept')
  await probe.lpush('a-list', 'x')
  const wrongType = await errorOf(probe.get('a-list'))
  t.equal(describeRedisCause(wrongType), 'WRONGTYPE Operation against a key holding the wrong kind of value')
  const syntax = await errorOf(probe.call('set', 'k', SECRET, 'NOT-AN-OPTION'))
  t.equal(describeRedisCause(syntax), 'ERR syntax error')
  const refused = new Redis(1, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  const socketError = once(refused, 'error')
  refused.connect().catch(() => {})
  const [error] = await socketError as [unknown]
  t.equal(describeRedisCause(error), 'ECONNREFUSED', 'a socket error: its code')
  t.equal(describeRedisCause(await errorOf(refused.get('k'))), 'Connection is closed', 'ioredis\'s own condition: its sentence')
})

t.test('through the plugin: a 503 whose message carries the cause', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.get('/authorized', async (request) => String(await request.miro.isAuthorized('u1')))
  t.teardown(() => app.close())
  await probe.lpush(tokenKey('miro:token:', 'u1'), SECRET) // something that is no string where the state belongs
  const res = await app.inject({ url: '/authorized', headers: { accept: 'application/json' } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
  t.match(res.json().message, /\(redis get: WRONGTYPE Operation against a key holding the wrong kind of value\)/)
  t.notMatch(res.body, SECRET)
})

t.test('Redis Cluster: MOVED, and CLUSTERDOWN once a master is marked failed', async (t) => {
  const cluster = await startRedisCluster({ nodeTimeoutMs: 500 })
  t.teardown(() => cluster.stop())
  const key = tokenKey('miro:token:', 'u1')
  const owner = await cluster.nodeOf(key)
  const other = cluster.nodes.find((n) => n.port !== owner.port)!
  const direct = new Redis(other.port, '127.0.0.1')
  t.teardown(() => { direct.disconnect() })
  const moved = await errorOf(direct.get(key))
  t.match((moved as Error).message, /^MOVED \d+ 127\.0\.0\.1:\d+/, 'Redis says where the slot went')
  t.equal(describeRedisCause(moved), 'MOVED', 'the message keeps the word, not the address')

  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  // Fewer redirections than ioredis's default 16 (× 100 ms), so its own error comes before the storage time limit.
  const client = new Redis.Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { maxRedirections: 2, retryDelayOnClusterDown: 50 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', routes: false, storageTimeout: 1500, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/authorized', async (request) => String(await request.miro.isAuthorized('u1')))
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')

  // A master that holds none of u1's keys dies; with full coverage required, the whole cluster refuses.
  const dead = cluster.nodes.find((n) => n.port !== owner.port)!
  process.kill(dead.pid, 'SIGKILL')
  await cluster.waitForState(owner.port, 'fail')
  const down = new Redis(owner.port, '127.0.0.1')
  t.teardown(() => { down.disconnect() })
  t.equal(describeRedisCause(await errorOf(down.get(key))), 'CLUSTERDOWN The cluster is down', 'a live master refuses every key')
  const res = await app.inject({ url: '/authorized', headers: { accept: 'application/json' } })
  t.equal(res.statusCode, 503, 'a user whose master is alive is refused too: the cluster is down')
  // ioredis retries CLUSTERDOWN, refreshing its slot map from every node, the dead one included.
  t.match(res.json().message, /redis get: too many Cluster redirections \(last: (CLUSTERDOWN The cluster is down|Connection is closed)\)/)
  t.notMatch(res.json().message, NO_ADDRESS)
})

t.test('Redis Cluster without full coverage: the users of the live masters stay served', async (t) => {
  const cluster = await startRedisCluster({ nodeTimeoutMs: 500, requireFullCoverage: false })
  t.teardown(() => cluster.stop())
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const client = new Redis.Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', routes: false, storageTimeout: 500, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/authorized', async (request) => String(await request.miro.isAuthorized('u1')))
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
  const owner = await cluster.nodeOf(tokenKey('miro:token:', 'u1'))
  const dead = cluster.nodes.find((n) => n.port !== owner.port)!
  process.kill(dead.pid, 'SIGKILL')
  await cluster.waitForState(owner.port, 'ok') // it stays ok: the unserved slots are another master's
  await new Promise((resolve) => setTimeout(resolve, 1500)) // past the node timeout: the dead master is marked failed
  const res = await app.inject('/authorized')
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'true', 'served, after the dead master was marked failed')
})
