// A login state works once across every instance that shares the store: a callback completed
// on instance A and replayed on instance B (the same URL and cookie, or the cookie with a new
// code) is refused there, and two callbacks of one login racing on A and B make one code
// exchange. Both cookie setups: signed-cookie mode (no @fastify/session) and @fastify/session
// (its sessions in the same Redis, as a multi-instance app keeps them). Real redis-server, the
// sandbox as Miro, two app instances in this process driven over inject with a cookie jar.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import type { Storage } from '@mirohq/miro-api/dist/storage'
import { Redis } from 'ioredis'
import { createHash } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { redisSessionStore } from '../examples/redis-session-store'
import { legacyTokenKey, lockKey, loginIndexKey, tokenKey, usedLoginKey } from '../lib/storage/keys'
import type { FastifyMiroOptions, MiroStorageErrorContext, MiroTokenState } from '../index'
import { Browser, buildApp, pathOf, sandboxAndRedis } from './helpers/app'
import { startPrivateRedis } from './helpers/redis'
import { startRedisCluster } from './helpers/redis-cluster'

type Setup = 'signed-cookie' | 'session'
const SETUPS: Setup[] = ['signed-cookie', 'session']
const FAILED = '/login-failed'
const LIFE_MS = 10 * 60 * 1000

/** One app instance of a setup; signed-cookie mode names the user in `x-user`. */
async function instance (t: Test, setup: Setup, sandbox: Sandbox, redisUrl: string, sessions: unknown, logLines?: string[]): Promise<FastifyInstance> {
  const miro: FastifyMiroOptions = setup === 'session'
    ? { storage: 'redis', routes: { failureRedirect: FAILED } }
    : { storage: 'redis', userId: (request) => request.headers['x-user'] as string | undefined }
  const app = await buildApp({
    sandbox,
    redisUrl,
    miro,
    ...(logLines ? { logLines } : {}),
    ...(setup === 'session' ? { sessionStore: sessions } : { session: false })
  })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())
  return app
}

/** A sandbox, a Redis (a probe on it) and two instances A and B of `setup` sharing it. */
async function twoInstances (t: Test, setup: Setup) {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  // The session setup keeps its sessions in the same Redis, so both instances know every session.
  const sessions = setup === 'session' ? redisSessionStore(probe) : undefined
  const a = await instance(t, setup, sandbox, redis.url, sessions)
  const b = await instance(t, setup, sandbox, redis.url, sessions)
  return { sandbox, probe, a, b }
}

/** Another browser (tab, copy, attacker) with this one's cookies, talking to `app`. */
function copyOf (browser: Browser, app: FastifyInstance): Browser {
  const copy = new Browser(app)
  for (const [name, value] of browser.cookies) copy.cookies.set(name, value)
  return copy
}

const userHeader = (setup: Setup, user: string): Record<string, string> => setup === 'signed-cookie' ? { 'x-user': user } : {}

/** A login started on `app` and approved at the sandbox; not come back yet. */
async function started (app: FastifyInstance, sandbox: Sandbox) {
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro')
  const location = String(start.headers.location)
  const back = new URL(await sandbox.approve(location))
  return { browser, location, callback: pathOf(back.toString()), state: back.searchParams.get('state') ?? '', code: back.searchParams.get('code') ?? '' }
}

/** Every token state in Redis, by key (the used-login markers and the sessions left out). */
async function tokenStates (probe: Redis): Promise<Map<string, string | null>> {
  const keys = (await probe.keys('miro:token:{*')).sort()
  return new Map(await Promise.all(keys.map(async (key) => [key, await probe.get(key)] as [string, string | null])))
}

/** What a refused callback answers in each setup: 403 JSON, or the failureRedirect with the code. */
function refusedAsUsed (t: Test, setup: Setup, res: { statusCode: number, headers: Record<string, unknown>, json: () => unknown }, label: string): void {
  if (setup === 'session') {
    t.equal(res.statusCode, 302, `${label}: redirected`)
    t.equal(res.headers.location, FAILED + '?error=FST_MIRO_INVALID_STATE', `${label}: to failureRedirect with FST_MIRO_INVALID_STATE`)
  } else {
    t.equal(res.statusCode, 403, label)
    t.equal((res.json() as { code?: string }).code, 'FST_MIRO_INVALID_STATE', `${label}: FST_MIRO_INVALID_STATE`)
  }
}

