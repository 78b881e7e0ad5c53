// End-to-end: a real Chromium (Debian's, or CHROME_PATH) clicks through the example app
// against the local Miro sandbox, once per token storage: log in (Allow), see the boards,
// create one, log out; then log in and press Deny.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { BrowserContext, Page } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { buildExampleApp } from '../examples/app'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { launchChromium, SCREENSHOTS, whenChromium } from './helpers/chromium'
import { freePort, startRedis, type RedisServer } from './helpers/redis'

// HTML in a board name: it must show up as text, never as markup.
const NEW_BOARD = '<img src=x onerror=alert(1)> Q3 "plans" & more'

interface Stack {
  sandbox: Sandbox
  app: FastifyInstance
  origin: string
  redis?: Redis
  context: BrowserContext
  page: Page
  /** App responses with a 4xx/5xx status, and JavaScript dialogs: both must stay empty. */
  problems: string[]
}

/** Sandbox, (Redis,) the example app on a free port, and a fresh Chromium profile; all closed in teardown. */
async function startStack (t: Test, storage: 'session' | 'redis'): Promise<Stack> {
  const closers: Array<() => Promise<unknown>> = []
  t.teardown(async () => {
    // Browser first, then the app, then what the app uses.
    for (const close of closers.reverse()) await close()
  })
  const sandbox = await startSandbox()
  closers.push(() => sandbox.close())
  let redisServer: RedisServer | undefined
  let redis: Redis | undefined
  if (storage === 'redis') {
    const server = await startRedis()
    redisServer = server
    closers.push(() => server.stop())
    const client = new Redis(server.url, { lazyConnect: true })
    await client.connect()
    redis = client
    closers.push(async () => { client.disconnect() })
  }
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = await buildExampleApp({
    storage,
    ...(redisServer ? { redisUrl: redisServer.url } : {}),
    miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: `${origin}/auth/miro/callback`, basePath: sandbox.url }
  })
  closers.push(() => app.close())
  await app.listen({ host: '127.0.0.1', port })

  const { context, close } = await launchChromium()
  closers.push(close)
  const page = context.pages()[0] ?? await context.newPage()
  const problems: string[] = []
  page.on('response', (response) => {
    if (response.url().startsWith(origin) && response.status() >= 400) problems.push(`${response.status()} ${response.url()}`)
  })
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`)
    dialog.dismiss().catch(() => {})
  })
  return { sandbox, app, origin, context, page, problems, ...(redis ? { redis } : {}) }
}

/** The session id in the app's cookie: with Redis storage, the key of the user's tokens. */
async function sessionIdOf (stack: Stack): Promise<string> {
  const cookie = (await stack.context.cookies(stack.origin)).find((c) => c.name === 'sessionId')
  return decodeURIComponent(cookie?.value ?? '').split('.')[0] ?? ''
}

const heading = (page: Page): Promise<string | null> => page.locator('h1').first().textContent()

async function boardNames (page: Page): Promise<string[]> {
  return page.locator('ul.boards li .board a').allTextContents()
}

/** Home → "Log in with Miro" → the sandbox's consent page. */
async function toConsentPage (t: Test, stack: Stack): Promise<void> {
  const { page, origin, sandbox } = stack
  const home = await page.goto(`${origin}/`)
  t.equal(home?.status(), 200, 'home page')
  await page.getByRole('link', { name: 'Log in with Miro' }).click()
  await page.waitForURL((url) => url.origin === sandbox.url && url.pathname === '/oauth/authorize')
  t.equal(await heading(page), 'Allow access to your boards?', 'the sandbox consent page')
}

whenChromium(t, () => {
  for (const storage of ['session', 'redis'] as const) {
    t.test(`log in, list and create boards, log out, deny (${storage} storage)`, async (t) => {
      const stack = await startStack(t, storage)
      const { page, origin, sandbox } = stack
      const user = sandbox.users[0]
      if (!user) throw new Error('the sandbox has no user')

      // Log in: Allow, then back on the home page with the sandbox user's boards.
      await toConsentPage(t, stack)
      await page.getByRole('button', { name: 'Allow' }).click()
      await page.waitForURL(`${origin}/`)
      await page.getByRole('link', { name: "Sandbox User's first board" }).waitFor()
      t.same(await boardNames(page), ["Sandbox User's first board"], 'the boards list shows the sandbox user\'s board')
      t.match(await page.locator('header .who').textContent(), /Signed in as Sandbox User/)
      t.match(sandbox.tokenCalls, [{ grantType: 'authorization_code', ok: true }], 'one code exchange')

      const sessionId = await sessionIdOf(stack)
      if (stack.redis) {
        const stored = JSON.parse(await stack.redis.get(`miro:token:{${sessionId}}`) ?? 'null') as { userId?: string } | null
        t.equal(stored?.userId, user.id, 'the tokens are in Redis, under the session id')
        t.ok(await stack.redis.exists(`example:session:${sessionId}`), 'the session is in Redis too')
      }

      // Create a board (POST, then redirect back: PRG).
      await page.getByRole('textbox', { name: 'Board name' }).fill(NEW_BOARD)
      await page.getByRole('button', { name: 'Create board' }).click()
      await page.locator('.flash.ok').waitFor()
      t.equal(page.url(), `${origin}/`, 'back on the home page after the POST')
      t.equal(await page.locator('.flash.ok').textContent(), `Board “${NEW_BOARD}” created.`)
      t.same(await boardNames(page), ["Sandbox User's first board", NEW_BOARD], 'the new board is listed, its name as plain text')
      t.equal(await page.locator('main img').count(), 0, 'no markup from the board name')
      await page.screenshot({ path: join(SCREENSHOTS, `logged-in-${storage}.png`), fullPage: true })
      await page.reload()
      t.same(await boardNames(page), ["Sandbox User's first board", NEW_BOARD], 'reloading does not post again')
      t.equal(await page.locator('.flash').count(), 0, 'the message shows once')

      // Log out: the token is revoked at Miro and gone from the app.
      await page.getByRole('button', { name: 'Log out', exact: true }).click()
      await page.waitForURL(`${origin}/logged-out`)
      t.equal(await heading(page), 'You are logged out')
      t.match(sandbox.revokeCalls, [{ ok: true }], 'the token was revoked at Miro')
      t.same(sandbox.accessTokensOf(user.id), [], 'no live token left')
      if (stack.redis) t.equal(await stack.redis.exists(`miro:token:{${sessionId}}`), 0, 'the tokens are gone from Redis')
      await page.goto(`${origin}/`)
      t.equal(await page.getByRole('link', { name: 'Log in with Miro' }).count(), 1, 'home offers to log in again')
      t.equal(await page.locator('ul.boards').count(), 0, 'no boards when logged out')

      // Log in again, but press Deny: a friendly page, not an error.
      await toConsentPage(t, stack)
      const cancelled = page.waitForResponse((r) => new URL(r.url()).pathname === '/login-failed')
      await page.getByRole('button', { name: 'Deny' }).click()
      const response = await cancelled
      await page.waitForURL((url) => url.pathname === '/login-failed')
      t.equal(response.status(), 200, 'the cancelled page answers 200')
      t.equal(new URL(page.url()).searchParams.get('error'), 'FST_MIRO_ACCESS_DENIED')
      t.equal(await heading(page), 'Login cancelled')
      t.match(await page.locator('main').textContent(), /You chose not to give this app access to your Miro boards/)
      t.equal(await page.getByRole('link', { name: 'Log in with Miro' }).count(), 1, 'with a way to try again')
      t.equal(sandbox.tokenCalls.length, 1, 'Deny made no token call')
      await page.screenshot({ path: join(SCREENSHOTS, `login-cancelled-${storage}.png`) })

      t.same(stack.problems, [], 'no error responses from the app, no JavaScript dialogs')
    })
  }
})
