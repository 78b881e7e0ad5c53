// The login, callback and logout routes, and the guard.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { Browser, buildApp, pathOf } from './helpers/app'
import { startRedis } from './helpers/redis'
import fastifyMiro, { type FastifyMiroOptions } from '../index'

async function setup (t: Test, miro: FastifyMiroOptions = {}, logLines?: string[]) {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro, ...(logLines ? { logLines } : {}) })
  app.get('/me', { preHandler: app.miro.requireAuth }, async (request) => ({ user: (await request.miro.getState('x'))?.userId }))
  app.get('/session', async (request) => ({ miro: request.session.get('miro' as never) ?? null }))
  t.teardown(() => app.close())
  return { sandbox, app, browser: new Browser(app) }
}

/** Starts a login and asks the sandbox for a code, without coming back yet. */
async function consent (browser: Browser, sandbox: Sandbox, loginUrl = '/auth/miro') {
  const start = await browser.get(loginUrl)
  const location = String(start.headers.location)
  const back = new URL(await sandbox.approve(location))
  return { start, location, back, code: back.searchParams.get('code') ?? '', state: back.searchParams.get('state') ?? '' }
}

t.test('login redirects to Miro with a random state kept in a sealed cookie of its own, not in the session', async (t) => {
  const { sandbox, browser } = await setup(t)
  const a = await consent(browser, sandbox)
  t.equal(a.start.statusCode, 302)
  t.ok(a.location.startsWith(`${sandbox.url}/oauth/authorize?response_type=code&client_id=${sandbox.clientId}`))
  const state = new URL(a.location).searchParams.get('state') ?? ''
  t.match(state, /^[A-Za-z0-9_-]{43}$/, '256 random bits')
  const cookies = a.start.cookies as Array<{ name: string, value: string, httpOnly?: boolean, sameSite?: string, path?: string, maxAge?: number }>
  const login = cookies.find((c) => c.name.startsWith('fastify-miro-login.'))
  t.match(login, { httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 600 })
  t.notOk(login?.value.includes(state), 'the state is sealed, not readable in the cookie')
  t.notOk(login?.name.includes(state), 'nor in its name')
  const again = new URL(String((await browser.get('/auth/miro')).headers.location)).searchParams.get('state')
  t.not(again, state, 'a new state every time')
})

t.test('a good callback exchanges the code, regenerates the session, stores, and redirects', async (t) => {
  const { sandbox, browser } = await setup(t, { routes: { successRedirect: '/welcome' } })
  await browser.get('/session')
  const before = browser.cookies.get('sessionId')
  const a = await consent(browser, sandbox)
  const res = await browser.get(pathOf(a.back.toString()))
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/welcome')
  t.not(browser.cookies.get('sessionId'), before, 'a new session id (no session fixation)')
  // The session holds only a pointer to the state's record in the session store (lib/storage/session.ts).
  t.match((await browser.get('/session')).json(), { miro: /^r1 [\w-]{22}$/ })
  t.equal((await browser.get('/me')).statusCode, 200)

  // The old session id holds nothing.
  const planted = new Browser((browser as unknown as { app: never }).app)
  planted.cookies.set('sessionId', before ?? '')
  t.match((await planted.get('/session')).json(), { miro: null })
})

t.test('returnTo is remembered; anything but a same-origin path is refused', async (t) => {
  const { sandbox, browser } = await setup(t)
  const a = await consent(browser, sandbox, '/auth/miro?returnTo=' + encodeURIComponent('/boards?sort=name#top'))
  const res = await browser.get(pathOf(a.back.toString()))
  t.equal(res.headers.location, '/boards?sort=name#top')

  for (const evil of ['//evil.com', 'https://evil.com/', '/\\evil.com', '\\\\evil.com', '/\t/evil.com', 'javascript:alert(1)', 'evil.com', '']) {
    const refused = await browser.get('/auth/miro?returnTo=' + encodeURIComponent(evil))
    t.equal(refused.statusCode, 400, `refused: ${JSON.stringify(evil)}`)
    t.equal(refused.json().code, 'FST_MIRO_INVALID_RETURN_TO')
  }
})