for (const setup of SETUPS) {
  t.test(`${setup}: a callback completed on A and replayed on B is refused, and nothing is exchanged again`, async (t) => {
    const { sandbox, probe, a, b } = await twoInstances(t, setup)
    const login = await started(a, sandbox)
    // A copy of the cookies as they were before the callback: a reload routed to B, or a stolen cookie.
    const onB = copyOf(login.browser, b)
    const done = await login.browser.request({ method: 'GET', url: login.callback, headers: userHeader(setup, 'user-1') })
    t.equal(done.statusCode, 302)
    t.equal(done.headers.location, '/')
    t.equal((await login.browser.get('/me', { accept: 'application/json', ...userHeader(setup, 'user-1') })).body, 'in', 'logged in on A')
    const stored = await tokenStates(probe)
    t.equal(stored.size, 1, 'one login stored')
    const storedState = JSON.parse([...stored.values()][0] ?? 'null') as MiroTokenState

    const replay = await onB.request({ method: 'GET', url: login.callback, headers: userHeader(setup, 'user-2') })
    refusedAsUsed(t, setup, replay, 'the same URL and cookie on B')
    // The same cookie with a fresh code for the same state (a login CSRF with a planted cookie).
    const second = pathOf(await sandbox.approve(login.location))
    refusedAsUsed(t, setup, await onB.request({ method: 'GET', url: second, headers: userHeader(setup, 'user-2') }), 'the cookie with a new code on B')
    refusedAsUsed(t, setup, await copyOf(onB, a).request({ method: 'GET', url: second, headers: userHeader(setup, 'user-2') }), 'and on A')

    t.equal(sandbox.tokenCalls.length, 1, 'the token endpoint saw exactly one code exchange')
    t.same(await tokenStates(probe), stored, "the stored tokens are the first login's, and no one else's")
    t.ok(sandbox.accessTokensOf(sandbox.users[0]!.id).includes(storedState.accessToken), 'and still live at Miro')
    t.equal((await onB.get('/me', { accept: 'application/json', ...userHeader(setup, 'user-2') })).statusCode, 401, 'the replayer is not logged in')
  })

  t.test(`${setup}: two callbacks of one login on A and B at the same moment: one exchange, one winner`, async (t) => {
    const { sandbox, probe, a, b } = await twoInstances(t, setup)
    const rounds = 3
    for (let round = 0; round < rounds; round++) {
      const login = await started(a, sandbox)
      const other = pathOf(await sandbox.approve(login.location)) // a second code for the same state
      const tabs = [copyOf(login.browser, a), copyOf(login.browser, b)] as const
      const users = [`a-${round}`, `b-${round}`]
      const calls = sandbox.tokenCalls.length
      const before = await tokenStates(probe)
      // A slow Miro: were both let through, their exchanges would overlap.
      sandbox.failTokenEndpoint({ delayMs: 150, times: 2 })
      const answers = await Promise.all([
        tabs[0].request({ method: 'GET', url: login.callback, headers: userHeader(setup, users[0]!) }),
        tabs[1].request({ method: 'GET', url: other, headers: userHeader(setup, users[1]!) })
      ])
      sandbox.failTokenEndpoint(null)
      const won = answers.map((res) => res.statusCode === 302 && res.headers.location === '/')
      t.equal(won.filter(Boolean).length, 1, `round ${round + 1}: exactly one wins`)
      const loser = won.indexOf(false)
      const winner = 1 - loser
      if (loser >= 0) refusedAsUsed(t, setup, answers[loser]!, `round ${round + 1}: the other`)
      t.equal(sandbox.tokenCalls.length - calls, 1, `round ${round + 1}: exactly one code exchange`)
      const after = await tokenStates(probe)
      const added = [...after.keys()].filter((key) => !before.has(key))
      t.equal(added.length, 1, `round ${round + 1}: one login stored`)
      if (setup === 'signed-cookie') t.same(added, [tokenKey('miro:token:', users[winner]!)], `round ${round + 1}: under the winner's id`)
      const me = await Promise.all(tabs.map((tab, i) => tab.get('/me', { accept: 'application/json', ...userHeader(setup, users[i]!) })))
      t.same(me.map((res) => res.statusCode), tabs.map((_, i) => i === winner ? 200 : 401), `round ${round + 1}: the winner is logged in, the other has nothing`)
    }
  })
}

