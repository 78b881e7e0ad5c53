// Logout refuses cross-site requests. In a real Chromium: a page on another site (127.0.0.1 vs
// the app on localhost) posts a text/plain form (no preflight) to the logout route right after
// login, with session cookies Chromium sends along. Then the header rules, over inject.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { startSandbox, type Sandbox } from '../sandbox/index'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { Browser, buildApp } from './helpers/app'
import { launchChromium, whenChromium } from './helpers/chromium'
import { freePort } from './helpers/redis'
import fastifyMiro from '../index'

/**
 * The app as deployed behind a TLS proxy (X-Forwarded-Proto: https, trustProxy), so its
 * cookies are Secure as in production; Chromium keeps Secure cookies of http://localhost.
 */
interface Logout { status: number, code?: string, cookie: boolean, contentType?: string }

async function appOn (t: Test, sandbox: Sandbox, origin: string, port: number, cookie: Record<string, unknown>): Promise<Logout[]> {
  const app = Fastify({ trustProxy: true })
  app.addHook('onRequest', async (request) => { request.headers['x-forwarded-proto'] = 'https' })
  // What reached the logout route and what it answered, seen by the server.
  const logouts: Logout[] = []
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.url !== '/auth/miro/logout') return payload
    const code = reply.statusCode === 403 ? (JSON.parse(String(payload)) as { code?: string }).code : undefined
    logouts.push({ status: reply.statusCode, cookie: /sessionId=/.test(request.headers.cookie ?? ''), ...(code ? { code } : {}), ...(request.headers['content-type'] ? { contentType: request.headers['content-type'] } : {}) })
    return payload
  })
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: 'session-secret-for-tests-only-0123456789', cookie })
  await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, basePath: sandbox.url, redirectUrl: `${origin}/auth/miro/callback` })
  app.get('/', async () => 'home')
  app.get('/me', async (request) => (await request.miro.isAuthorized(app.miro.userIdOf(request) as string)) ? 'in' : 'out')
  // The app's own logout button.
  app.get('/account', async (_request, reply) => reply.type('text/html').send('<form method="post" action="/auth/miro/logout"><button>Log out</button></form>'))
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port })
  return logouts
}

/** Waits (at most 5 s) until the logout route has answered `count` requests. */
async function answered (logouts: Logout[], count: number): Promise<Logout | undefined> {
  for (let i = 0; i < 100 && logouts.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  return logouts[count - 1]
}

/** Another site: a page that posts a text/plain form to `target` as soon as it loads. */
async function attackerOn (t: Test, port: number, target: string): Promise<void> {
  const site = Fastify()
  site.get('/', async (_request, reply) => reply.type('text/html').send(
    `<form method="post" action="${target}" enctype="text/plain"><input type="hidden" name="a" value="b"></form><script>document.forms[0].submit()</script>`))
  t.teardown(() => site.close())
  await site.listen({ host: '127.0.0.1', port })
}

// The README's quickstart cookie (secure: 'auto': on https no SameSite attribute, so Lax by
// default, with Chromium's two-minute window for top-level POSTs), and the board-app setup.
const COOKIES: Array<[string, Record<string, unknown>, string | undefined]> = [
  ["quickstart cookie (secure: 'auto')", { secure: 'auto' }, undefined],
  ["board-app cookie (sameSite: 'none', secure: true)", { sameSite: 'none', secure: true }, 'None']
]

whenChromium(t, () => {
  for (const [name, cookie, sameSite] of COOKIES) {
    t.test(`a cross-site form post to logout is refused in Chromium; the app's own logout button works: ${name}`, async (t) => {
      const sandbox = await startSandbox()
      t.teardown(() => sandbox.close())
      const [port, evilPort] = [await freePort(), await freePort()]
      const origin = `http://localhost:${port}`
      const logouts = await appOn(t, sandbox, origin, port, cookie)
      await attackerOn(t, evilPort, `${origin}/auth/miro/logout`)
      const { context, close } = await launchChromium()
      t.teardown(close)
      const page = context.pages()[0] ?? await context.newPage()

      await page.goto(`${origin}/auth/miro`)
      await page.getByRole('button', { name: 'Allow' }).click()
      await page.waitForURL(`${origin}/`)
      const session = (await context.cookies(origin)).find((c) => c.name === 'sessionId')
      t.match(session, { secure: true, sameSite: sameSite ?? 'Lax' }, 'the session cookie as configured')
      await page.goto(`${origin}/me`)
      t.equal(await page.textContent('body'), 'in')

      // Seconds after login (inside Chromium's two-minute window), from http://127.0.0.1: another site.
      // 'commit': a logout that went through answers 204, which navigates nowhere.
      await page.goto(`http://127.0.0.1:${evilPort}/`, { waitUntil: 'commit' })
      const refused = await answered(logouts, 1)
      t.match(refused, { contentType: 'text/plain', cookie: true }, 'a form (no preflight), and Chromium sent the session cookie along')
      t.match(refused, { status: 403, code: 'FST_MIRO_CROSS_SITE' }, 'refused')
      t.same(sandbox.revokeCalls, [], 'the token was not revoked')
      t.equal(sandbox.accessTokensOf(sandbox.users[0]!.id).length, 1, 'still live at Miro')
      // Looked at in a tab of its own: the attacker's tab may still be navigating.
      const check = await context.newPage()
      await check.goto(`${origin}/me`)
      t.equal(await check.textContent('body'), 'in', 'still logged in')

      await check.goto(`${origin}/account`)
      await check.getByRole('button', { name: 'Log out' }).click({ noWaitAfter: true })
      t.match(await answered(logouts, 2), { status: 204 }, 'the app\'s own logout works')
      t.match(sandbox.revokeCalls, [{ ok: true }])
      const after = await context.newPage()
      await after.goto(`${origin}/me`)
      t.equal(await after.textContent('body'), 'out')
    })
  }
})

t.test('the rules: Sec-Fetch-Site, else Origin; trusted origins; clients without either', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { redirectUrl: 'https://app.example/auth/miro/callback', routes: { trustedOrigins: ['https://admin.example'] } } })
  app.get('/me', async (request) => (await request.miro.isAuthorized(app.miro.userIdOf(request) as string)) ? 'in' : 'out')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const cases: Array<[string, Record<string, string>, number]> = [
    ['cross-site', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, 403],
    ['cross-site without Origin', { 'sec-fetch-site': 'cross-site' }, 403],
    ['same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site', origin: 'https://blog.app.example' }, 403],
    ['no Fetch Metadata, another Origin', { origin: 'https://evil.example' }, 403],
    ['Origin null (a sandboxed frame, a data: page)', { origin: 'null' }, 403],
    ['same-origin', { 'sec-fetch-site': 'same-origin', origin: 'https://app.example' }, 204],
    ['no Fetch Metadata, the app\'s Origin', { origin: 'https://app.example' }, 204],
    ['cross-site from a trusted origin', { 'sec-fetch-site': 'cross-site', origin: 'https://admin.example' }, 204],
    ['no Fetch Metadata, no Origin (curl, a server)', {}, 204]
  ]
  for (const [name, headers, status] of cases) {
    await browser.login(sandbox)
    const res = await browser.request({ method: 'POST', url: '/auth/miro/logout', headers: { 'content-type': 'text/plain', ...headers }, payload: 'x' })
    t.equal(res.statusCode, status, name)
    if (status === 403) t.equal(res.json().code, 'FST_MIRO_CROSS_SITE', name)
    t.equal((await browser.get('/me')).body, status === 403 ? 'in' : 'out', name)
  }
})
