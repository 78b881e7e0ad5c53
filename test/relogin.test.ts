// Re-login and re-authorization replace the user's earlier tokens: those are deleted and
// revoked at Miro (best effort, logged), not left live. The callback knows whom it stores
// under before it spends the code: without a user id, nothing is exchanged.
import t from 'tap'
import { startSandbox } from '../sandbox/index'
import { Browser, buildApp, freshCode, pathOf, sandboxAndRedis } from './helpers/app'

t.test('session storage: a second login revokes the first login\'s tokens', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'session' } })
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('x'))
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.login(sandbox)
  const first = (await browser.get('/token')).body
  const userId = sandbox.users[0]!.id
  t.same(sandbox.accessTokensOf(userId), [first])

  t.equal((await browser.login(sandbox)).statusCode, 302)
  const second = (await browser.get('/token')).body
  t.not(second, first)
  t.same(sandbox.accessTokensOf(userId), [second], 'only the new login\'s token is live at Miro')
  t.same(sandbox.revokeCalls.map((c) => c.ok), [true])
})

t.test('redis storage keyed by session id: the earlier key is deleted and its token revoked', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'redis' } })
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken(request.session.sessionId))
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.login(sandbox)
  const first = (await browser.get('/token')).body
  const firstKeys = await probe.keys('miro:token:{*')
  t.equal(firstKeys.length, 1)

  await browser.login(sandbox)
  const second = (await browser.get('/token')).body
  const keys = await probe.keys('miro:token:{*')
  t.equal(keys.length, 1, 'one state for the user, under the new session id')
  t.not(keys[0], firstKeys[0], 'the session id changed (regenerated)')
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [second], 'the first token is revoked')
  t.not(second, first)
})

t.test('inside a board (idToken): re-authorizing revokes the tokens stored for that team and user', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const app = await buildApp({ sandbox, redisUrl: redis.url, miro: { storage: 'redis', identity: 'idToken' } })
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken(app.miro.userIdOf(request) as string))
  t.teardown(() => app.close())
  const user = sandbox.users[0]!
  const bearer = { authorization: `Bearer ${sandbox.mintIdToken({ userId: user.id })}` }

  await new Browser(app).login(sandbox)
  const first = (await app.inject({ url: '/token', headers: bearer })).body
  await new Browser(app).login(sandbox) // another window, another session: the same Miro user
  const second = (await app.inject({ url: '/token', headers: bearer })).body
  t.not(second, first)
  t.same(await probe.keys('miro:token:{*'), [`miro:token:{${user.teamId}%3A${user.id}}`])
  t.same(sandbox.accessTokensOf(user.id), [second], 'the earlier authorization is revoked at Miro')
})

t.test('no user id at the callback: the code is not exchanged', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { storage: 'memory', userId: (request) => request.headers['x-user'] as string | undefined } })
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro')
  const back = await sandbox.approve(String(start.headers.location))
  const res = await browser.get(pathOf(back))
  t.equal(res.statusCode, 500)
  t.equal(res.json().code, 'FST_MIRO_NO_USER_ID')
  t.same(sandbox.tokenCalls, [], 'the code was not spent at Miro')
})

t.test('exchangeCodeForAccessToken (the SDK way) also replaces and revokes the earlier tokens', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, session: false, miro: { storage: 'memory', routes: false } })
  app.post<{ Body: { code: string } }>('/exchange', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code))
  t.teardown(() => app.close())
  const first = (await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })).body
  const second = (await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })).body
  t.not(second, first)
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [second])
})
