// Pending logins: a browser may have a few at once, each single-use and short-lived; only a
// callback that proves one (its state, with its cookie) uses it up; a doubled callback (a
// reload while the first is in flight, its answer dropped) still ends logged in. Real
// @fastify/cookie and @fastify/session over inject, with a cookie jar; the sandbox as Miro.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { Browser, buildApp, pathOf } from './helpers/app'
import { startRedis } from './helpers/redis'
import { Redis } from 'ioredis'
import { MAX_PENDING } from '../lib/pending-login'
import type { FastifyMiroOptions } from '../index'

async function setup (t: Test, miro: FastifyMiroOptions = {}) {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())
  return { sandbox, app, browser: new Browser(app) }
}

/** Starts a login and gets Miro's answer (Allow) without coming back yet. */
async function started (browser: Browser, sandbox: Sandbox, loginUrl = '/auth/miro') {
  const start = await browser.get(loginUrl)
  const back = new URL(await sandbox.approve(String(start.headers.location)))
  return { location: String(start.headers.location), callback: pathOf(back.toString()), state: back.searchParams.get('state') ?? '' }
}

const loginCookies = (browser: Browser): string[] => [...browser.cookies.keys()].filter((name) => name.includes('fastify-miro-login.'))

/** A copy of the browser's cookie jar: another "tab" of the same browser state, or what it had before an answer. */
function copyOf (browser: Browser, app: FastifyInstance): Browser {
  const copy = new Browser(app)
  for (const [name, value] of browser.cookies) copy.cookies.set(name, value)
  return copy
}

t.test('a forged ?error=, a wrong state or no state cancels nothing: the real callback still logs in', async (t) => {
  const { sandbox, browser } = await setup(t)
  const login = await started(browser, sandbox)
  for (const forged of ['/auth/miro/callback?error=access_denied', '/auth/miro/callback?error=access_denied&state=x',
    `/auth/miro/callback?error=server_error&state=${login.state}x`, `/auth/miro/callback?code=forged&state=${login.state.slice(1)}`,
    '/auth/miro/callback?code=forged']) {
    const res = await browser.get(forged)
    t.ok(res.statusCode === 403 || res.statusCode === 400, `${forged}: refused (${res.statusCode})`)
    t.equal(loginCookies(browser).length, 1, `${forged}: the pending login is still there`)
  }
  t.equal(sandbox.tokenCalls.length, 0, 'no token call for any of them')
  const res = await browser.get(login.callback)
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/')
  t.equal((await browser.get('/me')).body, 'in')
  t.same(loginCookies(browser), [], 'used up by the callback that proved it')
})

t.test("Miro's own denial (with the login's state) uses the login up", async (t) => {
  const { sandbox, browser } = await setup(t)
  const start = await browser.get('/auth/miro')
  const denied = new URL(await sandbox.deny(String(start.headers.location)))
  const res = await browser.get(pathOf(denied.toString()))
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'FST_MIRO_ACCESS_DENIED')
  t.same(loginCookies(browser), [])
})

t.test('two tabs: two logins pending in one browser both succeed, in either order', async (t) => {
  const { sandbox, browser } = await setup(t)
  const first = await started(browser, sandbox, '/auth/miro?returnTo=/first')
  const second = await started(browser, sandbox, '/auth/miro?returnTo=/second')
  t.equal(loginCookies(browser).length, 2)
  const b = await browser.get(second.callback)
  t.equal(b.statusCode, 302)
  t.equal(b.headers.location, '/second')
  const a = await browser.get(first.callback)
  t.equal(a.statusCode, 302)
  t.equal(a.headers.location, '/first')
  t.equal((await browser.get('/me')).body, 'in')
  t.equal(sandbox.tokenCalls.filter((c) => c.ok).length, 2)
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id).length, 1, 'the second login replaced (and revoked) the first one\'s tokens')
})

t.test(`at most ${MAX_PENDING} logins pending per browser: a new one drops the oldest`, async (t) => {
  const { sandbox, browser } = await setup(t)
  const logins = []
  for (let i = 0; i < MAX_PENDING + 2; i++) logins.push(await started(browser, sandbox))
  t.equal(loginCookies(browser).length, MAX_PENDING)
  for (const old of logins.slice(0, 2)) t.equal((await browser.get(old.callback)).statusCode, 403, 'the oldest are gone')
  t.equal((await browser.get(logins[MAX_PENDING + 1]!.callback)).statusCode, 302, 'the newest works')
})