t.test('a refused callback gets a clear 4xx, makes no token call and stores nothing', async (t) => {
  const { sandbox, browser } = await setup(t)
  const cases: Array<[string, () => Promise<string>, number, string]> = [
    ['access_denied', async () => {
      await browser.get('/auth/miro')
      return '/auth/miro/callback?error=access_denied&state=x'
    }, 403, 'FST_MIRO_ACCESS_DENIED'],
    ['no code', async () => {
      const state = new URL(String((await browser.get('/auth/miro')).headers.location)).searchParams.get('state')
      return `/auth/miro/callback?state=${state}`
    }, 400, 'FST_MIRO_MISSING_CODE'],
    ['wrong state', async () => {
      const a = await consent(browser, sandbox)
      return `/auth/miro/callback?code=${a.code}&state=${a.state}x`
    }, 403, 'FST_MIRO_INVALID_STATE'],
    ['no state', async () => {
      const a = await consent(browser, sandbox)
      return `/auth/miro/callback?code=${a.code}`
    }, 403, 'FST_MIRO_INVALID_STATE'],
    ['no login started', async () => {
      const a = await consent(new Browser((browser as unknown as { app: never }).app), sandbox)
      return `/auth/miro/callback?code=${a.code}&state=${a.state}`
    }, 403, 'FST_MIRO_INVALID_STATE'],
    ['repeated parameters', async () => {
      const a = await consent(browser, sandbox)
      return `/auth/miro/callback?code=${a.code}&state=${a.state}&state=${a.state}`
    }, 403, 'FST_MIRO_INVALID_STATE'],
    ['expired state', async () => {
      const a = await consent(browser, sandbox)
      // Ten minutes and a second later, for the plugin's check (the sandbox keeps its own clock).
      const now = Date.now
      Date.now = () => now() + 10 * 60_000 + 1000
      t.teardown(() => { Date.now = now })
      return `/auth/miro/callback?code=${a.code}&state=${a.state}`
    }, 403, 'FST_MIRO_INVALID_STATE']
  ]
  const realNow = Date.now
  for (const [name, prepare, status, code] of cases) {
    const url = await prepare()
    const res = await browser.get(url)
    Date.now = realNow
    t.equal(res.statusCode, status, name)
    t.equal(res.json().code, code, name)
    t.match((await browser.get('/session')).json(), { miro: null }, `${name}: nothing stored`)
  }
  t.equal(sandbox.tokenCalls.length, 0, 'no token call for any of them')
})

t.test('a state works once', async (t) => {
  const { sandbox, browser } = await setup(t)
  const a = await consent(browser, sandbox)
  t.equal((await browser.get(pathOf(a.back.toString()))).statusCode, 302)
  // Replay: a second code for the same (now used) state.
  const second = new URL(await sandbox.approve(a.location))
  const replay = await browser.get(pathOf(second.toString()))
  t.equal(replay.statusCode, 403)
  t.equal(replay.json().code, 'FST_MIRO_INVALID_STATE')
  t.equal(sandbox.tokenCalls.length, 1)
})

t.test('failureRedirect turns refused callbacks into redirects with the error code', async (t) => {
  const { sandbox, browser } = await setup(t, { routes: { failureRedirect: '/login-failed?from=miro' } })
  await browser.get('/auth/miro')
  const denied = await browser.get('/auth/miro/callback?error=access_denied')
  t.equal(denied.statusCode, 302)
  t.equal(denied.headers.location, '/login-failed?from=miro&error=FST_MIRO_ACCESS_DENIED')
  const a = await consent(browser, sandbox)
  const bad = await browser.get(`/auth/miro/callback?code=${a.code}&state=nope`)
  t.equal(bad.headers.location, '/login-failed?from=miro&error=FST_MIRO_INVALID_STATE')
})

t.test('the code never appears in any log line', async (t) => {
  const lines: string[] = []
  const { sandbox, browser } = await setup(t, {}, lines)
  const a = await consent(browser, sandbox)
  await browser.get(pathOf(a.back.toString()))
  const again = await consent(browser, sandbox)
  await browser.get(`/auth/miro/callback?code=${again.code}&state=wrong`)
  t.ok(lines.some((l) => l.includes('"url":"/auth/miro/callback"') && l.includes('incoming request')), 'the request is logged, without its query')
  for (const code of [a.code, again.code]) t.notOk(lines.some((l) => l.includes(code)), 'no code in the logs')
})