t.test('the Redis key: a hash of the state (never the state), expiring with the login; unproven callbacks write none', async (t) => {
  const { sandbox, probe, a } = await twoInstances(t, 'signed-cookie')
  const login = await started(a, sandbox)
  for (const forged of [`/auth/miro/callback?code=x&state=${login.state}x`, '/auth/miro/callback?error=access_denied', `/auth/miro/callback?code=x&state=${login.state}`]) {
    // The last one names the right state, but from a browser without the login's cookie.
    const res = await (forged.endsWith(login.state) ? new Browser(a) : login.browser).get(forged, { 'x-user': 'user-1' })
    t.equal(res.statusCode, 403, `${forged.slice(0, 40)}…: refused`)
  }
  t.same(await probe.keys('*login-state*'), [], 'a callback that proves no login claims nothing')

  t.equal((await login.browser.get(login.callback, { 'x-user': 'user-1' })).statusCode, 302)
  const keys = await probe.keys('miro:token:login-state:*')
  t.equal(keys.length, 1, 'one key for the used state')
  const key = keys[0] ?? ''
  t.match(key, /^miro:token:login-state:\{[A-Za-z0-9_-]{43}\}$/, 'named by a SHA-256, in a hash tag of its own')
  t.notOk(key.includes(login.state), 'the state is not in its name')
  t.equal(await probe.get(key), '1', 'nor in its value')
  const pttl = await probe.pttl(key)
  t.ok(pttl > LIFE_MS - 60_000 && pttl <= LIFE_MS, `it expires with the login's 10 minutes (PTTL ${pttl} ms)`)
})

t.test('usedLoginKey never equals a token, lock, 0.1 or login-index key', async (t) => {
  const anyId = fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom('login-state:{x}', 'login-state', 'miro-user:{x}', '{x}', 'x}:refresh-lock', ''))
  const prefix = fc.constantFrom('miro:token:', 'app:', '', 'a{b}')
  fc.assert(fc.property(prefix, anyId, anyId, (p, stateId, id) => {
    const key = usedLoginKey(p, stateId)
    return key !== tokenKey(p, id) && key !== lockKey(p, id) && key !== legacyTokenKey(p, id) && key !== loginIndexKey(p, id)
  }), { seed: 13, numRuns: 3000 })
  t.equal(usedLoginKey('miro:token:', 'abc'), 'miro:token:login-state:{abc}')
})

for (const setup of SETUPS) {
  t.test(`${setup}: Redis down while claiming: 503, nothing exchanged, no secret told, and the same callback works once Redis is back`, async (t) => {
    const server = await startPrivateRedis()
    t.teardown(() => server.stop())
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const logLines: string[] = []
    // Sessions in @fastify/session's own memory here: the only Redis command of the callback is the claim.
    const app = await instance(t, setup, sandbox, server.url, undefined, logLines)
    const client = (app as unknown as { redis: Redis }).redis
    client.on('error', () => {}) // the outage's reconnect errors
    const login = await started(app, sandbox)
    const cookiesBefore = new Map(login.browser.cookies)

    const storageErrors: MiroStorageErrorContext[] = []
    const onStorageError = (context: unknown): void => { storageErrors.push({ ...(context as MiroStorageErrorContext) }) }
    diagnosticsChannel.subscribe('tracing:fastify-miro:storage:error', onStorageError)
    t.teardown(() => diagnosticsChannel.unsubscribe('tracing:fastify-miro:storage:error', onStorageError))

    await server.kill()
    for (let i = 0; i < 200 && client.status === 'ready'; i++) await sleep(10)
    const res = await login.browser.get(login.callback, userHeader(setup, 'user-1'))
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
    t.match(storageErrors, [{ operation: 'redis login state', errorCode: 'FST_MIRO_STORAGE_UNAVAILABLE' }], 'the claim is what failed, and only it')
    t.equal(sandbox.tokenCalls.length, 0, 'nothing exchanged')
    t.same(login.browser.cookies, cookiesBefore, 'the pending login cookie stays, for a retry')
    t.ok(logLines.some((line) => line.includes('"FST_MIRO_STORAGE_UNAVAILABLE"') && line.includes('"level":50')), 'the 503 is logged')
    const told = res.body + (res.headers['set-cookie'] ?? '') + logLines.join('\n') + JSON.stringify(storageErrors)
    const pendingCookie = [...cookiesBefore].find(([name]) => name.includes('fastify-miro-login.'))?.[1] ?? ''
    const secrets = { code: login.code, state: login.state, 'client secret': sandbox.clientSecret, 'pending-login cookie': pendingCookie }
    for (const [name, secret] of Object.entries(secrets)) t.ok(secret.length > 0 && !told.includes(secret), `the answer, the logs and the diagnostics do not hold the ${name}`)

    await server.restart()
    for (let i = 0; i < 1500 && client.status !== 'ready'; i++) await sleep(10)
    t.equal(client.status, 'ready', 'ioredis reconnected')
    const retry = await login.browser.get(login.callback, userHeader(setup, 'user-1'))
    t.equal(retry.statusCode, 302, 'the same callback, retried, logs in')
    t.equal(retry.headers.location, '/')
    t.equal((await login.browser.get('/me', { accept: 'application/json', ...userHeader(setup, 'user-1') })).body, 'in')
    t.equal(sandbox.tokenCalls.length, 1, 'with one code exchange')
    const stale = new Browser(app) // the cookies from before the retry: the login's cookie is used up now
    for (const [name, value] of cookiesBefore) stale.cookies.set(name, value)
    refusedAsUsed(t, setup, await stale.get(pathOf(await sandbox.approve(login.location)), userHeader(setup, 'user-2')), 'a replay after the retry')
  })
}