t.test('a state works once: a second callback with another code is refused, even with a copy of the cookie', async (t) => {
  const { sandbox, app, browser } = await setup(t)
  const login = await started(browser, sandbox)
  const copy = copyOf(browser, app)
  t.equal((await browser.get(login.callback)).statusCode, 302)
  const second = new URL(await sandbox.approve(login.location))
  for (const replayer of [browser, copy]) {
    const replay = await replayer.get(pathOf(second.toString()))
    t.equal(replay.statusCode, 403)
    t.equal(replay.json().code, 'FST_MIRO_INVALID_STATE')
  }
  t.equal(sandbox.tokenCalls.length, 1, 'the second code was never exchanged')
})

t.test('a doubled callback (reload while the first is in flight) ends logged in, whichever answer the browser keeps', async (t) => {
  const { sandbox, app, browser } = await setup(t)
  const login = await started(browser, sandbox, '/auth/miro?returnTo=/boards')
  // Slow Miro: the reload arrives while the first callback is exchanging the code.
  sandbox.failTokenEndpoint({ delayMs: 300, times: 1 })
  const firstTab = copyOf(browser, app)
  const reloaded = copyOf(browser, app)
  const [first, second] = await Promise.all([firstTab.get(login.callback), reloaded.get(login.callback)])
  t.equal(first.statusCode, 302)
  t.equal(second.statusCode, 302)
  t.equal(second.headers.location, '/boards', 'the reload goes where the login was going')
  t.equal(sandbox.tokenCalls.length, 1, 'the code was exchanged once')
  t.equal((await firstTab.get('/me')).body, 'in', 'with the first answer\'s cookies: logged in')
  t.equal((await reloaded.get('/me')).body, 'in', 'with the reload\'s cookies (the first answer dropped): logged in')
  t.equal(reloaded.cookies.get('sessionId'), firstTab.cookies.get('sessionId'), 'one session, not two')
})

t.test('a doubled callback after the first finished (its answer lost) ends logged in too', async (t) => {
  const { sandbox, app, browser } = await setup(t)
  const login = await started(browser, sandbox)
  const before = copyOf(browser, app)
  t.equal((await browser.get(login.callback)).statusCode, 302)
  const again = await before.get(login.callback)
  t.equal(again.statusCode, 302)
  t.equal((await before.get('/me')).body, 'in')
  t.equal(sandbox.tokenCalls.length, 1)
  // Someone without the login's cookie gets nothing from the URL alone.
  const stranger = new Browser(app)
  t.equal((await stranger.get(login.callback)).statusCode, 403)
  t.equal((await stranger.get('/me', { accept: 'application/json' })).statusCode, 401)
})

t.test('signed-cookie mode (no @fastify/session): single use on the server, __Host- on https', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()
  const app = await buildApp({
    sandbox,
    session: false,
    redisUrl: redis.url,
    miro: { redirectUrl: 'https://app.example/auth/miro/callback', storage: 'redis', userId: (request) => request.headers['x-user'] as string }
  })
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro')
  const cookie = (start.cookies as Array<{ name: string, secure?: boolean, path?: string, domain?: string, httpOnly?: boolean, sameSite?: string }>)
    .find((c) => c.name.includes('fastify-miro-login.'))
  t.match(cookie?.name, /^__Host-fastify-miro-login\.[\w-]{12}$/, 'the __Host- prefix on https')
  t.match(cookie, { secure: true, path: '/', httpOnly: true, sameSite: 'Lax' })
  t.equal(cookie?.domain, undefined, 'no Domain')
  const back = new URL(await sandbox.approve(String(start.headers.location)))
  const stolen = copyOf(browser, app)

  const res = await browser.request({ method: 'GET', url: pathOf(back.toString()), headers: { 'x-user': 'user-1' } })
  t.equal(res.statusCode, 302)
  t.equal(await probe.exists('miro:token:{user-1}'), 1)
  const cleared = (res.cookies as Array<{ name: string, maxAge?: number, secure?: boolean, path?: string }>).find((c) => c.name === cookie?.name)
  t.match(cleared, { maxAge: 0, secure: true, path: '/' }, 'cleared with the attributes a __Host- cookie needs')

  // Replay: the copied cookie, the same state, a new code (a login CSRF with a cookie planted earlier).
  const second = new URL(await sandbox.approve(String(start.headers.location)))
  const replay = await stolen.request({ method: 'GET', url: pathOf(second.toString()), headers: { 'x-user': 'user-2' } })
  t.equal(replay.statusCode, 403)
  t.equal(replay.json().code, 'FST_MIRO_INVALID_STATE')
  t.equal(await probe.exists('miro:token:{user-2}'), 0, 'nothing stored for the replay')
  t.equal(sandbox.tokenCalls.length, 1, 'its code never exchanged')
})