t.test('logout revokes at Miro (v2, body) and clears the state; 204 or a redirect', async (t) => {
  const { sandbox, browser } = await setup(t)
  await browser.login(sandbox)
  const res = await browser.request({ method: 'POST', url: '/auth/miro/logout' })
  t.equal(res.statusCode, 204)
  t.same(sandbox.revokeCalls.map((c) => c.ok), [true])
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [])
  t.match((await browser.get('/session')).json(), { miro: null })

  const other = await setup(t, { routes: { logoutRedirect: '/bye' } })
  await other.browser.login(other.sandbox)
  const redirected = await other.browser.request({ method: 'POST', url: '/auth/miro/logout' })
  t.equal(redirected.statusCode, 303)
  t.equal(redirected.headers.location, '/bye')
})

t.test('logout clears the state even when Miro is unreachable, with a warning', async (t) => {
  const lines: string[] = []
  const { sandbox, browser } = await setup(t, { httpTimeout: 500 }, lines)
  await browser.login(sandbox)
  await sandbox.close()
  const res = await browser.request({ method: 'POST', url: '/auth/miro/logout' })
  t.equal(res.statusCode, 204)
  t.match((await browser.get('/session')).json(), { miro: null })
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('FST_MIRO_UNAVAILABLE')))
})

t.test('the guard: browsers go to the login with returnTo, API callers get 401 JSON', async (t) => {
  const { sandbox, browser } = await setup(t)
  const html = await browser.get('/me?tab=1', { accept: 'text/html,application/xhtml+xml' })
  t.equal(html.statusCode, 302)
  t.equal(html.headers.location, '/auth/miro?returnTo=' + encodeURIComponent('/me?tab=1'))
  const api = await browser.get('/me', { accept: 'application/json' })
  t.equal(api.statusCode, 401)
  t.same(api.json(), { statusCode: 401, code: 'FST_MIRO_NOT_AUTHORIZED', error: 'Unauthorized', message: 'This user has not authorized the Miro app yet: send them to the login route' })

  const login = await browser.login(sandbox, String(html.headers.location))
  t.equal(login.headers.location, '/me?tab=1', 'back where the user started')
  t.equal((await browser.get('/me')).statusCode, 200)
})

t.test('state: false skips the check, with a startup warning', async (t) => {
  const lines: string[] = []
  const { sandbox, browser } = await setup(t, { state: false }, lines)
  await (browser as unknown as { app: { ready: () => Promise<void> } }).app.ready()
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('options.state is false')))
  const start = await browser.get('/auth/miro')
  t.notOk(new URL(String(start.headers.location)).searchParams.has('state'), 'no state sent')
  // Miro's "use this URI for SDK authorization": a callback the app did not start.
  const back = new URL(await sandbox.approve(String(start.headers.location)))
  const stranger = new Browser((browser as unknown as { app: never }).app)
  const res = await stranger.get(pathOf(back.toString()))
  t.equal(res.statusCode, 302)
  t.equal((await stranger.get('/me')).statusCode, 200)
})

t.test('routes: false registers none; paths are configurable', async (t) => {
  const off = await setup(t, { routes: false })
  t.equal((await off.browser.get('/auth/miro')).statusCode, 404)
  t.equal((await off.browser.get('/auth/miro/callback')).statusCode, 404)
  t.equal((await off.browser.request({ method: 'POST', url: '/auth/miro/logout' })).statusCode, 404)
  t.equal((await off.browser.get('/me', { accept: 'text/html' })).statusCode, 401, 'no login route to send browsers to')

  const custom = await setup(t, { redirectUrl: 'http://localhost/oauth/miro/done', routes: { loginPath: '/login', logoutPath: '/logout' } })
  const login = await custom.browser.login(custom.sandbox, '/login')
  t.equal(login.statusCode, 302)
  t.equal((await custom.browser.get('/me')).statusCode, 200)
  t.equal((await custom.browser.request({ method: 'POST', url: '/logout' })).statusCode, 204)
})

