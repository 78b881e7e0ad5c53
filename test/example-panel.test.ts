// End-to-end: the example's board panel demo (/panel) in a real Chromium (Debian's, or
// CHROME_PATH), against the local Miro sandbox. The page gets an id token (in the sandbox, from
// /panel/dev/id-token), calls the backend with it and no cookies, is told "not authorized",
// opens the login in a popup (Allow), and then lists the boards of the verified Miro user.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { buildExampleApp } from '../examples/app'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { launchChromium, SCREENSHOTS, whenChromium } from './helpers/chromium'
import { freePort } from './helpers/redis'

// HTML in a board name: the panel must show it as text, never as markup.
const HOSTILE_BOARD = '<img src=x onerror=alert(1)> panel & "notes"'

/** The sandbox and the example app (session storage) on a free port; closed in teardown. */
async function startApp (t: Test, withDevIdToken = true) {
  const sandbox = await startSandbox()
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = await buildExampleApp({
    miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: `${origin}/auth/miro/callback`, basePath: sandbox.url },
    ...(withDevIdToken ? { mintIdToken: () => sandbox.mintIdToken() } : {})
  })
  t.teardown(async () => {
    await app.close()
    await sandbox.close()
  })
  await app.listen({ host: '127.0.0.1', port })
  return { sandbox, app, origin }
}

async function createBoardAs (sandbox: Sandbox, userId: string, name: string): Promise<void> {
  const [accessToken] = sandbox.accessTokensOf(userId)
  const res = await fetch(`${sandbox.url}/v2/boards`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name })
  })
  if (res.status !== 201) throw new Error(`the sandbox answered ${res.status} to POST /v2/boards`)
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

