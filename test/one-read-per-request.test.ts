// One storage read per request and user while the token is fresh (lib/state-memo.ts): the
// guard's read serves the route's API calls, parallel calls share one read, and a token that
// another instance replaced meanwhile (Miro refuses the old one) goes through the 401 recovery,
// which reads again and serves the new token to the calls after it. Counted at the Redis server.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { MiroTokenState } from '../index'
import { boardNames, buildApp, freshCode } from './helpers/app'
import { PAST } from './helpers/expiry'
import { startRedis } from './helpers/redis'
import { watchCommands, type CommandCounter } from './helpers/redis-monitor'

const KEY = 'miro:token:{u1}'
const CALLS = 10

interface Instance { app: FastifyInstance, counter: CommandCounter }

async function instance (t: Test, sandbox: Sandbox, url: string, midway: () => Promise<void> = async () => {}): Promise<Instance> {
  const client = new Redis(url)
  const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/ten', { preHandler: app.miro.requireAuth }, async (request) => {
    const api = request.miroApi()
    const pages: string[][] = []
    for (let i = 0; i < CALLS; i++) {
      if (i === CALLS / 2) await midway()
      pages.push(await boardNames(api)) // one page: one API call
    }
    return pages
  })
  app.get('/parallel', async (request) => {
    const api = request.miroApi()
    return Promise.all(Array.from({ length: CALLS }, () => boardNames(api)))
  })
  app.get('/guard', { preHandler: app.miro.requireAuth }, async () => 'in')
  await app.ready()
  const counter = await watchCommands(url, client)
  t.teardown(async () => { counter.stop(); await app.close(); client.disconnect() })
  return { app, counter }
}

async function setup (t: Test, sandboxOpts: Parameters<typeof startSandbox>[0] = {}) {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })
  await probe.flushall()
  const sandbox = await startSandbox(sandboxOpts)
  t.teardown(() => sandbox.close())
  return { redis, probe, sandbox }
}

t.test('guard + 10 API calls: one GET at Redis; 10 parallel calls without the guard: one GET', async (t) => {
  const { redis, sandbox } = await setup(t)
  const { app, counter } = await instance(t, sandbox, redis.url)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })

  await counter.reset()
  const res = await app.inject('/ten')
  t.equal(res.statusCode, 200)
  t.equal((res.json() as string[][]).length, CALLS, 'every call answered')
  t.same(Object.fromEntries(await counter.counts()), { get: 1 }, 'the guard read the state once; the 10 calls read nothing more')

  await counter.reset()
  const again = await app.inject('/ten')
  t.equal(again.statusCode, 200)
  t.same(Object.fromEntries(await counter.counts()), { get: 1 }, 'the next request reads again: the memory lives in the request')

  await counter.reset()
  const parallel = await app.inject('/parallel')
  t.equal(parallel.statusCode, 200)
  t.equal((parallel.json() as string[][]).length, CALLS)
  t.same(Object.fromEntries(await counter.counts()), { get: 1 }, '10 calls at once share one read')
})

t.test('another instance refreshes in the middle of a route and Miro refuses the old token: one recovery read, the new token for the rest', async (t) => {
  let offset = 0
  const { redis, probe, sandbox } = await setup(t, { now: () => Date.now() + offset })
  const peer: { other?: Instance } = {}
  const midway = async (): Promise<void> => {
    // Near the end of the old token's life (3599 s), the other instance refreshes …
    offset = 3000_000
    const state = JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState
    await probe.set(KEY, JSON.stringify({ ...state, tokenExpiresAt: PAST() }))
    const refreshed = await peer.other!.app.inject('/guard')
    if (refreshed.statusCode !== 200) throw new Error(`the other instance answered ${refreshed.statusCode}`)
    // … and then Miro's clock passes the old token's expiry: only the new one is accepted.
    offset = 3700_000
  }
  const { app, counter } = await instance(t, sandbox, redis.url, midway)
  peer.other = await instance(t, sandbox, redis.url)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  const before = JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState

  await counter.reset()
  const res = await app.inject('/ten')
  t.equal(res.statusCode, 200, 'the route succeeds')
  t.equal((res.json() as string[][]).length, CALLS, 'all 10 calls answered')
  t.same(Object.fromEntries(await counter.counts()), { get: 2 }, 'one read for the guard, one for the 401 recovery')
  const after = JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState
  t.not(after.accessToken, before.accessToken, 'the other instance stored a new pair')
  t.same(sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').map((c) => c.ok), [true], 'one refresh in all (the other instance\'s): the recovery found the new pair stored')
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [after.accessToken], 'the old token is no longer accepted, the new one is')
})
