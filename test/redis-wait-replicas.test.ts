// redis.waitReplicas: a written pair counts as stored once that many replicas acknowledged it
// (WAIT on the connection that wrote it). On a real master without a replica, then with one:
// a replace whose replicas come up short rejects (the write is on the master; a refresh keeps
// its pair in the pending-write journal), WAITs are coalesced and, while short, sent once per
// backoff period so the connection's other commands are not held; a retry once a replica is
// back is acknowledged. Through the plugin: a refresh is not failed by a short WAIT, and keeps
// its lock until the pair is acknowledged; a login is kept, with a warning. The option is
// validated, and refused on a Cluster client.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import fastifyMiro, { type MiroTokenState } from '../index'
import { startSandbox } from '../sandbox/index'
import { resolveOptions } from '../lib/options'
import { createRedisStore, type RedisClient } from '../lib/storage/redis'
import { SHORT_BACKOFF_MS } from '../lib/storage/replica-acks'
import { PAST } from './helpers/expiry'
import { REDIRECT_URL } from './helpers/app'
import { codeFor, tokenCallsSince } from './helpers/fault-harness'
import { freePort, startPrivateRedis } from './helpers/redis'
import { startRedisCluster } from './helpers/redis-cluster'

const FUTURE = new Date(Date.now() + 3600_000).toISOString()
const stateOf = (n: string): MiroTokenState => ({ userId: 'miro-user', accessToken: 'at-' + n, refreshToken: 'rt-' + n, tokenExpiresAt: FUTURE })
const WAIT_MS = 50

/** WAIT commands the server ran so far. */
async function waitCalls (probe: Redis): Promise<number> {
  const stats = await probe.info('commandstats')
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

/** A replica of `masterPort` on a free port, killed at teardown; resolves to its pid once it is in sync. */
async function startReplica (t: Test, master: Redis, masterPort: number): Promise<number> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'fastify-miro-replica-'))
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--replicaof', '127.0.0.1', String(masterPort)
  ], { stdio: 'ignore' })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  t.teardown(async () => {
    process.off('exit', killOnExit)
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 10_000
  while (!/slave0:.*state=online/.test(await master.info('replication'))) {
    if (Date.now() > deadline) throw new Error('the replica did not come online')
    await sleep(30)
  }
  return child.pid as number
}

t.test('the store: short replicas reject, WAITs are coalesced and spaced, a replica acknowledges', async (t) => {
  const redis = await startPrivateRedis()
  t.teardown(() => redis.stop())
  const client = new Redis(redis.url)
  const probe = new Redis(redis.url)
  t.teardown(() => { client.disconnect(); probe.disconnect() })
  await client.ping() // the plugin refuses commands while the client connects
  const warnings: unknown[] = []
  const store = createRedisStore(client as unknown as RedisClient, { keyPrefix: 'w:', waitReplicas: 1, waitTimeout: WAIT_MS }, { warn: (o: unknown) => { warnings.push(o) } })

  await store.set('login', stateOf('login'))
  t.equal(JSON.parse(await probe.get('w:{login}') as string).accessToken, 'at-login', 'a login is stored though no replica acknowledged it')
  t.match(warnings, [{ reason: /0 of 1 replicas acknowledged within 50 ms/ }], 'with a warning that says why (no token in it)')
  t.notMatch(JSON.stringify(warnings), /at-login|rt-login/, 'the warning holds no token')

  const replica = await startReplica(t, probe, Number(new URL(redis.url).port))
  await sleep(SHORT_BACKOFF_MS + 50)
  for (let i = 0; i < 20; i++) await store.set(`u${i}`, stateOf(`old${i}`))
  t.same(await store.replace('u0', 'at-old0', stateOf('new0')), { replaced: true }, 'with a replica: acknowledged')

  // The replica stops answering: every WAIT runs out its time, holding the connection meanwhile.
  process.kill(replica, 'SIGSTOP')
  const before = await waitCalls(probe)
  const started = Date.now()
  const replaced = await Promise.allSettled(Array.from({ length: 19 }, (_, i) => store.replace(`u${i + 1}`, `at-old${i + 1}`, stateOf(`new${i + 1}`))))
  const took = Date.now() - started
  t.same([...new Set(replaced.map((r) => r.status === 'rejected' && /\(redis wait: /.test((r.reason as Error).message) ? 'short' : 'other'))], ['short'], 'each replace rejects: not acknowledged')
  for (let i = 1; i < 20; i++) t.equal(JSON.parse(await probe.get(`w:{u${i}}`) as string).accessToken, `at-new${i}`, `u${i}: written on the master all the same`)
  t.ok(await waitCalls(probe) - before <= 2, 'nineteen writes at once: at most two WAITs (one, and one covering those answered meanwhile)')
  t.ok(took < 8 * WAIT_MS, `the connection was held ${took} ms, not one WAIT time per write`)

  // Within the backoff: no WAIT at all, the rejection comes at once.
  const during = await waitCalls(probe)
  await t.rejects(store.replace('u1', 'at-old1', stateOf('new1')), /not waited for/, 'a retry within the backoff is refused at once')
  t.equal(await waitCalls(probe), during, 'without a WAIT')

  // After the backoff, the replica still silent: the journal's retry finds its pair already on
  // the master, and that does not count as stored until a replica acknowledges it.
  await sleep(SHORT_BACKOFF_MS + 50)
  await t.rejects(store.replace('u2', 'at-old2', stateOf('new2')), /0 of 1 replicas acknowledged/, 'a pair already on the master is not stored until acknowledged')

  process.kill(replica, 'SIGCONT')
  await sleep(SHORT_BACKOFF_MS + 50)
  // The journal's retry: the pair is already on the master; written again and acknowledged.
  t.same(await store.replace('u1', 'at-old1', stateOf('new1')), { replaced: false, current: stateOf('new1') }, 'a retry once the replica is back: acknowledged')
  t.same(await store.replace('u2', 'at-new2', stateOf('newer2')), { replaced: true }, 'and a new write is acknowledged at once')
})

t.test('the plugin: a refresh is not failed by short replicas, and holds its lock until acknowledged', async (t) => {
  const redis = await startPrivateRedis()
  t.teardown(() => redis.stop())
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const probe = new Redis(redis.url)
  t.teardown(() => { probe.disconnect() })
  const app = Fastify()
  await app.register(fastifyRedis, { url: redis.url })
  await app.register(fastifyMiro, {
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    basePath: sandbox.url,
    redirectUrl: REDIRECT_URL,
    storage: 'redis',
    routes: false,
    userId: () => 'u1',
    redis: { waitReplicas: 1, waitTimeout: WAIT_MS }
  })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await codeFor(sandbox, 'u1') } })).statusCode, 200, 'a login without a replica succeeds')
  const stored = JSON.parse(await probe.get('miro:token:{u1}') as string) as MiroTokenState
  await probe.set('miro:token:{u1}', JSON.stringify({ ...stored, tokenExpiresAt: PAST() }), 'KEEPTTL')

  const since = sandbox.tokenCalls.length
  t.equal((await app.inject('/me')).statusCode, 200, 'a refresh whose pair no replica acknowledged answers 200')
  t.equal((await app.inject('/me')).statusCode, 200, 'and the next request is served')
  t.equal(tokenCallsSince(sandbox, since).refresh, 1, 'from the same pair: one refresh')
  const fresh = JSON.parse(await probe.get('miro:token:{u1}') as string) as MiroTokenState
  t.not(fresh.accessToken, stored.accessToken, 'the pair is on the master')
  t.ok(sandbox.refreshTokensOf(sandbox.users.find((u) => u.name === 'u1')!.id).includes(fresh.refreshToken as string), 'and live at Miro')
  t.ok(await probe.exists('miro:token:{u1}:refresh-lock'), 'unacknowledged, it keeps the refresh lock: no other instance refreshes meanwhile')

  await startReplica(t, probe, Number(new URL(redis.url).port))
  const deadline = Date.now() + SHORT_BACKOFF_MS + 3000
  while (await probe.exists('miro:token:{u1}:refresh-lock') === 1 && Date.now() < deadline) await sleep(50)
  t.equal(await probe.exists('miro:token:{u1}:refresh-lock'), 0, 'once a replica acknowledges it, the lock is released')
})

