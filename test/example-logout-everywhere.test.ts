// The example app with Redis storage: "Log out everywhere" (app.miro.revokeAll) ends the Miro
// user's login in every browser; another user stays logged in. With the session storage the
// button is not offered (each login lives in its own session).
import t from 'tap'
import { buildExampleApp, LOGOUT_EVERYWHERE_PATH } from '../examples/app'
import { Browser, REDIRECT_URL, sandboxAndRedis } from './helpers/app'

t.test('Log out everywhere ends every browser\'s login of that Miro user', async (t) => {
  const { sandbox, redis } = await sandboxAndRedis(t)
  const app = await buildExampleApp({
    storage: 'redis',
    redisUrl: redis.url,
    miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url }
  })
  t.teardown(() => app.close())
  const laptop = new Browser(app)
  const phone = new Browser(app)
  const other = new Browser(app)
  for (const browser of [laptop, phone]) t.equal((await browser.login(sandbox, '/auth/miro', 'Frank')).statusCode, 302)
  await other.login(sandbox, '/auth/miro', 'Grace')
  const home = await laptop.get('/')
  t.match(home.body, /Signed in as/)
  t.match(home.body, new RegExp(`action="${LOGOUT_EVERYWHERE_PATH}"[^>]*><button[^>]*>Log out everywhere<`), 'the button is on the page')

  const out = await laptop.request({ method: 'POST', url: LOGOUT_EVERYWHERE_PATH, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' })
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/logged-out')
  for (const browser of [laptop, phone]) {
    const page = await browser.get('/')
    t.notMatch(page.body, /Signed in as/, 'logged out in this browser too')
    t.match(page.body, /Log in with Miro/)
  }
  t.match((await other.get('/')).body, /Signed in as/, 'another Miro user stays logged in')
  t.same(sandbox.refreshTokensOf(sandbox.users.find((u) => u.name === 'Frank')!.id), [], 'Frank\'s tokens are revoked at Miro')
})

t.test('session storage: no "Log out everywhere"', async (t) => {
  const { sandbox } = await sandboxAndRedis(t)
  const app = await buildExampleApp({ miro: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url } })
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.login(sandbox)
  const home = await browser.get('/')
  t.match(home.body, /Signed in as/)
  t.notMatch(home.body, /Log out everywhere/)
  t.equal((await browser.request({ method: 'POST', url: LOGOUT_EVERYWHERE_PATH })).statusCode, 404)
})
