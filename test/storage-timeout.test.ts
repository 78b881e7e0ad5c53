// options.storageTimeout: every storage command has a time limit. A stalled Redis (the server
// process stopped with SIGSTOP: the connection stays open, nothing answers, no reset) makes the
// guard answer 503 FST_MIRO_STORAGE_UNAVAILABLE at the limit instead of holding requests for as
// long as the stall lasts; the commands that timed out leave the in-flight list, their late
// answers change nothing, and once Redis answers again every user is still logged in. A custom
// Storage that never answers is cut off the same way.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox } from '../sandbox/index'
import type { RedisTokenStore } from '../lib/storage/redis'
import { Browser, buildApp } from './helpers/app'
import { startPrivateRedis } from './helpers/redis'

const USERS = 5
const REQUESTS = 20
const DEFAULT_LIMIT_MS = 1500
/** The stall lasts this long (the figure measured before the fix: a 5 s stall held 20 requests 5.0 s). */
const STALL_MS = 5000
/** Slack on top of the limit: the sweeper's tick (limit / 8) plus a busy machine. */
const SLACK_MS = 1000

interface Timed { status: number, code: string | undefined, ms: number }

async function timedInject (app: FastifyInstance, browser: Browser | undefined, url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET'): Promise<Timed> {
  const started = Date.now()
  const res = browser ? await browser.request({ method, url, headers }) : await app.inject({ method, url, headers })
  let code: string | undefined
  try { code = (res.json() as { code?: string }).code } catch {}
  return { status: res.statusCode, code, ms: Date.now() - started }
}

/** The redis store behind request.miro (a private field of MiroClient, read for this diagnostic). */
const redisStoreOf = (request: FastifyRequest): RedisTokenStore =>
  (request.miro as unknown as { store: RedisTokenStore }).store

t.test('a stalled Redis: 503 at storageTimeout, not after the stall; nobody logged out', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const server = await startPrivateRedis()
  t.teardown(() => server.stop())
  const pid = server.pid as number
  // Whatever happens below, the server is resumed: after STALL_MS, or at teardown.
  let stopped = false
  const resume = (): void => {
    if (!stopped) return
    stopped = false
    process.kill(pid, 'SIGCONT')
  }
  t.teardown(resume)

  const app = await buildApp({ sandbox, redisUrl: server.url, miro: { storage: 'redis' } })
  t.teardown(() => app.close())
  ;(app as unknown as { redis: Redis }).redis.on('error', () => {})
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => ({ ok: true }))
  let store: RedisTokenStore | undefined
  app.get('/in-flight', async (request) => {
    store = redisStoreOf(request)
    return { pending: store.commands.pending, sweeping: store.commands.sweeping }
  })
  const probe = new Redis(server.url)
  t.teardown(() => probe.disconnect())

  const users: Browser[] = []
  for (let i = 0; i < USERS; i++) {
    const browser = new Browser(app)
    t.equal((await browser.login(sandbox)).statusCode, 302, `user ${i} logged in`)
    users.push(browser)
  }
  for (const [i, user] of users.entries()) t.equal((await timedInject(app, user, '/me')).status, 200, `user ${i} passes the guard`)
  const tokensBefore = await probe.mget(...(await probe.keys('miro:token:{*')).sort())
  t.equal(tokensBefore.length, USERS)

  process.kill(pid, 'SIGSTOP')
  stopped = true
  const stalledAt = Date.now()
  // The stall ends after STALL_MS whatever the requests do.
  const stall = setTimeout(resume, STALL_MS)
  t.teardown(() => clearTimeout(stall))

  const answers = await Promise.all(Array.from({ length: REQUESTS }, (_, i) =>
    timedInject(app, users[i % USERS], '/me', { accept: i % 2 === 0 ? 'text/html' : 'application/json' })))
  const answeredIn = Date.now() - stalledAt
  const times = answers.map((a) => a.ms).sort((a, b) => a - b)
  t.comment(`stalled Redis: ${REQUESTS} guarded requests answered in ${times[0]}–${times[times.length - 1]} ms (limit ${DEFAULT_LIMIT_MS} ms, stall ${STALL_MS} ms)`)
  t.same([...new Set(answers.map((a) => `${a.status} ${a.code}`))], ['503 FST_MIRO_STORAGE_UNAVAILABLE'], 'every one answered 503 FST_MIRO_STORAGE_UNAVAILABLE (no 401, no redirect to the login)')
  t.ok(answers.every((a) => a.ms >= DEFAULT_LIMIT_MS - 5), 'none before the default limit of 1500 ms: the limit is the time a command gets')
  t.ok(answers.every((a) => a.ms <= DEFAULT_LIMIT_MS + SLACK_MS), `all within the limit + ${SLACK_MS} ms, not after the stall`)
  t.ok(answeredIn < STALL_MS, 'while Redis was still stalled')

  const diag = (await app.inject('/in-flight')).json() as { pending: number, sweeping: boolean }
  t.equal(diag.pending, 0, 'the timed-out commands left the in-flight list')
  await sleep(DEFAULT_LIMIT_MS / 8 * 2 + 50)
  t.equal(store?.commands.sweeping, false, 'and the sweeper stopped with nothing in flight')

  // The stall ends: Redis answers the 20 GETs it held (late, ignored), then everything else.
  await sleep(Math.max(0, STALL_MS - (Date.now() - stalledAt)) + 10)
  t.notOk(stopped, 'the stall is over')
  const deadline = Date.now() + 10_000
  let again = await timedInject(app, users[0], '/me')
  while (again.status !== 200 && Date.now() < deadline) {
    await sleep(50)
    again = await timedInject(app, users[0], '/me')
  }
  t.equal(again.status, 200, `answers 200 again after the stall (${again.ms} ms)`)
  t.equal(store?.commands.pending, 0, 'the late answers changed nothing in the list')
  const after = await Promise.all(users.map((user) => timedInject(app, user, '/me')))
  const loggedOut = after.filter((a) => a.status !== 200).length
  t.comment(`users logged out: ${loggedOut}`)
  t.equal(loggedOut, 0, 'users logged out: 0')
  t.same(await probe.mget(...(await probe.keys('miro:token:{*')).sort()), tokensBefore, 'the stored token states are those of before the stall')

  await app.close()
  // The sweeper (unref'd) notices within a tick that nothing is in flight any more.
  await sleep(DEFAULT_LIMIT_MS / 8 * 2 + 50)
  t.equal(store?.commands.sweeping, false, 'no sweeper left running after app.close()')
})

