// A login that never comes back costs the server nothing that outlives it: a cookie-less
// GET /auth/miro writes no session record (with saveUninitialized: false), the login waits in
// its own cookie. Counted in @fastify/session's store over 2 000 requests, real cookies.
import t from 'tap'
import { MemoryStore } from '@fastify/session'
import { startSandbox } from '../sandbox/index'
import { Browser, buildApp, pathOf } from './helpers/app'

const REQUESTS = 2000

t.test(`${REQUESTS} cookie-less logins store no session record; one of them still completes`, async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const records = new Map<string, unknown>()
  const app = await buildApp({ sandbox, sessionStore: new MemoryStore(records as never), sessionOptions: { saveUninitialized: false } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())

  let last
  let sessionCookies = 0
  for (let i = 0; i < REQUESTS; i++) {
    last = await app.inject('/auth/miro')
    if (last.statusCode !== 302) throw new Error(`login answered ${last.statusCode}`)
    if (last.cookies.some((c) => c.name === 'sessionId')) sessionCookies++
  }
  t.comment(`session records after ${REQUESTS} cookie-less GET /auth/miro: ${records.size}`)
  t.equal(records.size, 0, 'no session record')
  t.equal(sessionCookies, 0, 'no session cookie')
  const login = last?.cookies.find((c) => c.name.startsWith('fastify-miro-login.'))
  t.match(login, { maxAge: 600, httpOnly: true }, 'the login waits in its cookie, for its 10 minutes at most')

  // The last of them comes back: the login works from its cookie alone.
  const browser = new Browser(app)
  browser.cookies.set(login?.name ?? '', login?.value ?? '')
  const back = await sandbox.approve(String(last?.headers.location))
  t.equal((await browser.get(pathOf(back))).statusCode, 302)
  t.equal((await browser.get('/me')).body, 'in')
  t.equal(records.size, 2, 'the records of a completed login: its session and its token record')
})