t.test('redis tokens with saveUninitialized: false keep the login (the regenerated session is saved)', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  t.teardown(async () => { await sandbox.close(); await redis.stop() })
  const app = await buildApp({ sandbox, redisUrl: redis.url, sessionOptions: { saveUninitialized: false }, miro: { storage: 'redis', redis: { keyPrefix: `uninit-${Date.now()}:` } } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const res = await browser.login(sandbox)
  t.equal(res.statusCode, 302)
  t.ok(browser.cookies.get('sessionId'), 'the callback sets the new session cookie')
  t.equal((await browser.get('/me')).body, 'in')
})

t.test('logout accepts a plain HTML form post (and any body) without the app registering a parser', async (t) => {
  const { sandbox, browser } = await setup(t)
  await browser.login(sandbox)
  const res = await browser.request({ method: 'POST', url: '/auth/miro/logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' })
  t.equal(res.statusCode, 204)
  t.match((await browser.get('/session')).json(), { miro: null })
  const json = await browser.request({ method: 'POST', url: '/auth/miro/logout', headers: { 'content-type': 'text/plain' }, payload: 'bye' })
  t.equal(json.statusCode, 204)
})

t.test('a refused returnTo goes through the app\'s error handler', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  // As in an app: its error handler first, then the plugins.
  const app = Fastify()
  app.setErrorHandler(async (err: { code?: string, statusCode?: number }, _request, reply) => reply.code(err.statusCode ?? 500).type('text/html').send(`<p>${err.code}</p>`))
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: 'session-secret-for-tests-only-0123456789', cookie: { secure: false } })
  await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: 'http://localhost/auth/miro/callback', basePath: sandbox.url })
  t.teardown(() => app.close())
  const res = await app.inject('/auth/miro?returnTo=' + encodeURIComponent('//evil.com'))
  t.equal(res.statusCode, 400)
  t.equal(res.body, '<p>FST_MIRO_INVALID_RETURN_TO</p>')
})

t.test('without a session: the state lives in a sealed, httpOnly, SameSite=Lax cookie', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()
  const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', userId: (request) => request.headers['x-user'] as string } })
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro')
  const cookie = (start.cookies as Array<{ name: string, httpOnly?: boolean, sameSite?: string, path?: string, value: string }>).find((c) => c.name.startsWith('fastify-miro-login.'))
  t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/' })
  const back = new URL(await sandbox.approve(String(start.headers.location)))

  const forged = new Browser(app)
  forged.cookies.set(cookie?.name ?? '', encodeURIComponent(JSON.stringify({ state: back.searchParams.get('state'), expiresAt: Date.now() + 60_000 })))
  t.equal((await forged.get(pathOf(back.toString()))).statusCode, 403, 'a cookie not sealed by the plugin is refused')
  const tampered = new Browser(app)
  const raw = cookie?.value ?? ''
  tampered.cookies.set(cookie?.name ?? '', raw.slice(0, 20) + (raw[20] === 'A' ? 'B' : 'A') + raw.slice(21))
  t.equal((await tampered.get(pathOf(back.toString()))).statusCode, 403, 'a tampered cookie is refused')

  const res = await browser.request({ method: 'GET', url: pathOf(back.toString()), headers: { 'x-user': 'user-7' } })
  t.equal(res.statusCode, 302)
  t.equal(await probe.exists('miro:token:{user-7}'), 1)
  t.notOk(browser.cookies.has(cookie?.name ?? ''), 'the cookie is cleared')
  t.equal(sandbox.tokenCalls.length, 1)
})

t.test('registered under a prefix: the callback stays at the path of redirectUrl, the guard links the prefixed login', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: 'session-secret-for-tests-only-0123456789', cookie: { secure: false } })
  await app.register(async (panel) => {
    await panel.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: 'http://localhost/panel/auth/miro/callback', basePath: sandbox.url })
    panel.get('/me', { preHandler: panel.miro.requireAuth }, async () => 'in')
  }, { prefix: '/panel' })
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const guarded = await browser.get('/panel/me', { accept: 'text/html' })
  t.equal(guarded.headers.location, '/panel/auth/miro?returnTo=%2Fpanel%2Fme')
  const res = await browser.login(sandbox, String(guarded.headers.location))
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/panel/me')
  t.equal((await browser.get('/panel/me')).body, 'in')

  const outside = Fastify()
  await outside.register(fastifyCookie)
  await outside.register(fastifySession, { secret: 'session-secret-for-tests-only-0123456789', cookie: { secure: false } })
  outside.register(async (panel) => {
    await panel.register(fastifyMiro, { clientId: 'i', clientSecret: 's', redirectUrl: 'http://localhost/auth/miro/callback' })
  }, { prefix: '/panel' })
  await t.rejects(async () => { await outside.ready() }, { message: /the callback path '\/auth\/miro\/callback' \(the path of redirectUrl\) is outside the prefix '\/panel'/ })
})
