// End-to-end, a board's content: a real Chromium opens a board in the example app, adds sticky
// notes through fastify-miro, then opens the board at the sandbox (/app/board/<id>/), where the
// notes are drawn in their colours at their positions. Screenshots of both pages are kept in
// test-output/browser/ (git-ignored).
import t from 'tap'
import { join } from 'node:path'
import { buildExampleApp } from '../examples/app'
import { startSandbox } from '../sandbox/index'
import { launchChromium, SCREENSHOTS, whenChromium } from './helpers/chromium'
import { freePort } from './helpers/redis'

// HTML in a note: it must show up as text, never as markup, in the app and at the sandbox.
const NOTES = [
  { text: 'Ship the sandbox', color: 'light_green', rgb: 'rgb(213, 246, 146)' },
  { text: '<img src=x onerror=alert(1)> & "quotes"', color: 'light_pink', rgb: 'rgb(255, 206, 224)' }
]

/** Runs in the page (no DOM types in this project's TypeScript setup). */
const computedBackground = (e: unknown): string =>
  (globalThis as unknown as { getComputedStyle: (el: unknown) => { backgroundColor: string } }).getComputedStyle(e).backgroundColor

whenChromium(t, () => {
  t.test('board page: list sticky notes, add one, see it on the sandbox board', async (t) => {
    const closers: Array<() => Promise<unknown>> = []
    t.teardown(async () => { for (const close of closers.reverse()) await close() })
    const sandbox = await startSandbox()
    closers.push(() => sandbox.close())
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    const app = await buildExampleApp({
      miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: `${origin}/auth/miro/callback`, basePath: sandbox.url }
    })
    closers.push(() => app.close())
    await app.listen({ host: '127.0.0.1', port })
    const { context, close } = await launchChromium()
    closers.push(close)
    const page = context.pages()[0] ?? await context.newPage()
    const problems: string[] = []
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`) })
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}) })

    await page.goto(`${origin}/`)
    await page.getByRole('link', { name: 'Log in with Miro' }).click()
    await page.getByRole('button', { name: 'Allow' }).click()
    await page.waitForURL(`${origin}/`)
    const user = sandbox.users[0]
    const boardId = sandbox.boards(user?.id ?? '')[0]?.id ?? ''
    await page.getByRole('link', { name: "Sandbox User's first board" }).click()
    await page.waitForURL(`${origin}/boards/${encodeURIComponent(boardId)}`)
    t.match(await page.locator('main').textContent(), /No sticky notes on this board yet/, 'an empty board says so')

    for (const note of NOTES) {
      await page.getByRole('textbox', { name: 'Sticky note text' }).fill(note.text)
      await page.getByRole('combobox', { name: 'Colour' }).selectOption(note.color)
      await page.getByRole('button', { name: 'Add sticky note' }).click()
      await page.locator('.flash.ok').waitFor()
    }
    t.same(await page.locator('ul.notes li').allTextContents(), NOTES.map((n) => n.text), 'the board page lists the notes, as text')
    t.equal(await page.locator('main img').count(), 0, 'no markup from a note')
    t.same(await Promise.all([0, 1].map((i) => page.locator('ul.notes li').nth(i).evaluate(computedBackground))), NOTES.map((n) => n.rgb), 'in their colours')
    t.same(sandbox.items(boardId).map((i) => [i.type, i.data.content, i.style?.fillColor, i.position]), [
      ['sticky_note', '<p>Ship the sandbox</p>', 'light_green', { x: 0, y: 0 }],
      ['sticky_note', '<p>&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;</p>', 'light_pink', { x: 230, y: 0 }]
    ], 'the notes are on the board at the sandbox, side by side, their text sent as Miro content (HTML, escaped)')
    await page.screenshot({ path: join(SCREENSHOTS, 'board-page-app.png'), fullPage: true })

    // The board in "Miro": the sandbox's board page, the link the app offers.
    const href = await page.getByRole('link', { name: 'Open the board in Miro' }).getAttribute('href')
    t.equal(href, `${sandbox.url}/app/board/${encodeURIComponent(boardId)}/`, 'the app links to the board at the sandbox')
    const answer = await page.goto(href ?? '')
    t.equal(answer?.status(), 200, 'the sandbox board page answers 200 HTML')
    const drawn = page.locator('.sticky_note')
    t.same(await drawn.allTextContents(), NOTES.map((n) => n.text), 'the sandbox draws both notes, as text')
    t.equal(await page.locator('main img').count(), 0, 'no markup at the sandbox either')
    const boxes = await Promise.all([0, 1].map(async (i) => {
      const el = drawn.nth(i)
      return { box: await el.boundingBox(), bg: await el.evaluate(computedBackground) }
    }))
    t.same(boxes.map((b) => b.bg), NOTES.map((n) => n.rgb), 'in their colours')
    const [a, b] = boxes.map((x) => x.box)
    t.ok(a && b && Math.abs((b.x - a.x) - 230) < 1 && Math.abs(b.y - a.y) < 1, 'at their positions: 230 px apart on one row', { a, b })
    t.ok(a && Math.abs(a.width - 199) < 1 && Math.abs(a.height - 228) < 1, "at Miro's default sticky-note size")
    await page.screenshot({ path: join(SCREENSHOTS, 'board-page-sandbox.png'), fullPage: true })
    t.same(problems, [], 'no error responses, no dialogs')
  })
})
