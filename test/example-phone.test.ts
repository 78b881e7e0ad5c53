// The example app in a real Chromium at phone width (390 px): the header stays one line with no
// sideways scrolling, and a refused `returnTo` shows the plugin's message, not a generic one.
import t from 'tap'
import type { Page } from 'playwright-core'
import { buildExampleApp } from '../examples/app'
import { startSandbox } from '../sandbox/index'
import { launchChromium, whenChromium } from './helpers/chromium'
import { freePort } from './helpers/redis'

whenChromium(t, () => {
  t.test('phone width and the plugin error page', async (t) => {
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    const app = await buildExampleApp({
      miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: `${origin}/auth/miro/callback`, basePath: sandbox.url }
    })
    await app.listen({ host: '127.0.0.1', port })
    t.teardown(() => app.close())
    const { context, close } = await launchChromium()
    t.teardown(close)
    const page = context.pages()[0] ?? await context.newPage()

    // A refused returnTo: the plugin's own message, with its status.
    const refused = await page.goto(`${origin}/auth/miro?returnTo=//evil.example/steal`)
    t.equal(refused?.status(), 400)
    t.equal(await page.locator('main h1').textContent(), 'Request refused')
    t.match(await page.locator('main').textContent(), /returnTo must be a path on this site, like \/boards/)

    // Log in at desktop width, measure the one-line header, then look at it on a phone.
    await page.goto(origin)
    await page.getByRole('link', { name: 'Log in with Miro' }).click()
    await page.getByRole('button', { name: 'Allow' }).click()
    await page.waitForURL(`${origin}/`)
    const header = async (p: Page): Promise<{ height: number, scrollWidth: number, logoutVisible: boolean }> => ({
      height: await p.locator('header').evaluate((el) => el.getBoundingClientRect().height),
      scrollWidth: await p.locator('html').evaluate((el) => el.scrollWidth),
      logoutVisible: await p.getByRole('button', { name: 'Log out' }).isVisible()
    })
    const desktop = await header(page)
    await page.setViewportSize({ width: 390, height: 844 })
    const phone = await header(page)
    t.ok(phone.height <= desktop.height + 1, `one line at 390 px: ${phone.height} px high, ${desktop.height} px at 1000 px`)
    t.ok(phone.scrollWidth <= 390, `no sideways scrolling (${phone.scrollWidth} px wide)`)
    t.ok(phone.logoutVisible, 'Log out is still there')
    t.match(await page.locator('header .who strong').textContent(), /Sandbox User/)
  })
})
