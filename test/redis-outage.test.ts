// Redis killed (SIGKILL) in the middle of a load of guarded requests, then started again on the
// same port: during the outage the guard answers 503 FST_MIRO_STORAGE_UNAVAILABLE (never 401,
// 302 or 500: an outage is not a logout), ioredis reconnects by itself, and every user who was
// logged in before is still logged in after. Redis runs with an fsync'ed append-only file, so
// what it had acknowledged survives the kill.
import t from 'tap'
import { Agent, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { Browser, buildApp } from './helpers/app'
import { startPrivateRedis, type RedisServer } from './helpers/redis'

const USERS = 8
/** The load fires a request every TICK_MS, with at most MAX_INFLIGHT unanswered. */
const TICK_MS = 3
const MAX_INFLIGHT = 32
const OUTAGE_MS = 1500
/** Requests whose whole life falls this long after the kill and before the restart are "during the outage". */
const SETTLE_MS = 100
const RECOVERY_LIMIT_MS = 20_000
const MAX_REQUESTS = 30_000

interface Answer { status: number, code: string | undefined, location: string | undefined }
interface Sample extends Answer { user: number, start: number, end: number }

let sandbox: Sandbox
let server: RedisServer
let app: FastifyInstance
let probe: Redis
let port: number
const redisErrors: Error[] = []
const agent = new Agent({ keepAlive: true, maxSockets: MAX_INFLIGHT + USERS + 4 })

t.before(async () => {
  sandbox = await startSandbox()
  server = await startPrivateRedis({ persistent: true })
  probe = new Redis(server.url, { maxRetriesPerRequest: 1 })
  probe.on('error', () => {}) // it sees the outage too
  app = await buildApp({ sandbox, redisUrl: server.url, miro: { storage: 'redis' } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => ({ ok: true }))
  // The app's own ioredis client: without a listener it prints every reconnect error.
  ;(app as unknown as { redis: Redis }).redis.on('error', (err: Error) => { redisErrors.push(err) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  port = (app.server.address() as AddressInfo).port
})

t.teardown(async () => {
  agent.destroy()
  await app?.close()
  probe?.disconnect()
  await server?.stop()
  await sandbox?.close()
})

/** GET /me over a real socket, as a browser (Accept: text/html) or an API caller. */
function getMe (cookie: string, browser: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port, agent, path: '/me', headers: { cookie, accept: browser ? 'text/html' : 'application/json' }
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        let code: string | undefined
        try { code = (JSON.parse(body) as { code?: string }).code } catch {}
        resolve({ status: res.statusCode ?? 0, code, location: res.headers.location })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

async function tokenValues (): Promise<Map<string, string | null>> {
  const keys = (await probe.keys('miro:token:{*')).sort()
  const values = new Map<string, string | null>()
  for (const key of keys) values.set(key, await probe.get(key))
  return values
}

t.test('Redis killed mid-load and restarted: 503 during the outage, every login intact after', async (t) => {
  // Users log in through the real flow: login route → sandbox consent → callback.
  const users: Browser[] = []
  for (let i = 0; i < USERS; i++) {
    const browser = new Browser(app)
    const done = await browser.login(sandbox)
    t.equal(done.statusCode, 302, `user ${i} logged in`)
    users.push(browser)
  }
  const stored = await tokenValues()
  t.equal(stored.size, USERS, 'one token state per user in Redis')
  for (const [i, user] of users.entries()) t.equal((await getMe(user.cookieHeader, true)).status, 200, `user ${i} passes the guard`)

  // The load, open loop: a new request every few milliseconds whatever the earlier ones do (at
  // most MAX_INFLIGHT at a time), half of them as browsers, half as API callers.
  const samples: Sample[] = []
  const inflight = new Set<Promise<void>>()
  const run = { stopping: false, fired: 0 }
  const fire = (): void => {
    const n = run.fired++
    const user = n % USERS
    const start = Date.now()
    const done = getMe((users[user] as Browser).cookieHeader, n % 2 === 0)
      .then((answer) => { samples.push({ ...answer, user, start, end: Date.now() }) })
    inflight.add(done)
    done.finally(() => inflight.delete(done)).catch(() => {})
  }
  const load = (async () => {
    while (!run.stopping && run.fired < MAX_REQUESTS) {
      if (inflight.size < MAX_INFLIGHT) fire()
      await sleep(TICK_MS)
    }
    await Promise.all(inflight)
  })()

  await sleep(300)
  const killAt = Date.now()
  await server.kill()
  const killed = Date.now()
  await sleep(OUTAGE_MS)
  const restartAt = Date.now()
  await server.restart()
  const restarted = Date.now()

  // ioredis reconnects by itself: wait (bounded) until every user passes the guard again.
  let recoveredAt: number | undefined
  while (Date.now() - restarted < RECOVERY_LIMIT_MS) {
    const answers = await Promise.all(users.map((u) => getMe(u.cookieHeader, false)))
    if (answers.every((a) => a.status === 200)) {
      recoveredAt = Date.now()
      break
    }
    await sleep(50)
  }
  await sleep(200) // a little load after the recovery too
  run.stopping = true
  await load

  t.ok(redisErrors.length > 0, `the app's Redis client saw the outage (${redisErrors.length} connection errors)`)
  t.ok(recoveredAt !== undefined, `every user passes the guard again ${recoveredAt === undefined ? 'NEVER' : `${recoveredAt - restarted} ms after the restart`} (limit ${RECOVERY_LIMIT_MS} ms)`)

  // Whatever the timing, an answer is 200 or a 503 that says "storage unavailable".
  const counts = new Map<string, number>()
  for (const s of samples) counts.set(`${s.status} ${s.code ?? ''}`.trim(), (counts.get(`${s.status} ${s.code ?? ''}`.trim()) ?? 0) + 1)
  const wrong = samples.filter((s) => !(s.status === 200 || (s.status === 503 && s.code === 'FST_MIRO_STORAGE_UNAVAILABLE')))
  t.same(wrong.slice(0, 5), [], `no 401, 302, 500 or other answer in ${samples.length} requests (${JSON.stringify([...counts])})`)
  t.notOk(samples.some((s) => s.location !== undefined), 'no browser was sent to the login page')

  const before = samples.filter((s) => s.end < killAt)
  const during = samples.filter((s) => s.start >= killed + SETTLE_MS && s.end < restartAt)
  const after = samples.filter((s) => recoveredAt !== undefined && s.start >= recoveredAt)
  t.ok(before.length > 0 && before.every((s) => s.status === 200), `before the kill: ${before.length} requests, all 200`)
  t.ok(during.length > 10, `${during.length} requests ran entirely inside the outage`) // a count that holds on a loaded machine too
  const duringWrong = during.filter((s) => s.status !== 503 || s.code !== 'FST_MIRO_STORAGE_UNAVAILABLE')
  t.same(duringWrong.slice(0, 5), [], 'every one of them answered 503 FST_MIRO_STORAGE_UNAVAILABLE')
  t.ok(after.length > 0 && after.every((s) => s.status === 200), `after the recovery: ${after.length} requests, all 200`)
  t.ok(during.every((s) => s.end - s.start < 1000), 'outage answers are immediate, not held until Redis is back')
  // Requests whose command was on the wire when Redis died: ioredis resends it after the
  // reconnect (autoResendUnfulfilledCommands), so they wait for Redis (see the next test).
  const caught = samples.filter((s) => s.start < killed && s.end > restartAt)
  t.ok(caught.every((s) => s.status === 200 || s.status === 503), `${caught.length} requests in flight at the kill answered ${JSON.stringify([...new Set(caught.map((s) => s.status))])}, the slowest after ${Math.max(0, ...caught.map((s) => s.end - s.start))} ms`)

  // Still logged in: the same token states, read from the restarted Redis.
  t.same(await tokenValues(), stored, 'Redis holds exactly the token states of before the kill')
  for (const [i, user] of users.entries()) {
    const answer = await getMe(user.cookieHeader, true)
    t.equal(answer.status, 200, `user ${i} is still logged in`)
  }

  // And everything works again: a new login is stored and passes the guard.
  const newcomer = new Browser(app)
  t.equal((await newcomer.login(sandbox)).statusCode, 302, 'a new login after the restart')
  t.equal((await getMe(newcomer.cookieHeader, false)).status, 200, 'passes the guard')
  t.equal((await tokenValues()).size, USERS + 1, 'and is stored in Redis')
})

t.test('a request whose Redis command is on the wire when Redis dies is answered without waiting for Redis', async (t) => {
  // Regression (found by this suite, fixed): lib/storage/redis.ts fails fast only when ioredis is already
  // disconnected (ensureUsable). A command sent before the crash is kept by ioredis and resent
  // after the reconnect (autoResendUnfulfilledCommands), so its request hangs for the whole
  // outage — with ioredis 6 defaults up to 20 reconnect attempts (~70 s) before the 503.
  const OUTAGE = 4000
  const ANSWER_WITHIN = 2000
  const user = new Browser(app)
  t.equal((await user.login(sandbox)).statusCode, 302, 'a user logged in')
  t.equal((await getMe(user.cookieHeader, false)).status, 200, 'passes the guard')

  // Redis stops answering (but keeps the connection), so the guard's GET is on the wire when it dies.
  await probe.call('CLIENT', 'PAUSE', String(OUTAGE), 'ALL')
  const sent = Date.now()
  const pending = getMe(user.cookieHeader, false).then((answer) => ({ ...answer, after: Date.now() - sent }))
  await sleep(200)
  await server.kill()
  const killed = Date.now()
  const early = await Promise.race([pending, sleep(ANSWER_WITHIN).then(() => undefined)])
  const answered = early === undefined ? `still unanswered ${Date.now() - killed} ms after the kill` : `${early.status} ${early.code ?? ''} ${early.after} ms after it was sent`
  t.ok(early !== undefined && early.status === 503 && early.code === 'FST_MIRO_STORAGE_UNAVAILABLE',
    `answered 503 FST_MIRO_STORAGE_UNAVAILABLE within ${ANSWER_WITHIN} ms of the kill, Redis still down: ${answered}`)
  await sleep(Math.max(0, OUTAGE - (Date.now() - killed)))
  await server.restart()
  const final = await pending
  t.ok(final.status === 200 || final.status === 503, `in the end it answered ${final.status} after ${final.after} ms (never 401, 302 or 500)`)
  const deadline = Date.now() + RECOVERY_LIMIT_MS
  let again = await getMe(user.cookieHeader, false)
  while (again.status !== 200 && Date.now() < deadline) {
    await sleep(50)
    again = await getMe(user.cookieHeader, false)
  }
  t.equal(again.status, 200, 'the user is still logged in after the restart')
})