whenChromium(t, () => {
  t.test('board panel: id token, not authorized, Authorize in a popup, boards listed', async (t) => {
    const { sandbox, app, origin } = await startApp(t)
    const user = sandbox.users[0]
    if (!user) throw new Error('the sandbox has no user')

    const { context, close } = await launchChromium()
    t.teardown(close)
    const page = context.pages()[0] ?? await context.newPage()

    // Every response of the app with a 4xx/5xx status (the popup's too), every dialog, and the
    // Cookie header of every call the panel makes to its backend.
    const problems: string[] = []
    const apiCookies: Array<Promise<string | null>> = []
    context.on('response', (response) => {
      if (response.url().startsWith(origin) && response.status() >= 400) problems.push(`${response.status()} ${new URL(response.url()).pathname}`)
    })
    context.on('request', (request) => {
      if (request.url().startsWith(`${origin}/panel/api/`) || request.url().startsWith(`${origin}/panel/dev/`)) {
        apiCookies.push(request.allHeaders().then((headers) => headers.cookie ?? null))
      }
    })
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`)
      dialog.dismiss().catch(() => {})
    })
    const panel = page.locator('#panel')

    // Not authorized yet: the panel says so and offers the login.
    const opened = await page.goto(`${origin}/panel`)
    t.equal(opened?.status(), 200, 'the panel page')
    await page.locator('#panel[data-state="unauthorized"]').waitFor()
    t.match(await page.locator('#status').textContent(), /Not authorized yet/)
    t.ok(await page.getByRole('button', { name: 'Authorize' }).isVisible(), 'an Authorize button')
    t.match(await panel.textContent(), /in a real board, the id token comes from await miro\.board\.getIdToken\(\)/i,
      'the page says where the id token comes from in a real board')
    await page.screenshot({ path: join(SCREENSHOTS, 'panel-not-authorized.png') })

    // Authorize: the login opens in a popup, which lands on /panel/authorized and closes itself.
    const popupOpened = context.waitForEvent('page')
    await page.getByRole('button', { name: 'Authorize' }).click()
    const popup = await popupOpened
    await popup.waitForURL((url) => url.origin === sandbox.url && url.pathname === '/oauth/authorize')
    t.equal(await popup.locator('h1').first().textContent(), 'Allow access to your boards?', 'the sandbox consent page, in the popup')
    const authorized = popup.waitForResponse((r) => new URL(r.url()).pathname === '/panel/authorized')
    const closed = popup.waitForEvent('close')
    await popup.getByRole('button', { name: 'Allow' }).click()
    t.equal((await authorized).status(), 200, 'the popup reached /panel/authorized')
    await closed
    t.pass('the popup closed itself')
    t.match(sandbox.tokenCalls, [{ grantType: 'authorization_code', ok: true }], 'one code exchange')

    // The panel heard the popup and retried: the boards and the verified identity.
    await page.locator('#panel[data-state="ok"]').waitFor()
    t.same(await page.locator('#boards li').allTextContents(), ["Sandbox User's first board"], 'the sandbox user\'s board')
    t.equal(await page.locator('#identity').textContent(), `Verified id token: team ${user.teamId}, user ${user.id}`)
    t.notOk(await page.getByRole('button', { name: 'Authorize' }).isVisible(), 'no Authorize button any more')

    // Board names are text, never markup.
    await createBoardAs(sandbox, user.id, HOSTILE_BOARD)
    await page.reload()
    await page.locator('#panel[data-state="ok"]').waitFor()
    t.same(await page.locator('#boards li').allTextContents(), ["Sandbox User's first board", HOSTILE_BOARD], 'the new board, as plain text')
    t.equal(await page.locator('main img').count(), 0, 'no markup from the board name')
    await page.screenshot({ path: join(SCREENSHOTS, 'panel.png'), fullPage: true })

    // The authorized page itself (opened here without an opener, so it stays open).
    const tab = await context.newPage()
    await tab.goto(`${origin}/panel/authorized`)
    t.equal(await tab.locator('h1').textContent(), 'Authorized — you can close this window')
    await tab.close()

    const cookies = await Promise.all(apiCookies)
    t.ok(cookies.length >= 6, 'the panel called its backend (id token, boards) three times')
    t.same(cookies.filter((c) => c !== null), [], 'without any cookie')
    t.same(problems, ['401 /panel/api/boards'], 'one 401 (before Authorize), no other error response, no dialog')
    t.same((await context.cookies(origin)).map((c) => c.name), [], 'no cookie left: the panel has no session, and the login cookie is gone')

    // The API answers to the id token alone.
    const token = sandbox.mintIdToken()
    const ok = await app.inject({ url: '/panel/api/boards', headers: bearer(token) })
    t.equal(ok.statusCode, 200, 'a Bearer id token, no cookie: 200')
    t.equal(ok.headers['set-cookie'], undefined, 'and no cookie set')
    t.same(ok.json(), { identity: { userId: user.id, teamId: user.teamId }, boards: ["Sandbox User's first board", HOSTILE_BOARD] })
    const none = await app.inject({ url: '/panel/api/boards' })
    t.equal(none.statusCode, 401, 'no id token: 401')
    t.equal(none.json().code, 'FST_MIRO_INVALID_ID_TOKEN')
    const forged = await app.inject({ url: '/panel/api/boards', headers: bearer(sandbox.mintIdToken({ clientSecret: 'not-the-client-secret' })) })
    t.equal(forged.json().code, 'FST_MIRO_INVALID_ID_TOKEN', 'a forged id token: refused')
    const stranger = await app.inject({ url: '/panel/api/boards', headers: bearer(sandbox.mintIdToken({ userId: user.id, teamId: 'another-team' })) })
    t.equal(stranger.statusCode, 401, 'the same user in another team has not authorized the app')
    t.equal(stranger.json().code, 'FST_MIRO_NOT_AUTHORIZED')
  })

  t.test('against real Miro (no sandbox id tokens): no dev endpoint, the page says to open it in a board', async (t) => {
    const { app } = await startApp(t, false)
    t.equal((await app.inject('/panel/dev/id-token')).statusCode, 404, 'no /panel/dev/id-token')
    const page = await app.inject('/panel')
    t.equal(page.statusCode, 200)
    t.match(page.body, 'data-dev-id-token=""')
    t.match(page.body, /Inside a Miro board, the id token comes from <code>await miro\.board\.getIdToken\(\)<\/code>/)
    t.match(page.body, '<script src="https://miro.com/app/static/sdk/v2/miro.js"></script>', 'the Web SDK is loaded')
  })
})