/** A user's own Storage, shared by two instances (a Map here), with an atomic claimLoginState. */
function sharedStorage (claim: (id: string, lifeMs: number) => unknown): Storage & { claimLoginState: typeof claim } {
  const states = new Map<string, unknown>()
  return {
    get: (userId: string) => states.get(String(userId)) as never,
    set: (userId: string, state: unknown) => { if (state === undefined) states.delete(String(userId)); else states.set(String(userId), state) },
    claimLoginState: claim
  } as unknown as Storage & { claimLoginState: typeof claim }
}

t.test('a custom Storage with claimLoginState makes states single-use across its instances; a wrong answer is a storage error', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const claimed = new Map<string, number>()
  const seen: Array<[string, number]> = []
  const storage = sharedStorage((id, lifeMs) => {
    seen.push([id, lifeMs])
    if ((claimed.get(id) ?? 0) > Date.now()) return false
    claimed.set(id, Date.now() + lifeMs)
    return true
  })
  const apps = await Promise.all([0, 1].map(async () => {
    const app = await buildApp({ sandbox, session: false, miro: { storage, userId: (request) => request.headers['x-user'] as string } })
    t.teardown(() => app.close())
    return app
  }))
  const login = await started(apps[0]!, sandbox)
  const onB = copyOf(login.browser, apps[1]!)
  t.equal((await login.browser.get(login.callback, { 'x-user': 'user-1' })).statusCode, 302)
  const replay = await onB.get(pathOf(await sandbox.approve(login.location)), { 'x-user': 'user-2' })
  t.equal(replay.statusCode, 403)
  t.equal(replay.json().code, 'FST_MIRO_INVALID_STATE')
  t.equal(sandbox.tokenCalls.length, 1)
  t.equal(seen.length, 2, 'claimed on each instance')
  t.match(seen[0], [/^[A-Za-z0-9_-]{43}$/, LIFE_MS], 'with a hash of the state and the login\'s life')
  t.notOk(seen[0]?.[0].includes(login.state))

  const sloppy = await buildApp({ sandbox, session: false, miro: { storage: sharedStorage(() => 'OK'), userId: () => 'user-3' } })
  t.teardown(() => sloppy.close())
  const other = await started(sloppy, sandbox)
  const res = await other.browser.get(other.callback)
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
  t.match(res.json().message, /claimLoginState must resolve to true \(first use\) or false/)
  t.equal(sandbox.tokenCalls.length, 1, 'nothing exchanged for it')
})

t.test('Redis Cluster: the claim is one key per command, so a replay on another instance is refused there too', async (t) => {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.stop())
  const seeds = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  const clients = [0, 1, 2].map(() => {
    const client = new Redis.Cluster(seeds)
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    return client
  })
  const probe = clients[2]!
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const [a, b] = await Promise.all(clients.slice(0, 2).map(async (client) => {
    const app = await buildApp({ sandbox, session: false, redisClient: client, miro: { storage: 'redis', userId: (request) => request.headers['x-user'] as string } })
    t.teardown(() => app.close())
    return app
  }))
  // Each marker has a hash tag of its own: logins go on until two of them are on different
  // masters (at most 12: all on one master has a chance of 3^-11).
  const nodes = new Set<number>()
  let logins = 0
  for (let i = 0; i < 12 && nodes.size < 2; i++, logins++) {
    const login = await started(a!, sandbox)
    const onB = copyOf(login.browser, b!)
    t.equal((await login.browser.get(login.callback, { 'x-user': `user-${i}` })).statusCode, 302, `login ${i + 1} on A`)
    const replay = await onB.get(pathOf(await sandbox.approve(login.location)), { 'x-user': 'intruder' })
    t.equal(replay.statusCode, 403, `login ${i + 1}: its replay on B is refused`)
    t.equal(replay.json().code, 'FST_MIRO_INVALID_STATE')
    const stateId = createHash('sha256').update('fastify-miro login state\0').update(login.state).digest('base64url')
    const key = usedLoginKey('miro:token:', stateId)
    t.equal(await probe.get(key), '1', `login ${i + 1}: its state is marked used`)
    nodes.add((await cluster.nodeOf(key)).port)
  }
  t.equal(sandbox.tokenCalls.length, logins, 'one exchange per login')
  t.equal(await probe.exists(tokenKey('miro:token:', 'intruder')), 0, 'nothing stored for the replays')
  t.ok(nodes.size >= 2, `the markers of ${logins} logins live on ${nodes.size} of the 3 masters`)
})
