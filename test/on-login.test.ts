// options.onLogin(request, login): runs in the callback once the tokens are stored, before the
// redirect; if it throws, the callback fails with that error and the tokens stay stored.
import t from 'tap'
import createError from '@fastify/error'
import type { FastifyRequest } from 'fastify'
import type { MiroLogin, MiroTokenState } from '../index'
import { startSandbox } from '../sandbox/index'
import { Browser, buildApp, sandboxAndRedis } from './helpers/app'

t.test('onLogin is told of the login once the tokens are stored, then the callback redirects', async (t) => {
  const { sandbox, redis } = await sandboxAndRedis(t)
  const calls: Array<{ login: MiroLogin, stored: MiroTokenState | undefined, sessionId: string }> = []
  const app = await buildApp({
    sandbox,
    redisUrl: redis.url,
    miro: {
      storage: 'redis',
      onLogin: async (request: FastifyRequest, login: MiroLogin) => {
        calls.push({ login, stored: await request.server.miro.getState(login.userId), sessionId: request.session.sessionId })
      }
    }
  })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const callback = await browser.login(sandbox)
  t.equal(callback.statusCode, 302)
  t.equal(callback.headers.location, '/', 'the redirect follows')
  t.equal(calls.length, 1, 'called once')
  const user = sandbox.users[0]!
  const { login, stored, sessionId } = calls[0]!
  t.same(Object.keys(login).sort(), ['miroUserId', 'scope', 'teamId', 'userId'])
  t.match(login, { userId: sessionId, miroUserId: user.id, teamId: user.teamId, scope: String })
  t.equal(stored?.userId, user.id, 'the tokens were stored before onLogin ran')
  t.equal((await browser.get('/me')).statusCode, 200)
})

t.test('onLogin throws: the callback fails with that error, the tokens stay stored', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const LinkError = createError('APP_LINK_FAILED', 'could not link the Miro account', 409)
  const logins: MiroLogin[] = []
  const app = await buildApp({
    sandbox,
    miro: {
      storage: 'memory',
      onLogin: (_request: FastifyRequest, login: MiroLogin) => { logins.push(login); throw new LinkError() }
    }
  })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  const callback = await browser.login(sandbox)
  t.equal(callback.statusCode, 409, 'the error\'s status')
  t.equal(callback.json().code, 'APP_LINK_FAILED')
  t.equal(logins.length, 1)
  t.equal((await app.miro.getState(logins[0]!.userId))?.userId, sandbox.users[0]!.id, 'the tokens stay stored')
  t.equal((await browser.get('/me')).statusCode, 200, 'the login happened: the browser is logged in')
})

t.test('options.onLogin must be a function', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  await t.rejects(buildApp({ sandbox, miro: { onLogin: 'link' as never } }), { code: 'FST_MIRO_INVALID_OPTIONS', message: /options.onLogin should be a function/ })
})