t.test('options', async (t) => {
  const base = { clientId: 'id', clientSecret: 'secret', redirectUrl: REDIRECT_URL, storage: 'redis' as const }
  t.match(resolveOptions({ ...base, redis: { waitReplicas: 1 } }).redis, { waitReplicas: 1 }, 'waitReplicas')
  t.throws(() => resolveOptions({ ...base, redis: { waitReplicas: 0 } }), /options\.redis\.waitReplicas should be a positive integer/)
  t.throws(() => resolveOptions({ ...base, redis: { waitReplicas: 1.5 } }), /options\.redis\.waitReplicas should be a positive integer/)
  t.throws(() => resolveOptions({ ...base, redis: { waitTimeout: 50 } }), /waitTimeout needs options\.redis\.waitReplicas/)
  t.throws(() => resolveOptions({ ...base, redis: { waitReplicas: 1, waitTimeout: 0 } }), /waitTimeout should be a positive integer/)
  t.throws(() => resolveOptions({ ...base, storageTimeout: 1000, redis: { waitReplicas: 1, waitTimeout: 600 } }), /at most half of options\.storageTimeout \(1000 ms\)/)

  const cluster = await startRedisCluster()
  t.teardown(() => cluster.stop())
  const client = new Redis.Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const app = Fastify()
  await app.register(fastifyRedis, { client })
  app.register(fastifyMiro, { ...base, redis: { waitReplicas: 1 } })
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.ready() }, /options\.redis\.waitReplicas is not supported on a Redis Cluster client/, 'refused on a Cluster client, with the fix')
})