t.test('a custom Storage that never answers: 503 at storageTimeout', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const LIMIT = 300
  const never = <T>(): Promise<T> => new Promise<T>(() => {})
  const calls = { get: 0, set: 0 }
  const app = await buildApp({
    sandbox,
    session: false,
    miro: {
      storage: { get: () => { calls.get++; return never() }, set: () => { calls.set++; return never() } },
      storageTimeout: LIMIT,
      routes: false,
      userId: (request) => request.headers['x-user'] as string
    }
  })
  t.teardown(() => app.close())
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => ({ ok: true }))
  app.post('/logout', async (request) => request.miro.setState(app.miro.userIdOf(request) as string, undefined).then(() => 'gone'))

  const reads = await Promise.all(Array.from({ length: 5 }, () => timedInject(app, undefined, '/me', { 'x-user': 'u1' })))
  t.same([...new Set(reads.map((a) => `${a.status} ${a.code}`))], ['503 FST_MIRO_STORAGE_UNAVAILABLE'], 'a get that never resolves: 503')
  t.ok(reads.every((a) => a.ms >= LIMIT - 5 && a.ms <= LIMIT + SLACK_MS), `at the limit of ${LIMIT} ms (${reads.map((a) => a.ms).join(', ')} ms)`)
  const write = await timedInject(app, undefined, '/logout', { 'x-user': 'u1' }, 'POST')
  t.equal(write.status, 503, 'a set that never resolves: 503 too')
  t.ok(write.ms >= LIMIT - 5 && write.ms <= LIMIT + SLACK_MS, `at the limit (${write.ms} ms)`)
  t.same(calls, { get: 5, set: 1 }, 'each call was made once')
})

t.test('a custom Storage that answers in time leaves no timer behind', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const states = new Map<string, unknown>()
  const app = await buildApp({
    sandbox,
    session: false,
    miro: {
      // Asynchronous answers, a little later each: every call is raced with a timer.
      storage: { get: async (id) => { await sleep(1); return states.get(String(id)) as never }, set: async (id, s) => { await sleep(1); states.set(String(id), s) } },
      storageTimeout: 60_000,
      routes: false,
      userId: (request) => request.headers['x-user'] as string
    }
  })
  t.teardown(() => app.close())
  app.get('/authorized', async (request) => request.miro.isAuthorized(app.miro.userIdOf(request) as string))
  await app.ready()
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => app.inject({ url: '/authorized', headers: { 'x-user': 'u' + i } })))
  t.same([...new Set(answers.map((a) => a.body))], ['false'], '100 reads answered')
  await sleep(20) // the sandbox and light-my-request may hold short timers of their own
  t.ok(timers() <= before, `no time-limit timer outlives its call (${before} timers before, ${timers()} after)`)
})
