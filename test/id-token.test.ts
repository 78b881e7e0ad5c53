// Apps inside a Miro board: the Web SDK's id token (Authorization: Bearer) names the user; the
// OAuth callback stores tokens under the Miro team and user they were issued for.
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import fastifyMiro, { type FastifyMiroOptions, type MiroTokenState } from '../index'
import { Browser, boardNames, buildApp, pathOf } from './helpers/app'
import { startRedis } from './helpers/redis'

const now = (): number => Math.floor(Date.now() / 1000)
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** A session-less app (no @fastify/session at all) in id-token mode, with a counting storage around a Map. */
async function boardApp (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions = {}, redisUrl?: string) {
  const data = new Map<string, MiroTokenState>()
  const reads: string[] = []
  const counting = {
    async get (id: string | number) { reads.push(String(id)); return data.get(String(id)) },
    async set (id: string | number, state: MiroTokenState | undefined) { if (state) data.set(String(id), state); else data.delete(String(id)) }
  }
  const app = await buildApp({
    sandbox,
    session: false,
    ...(redisUrl ? { redisUrl } : {}),
    miro: { identity: 'idToken', storage: redisUrl ? 'redis' : counting, ...miro }
  })
  app.get('/whoami', async (request) => request.miroIdentity)
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  t.teardown(() => app.close())
  return { app, data, reads }
}

/** The login as a board app does it: a top-level window runs the OAuth flow, no id token involved. */
async function authorize (app: Awaited<ReturnType<typeof boardApp>>['app'], sandbox: Sandbox, userName?: string) {
  const browser = new Browser(app)
  const res = await browser.login(sandbox, '/auth/miro', userName)
  if (res.statusCode !== 302) throw new Error(`callback answered ${res.statusCode}: ${res.body}`)
}

t.test('a valid id token gives the identity and finds the tokens stored by the callback, without cookies', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app, data } = await boardApp(t, sandbox)
  const user = sandbox.users[0]!
  const token = sandbox.mintIdToken()

  const before = await app.inject({ url: '/boards', headers: bearer(token) })
  t.equal(before.statusCode, 401)
  t.equal(before.json().code, 'FST_MIRO_NOT_AUTHORIZED', 'the frontend learns it must open the login')

  await authorize(app, sandbox)
  t.same([...data.keys()], [`${user.teamId}:${user.id}`], 'stored under Miro team and user')
  t.same((await app.inject({ url: '/whoami', headers: bearer(token) })).json(), { userId: user.id, teamId: user.teamId })
  const boards = await app.inject({ url: '/boards', headers: bearer(token) })
  t.equal(boards.statusCode, 200)
  t.same(boards.json(), ["Sandbox User's first board"])
  t.equal(boards.headers['set-cookie'], undefined, 'no cookie needed or set')

  const logout = await app.inject({ method: 'POST', url: '/auth/miro/logout', headers: bearer(token) })
  t.equal(logout.statusCode, 204)
  t.equal(data.size, 0, 'logout with the id token clears that user')
})

t.test('every refused id token gets 401 FST_MIRO_INVALID_ID_TOKEN and nothing is read from storage', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app, reads } = await boardApp(t, sandbox)
  await authorize(app, sandbox)
  reads.length = 0

  const valid = sandbox.mintIdToken()
  const [header, payload] = valid.split('.')
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>
  const hs256 = createSigner({ key: sandbox.clientSecret, algorithm: 'HS256' })
  const cases: Record<string, Record<string, string>> = {
    'no Authorization header': {},
    'another scheme': { authorization: `Basic ${valid}` },
    'not a JWT': bearer('not-a-jwt'),
    'alg none': bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`),
    'alg none, signature kept': bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${valid.split('.')[2]}`),
    'HS512 with the right secret': bearer(createSigner({ key: sandbox.clientSecret, algorithm: 'HS512' })(claims)),
    'payload swapped under the signature': bearer(`${header}.${b64({ ...claims, user: 'someone-else' })}.${valid.split('.')[2]}`),
    'wrong secret': bearer(sandbox.mintIdToken({ clientSecret: 'not-the-client-secret' })),
    'another app (sub)': bearer(sandbox.mintIdToken({ clientId: 'another-app' })),
    'expired beyond the leeway': bearer(sandbox.mintIdToken({ iat: now() - 3600, expiresIn: 60 })),
    'not valid yet': bearer(sandbox.mintIdToken({ notBefore: now() + 600 })),
    'no team claim': bearer(hs256({ sub: sandbox.clientId, user: '1', exp: now() + 60 })),
    'no exp claim': bearer(hs256({ sub: sandbox.clientId, user: '1', team: '2' })),
    'a fractional user claim': bearer(hs256({ sub: sandbox.clientId, user: 1.5, team: '2', exp: now() + 60 })),
    'a team claim of 1e21': bearer(hs256({ sub: sandbox.clientId, user: '1', team: 1e21, exp: now() + 60 }))
  }
  // Refused for the reason named, not for another one (fast-jwt signs with HS512 unless told).
  const reasons: Record<string, RegExp> = {
    'HS512 with the right secret': /its algorithm is not HS256/,
    'no team claim': /it lacks the sub, team, user or exp claim/,
    'no exp claim': /it lacks the sub, team, user or exp claim/,
    'a fractional user claim': /its team or user claim is not an exact id/,
    'a team claim of 1e21': /its team or user claim is not an exact id/
  }
  for (const [name, headers] of Object.entries(cases)) {
    const res = await app.inject({ url: '/boards', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'FST_MIRO_INVALID_ID_TOKEN', name)
    if (reasons[name]) t.match(res.json().message, reasons[name], `${name}: for that reason`)
    const whoami = await app.inject({ url: '/whoami', headers })
    t.equal(whoami.statusCode, 401, `${name}: reading request.miroIdentity refuses too`)
  }
  t.same(reads, [], 'no storage read for a refused token')

  const slightlyLate = await app.inject({ url: '/boards', headers: bearer(sandbox.mintIdToken({ iat: now() - 65, expiresIn: 60 })) })
  t.equal(slightlyLate.statusCode, 200, 'a few seconds of clock skew are tolerated')
  t.notMatch(JSON.stringify(Object.values(cases)), sandbox.clientSecret)
})

t.test('the tokens of one team are never visible to the same user id in another team', async (t) => {
  const sandbox = await startSandbox({ users: [{ name: 'Ann', id: '3074457350000000001', teamId: '3074457300000000001', teamName: 'Alpha' }] })
  t.teardown(() => sandbox.close())
  const { app } = await boardApp(t, sandbox)
  await authorize(app, sandbox, 'Ann')
  const home = sandbox.mintIdToken({ userId: '3074457350000000001', teamId: '3074457300000000001' })
  const elsewhere = sandbox.mintIdToken({ userId: '3074457350000000001', teamId: '3074457300000000999' })
  t.equal((await app.inject({ url: '/boards', headers: bearer(home) })).statusCode, 200)
  const other = await app.inject({ url: '/boards', headers: bearer(elsewhere) })
  t.equal(other.statusCode, 401)
  t.equal(other.json().code, 'FST_MIRO_NOT_AUTHORIZED')
})

t.test('redis backend, no @fastify/session: keys per team and user', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()
  const { app } = await boardApp(t, sandbox, {}, redis.url)
  t.notOk(app.hasRequestDecorator('session'), 'no session plugin in this app')
  await authorize(app, sandbox)
  const user = sandbox.users[0]!
  t.same(await probe.keys('miro:token:{*'), [`miro:token:{${user.teamId}%3A${user.id}}`])
  t.same((await app.inject({ url: '/boards', headers: bearer(sandbox.mintIdToken()) })).json(), ["Sandbox User's first board"])
})

t.test('state: false without a session or cookie plugin: Miro\'s SDK-authorization flow', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = Fastify()
  const data = new Map<string, MiroTokenState>()
  await app.register(fastifyMiro, {
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    redirectUrl: 'http://localhost/auth/miro/callback',
    basePath: sandbox.url,
    identity: 'idToken',
    state: false,
    storage: { get: async (id) => data.get(String(id)), set: (id, s) => { if (s) data.set(String(id), s as MiroTokenState) } }
  })
  t.teardown(() => app.close())
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  // Miro sends the user to the redirect URL directly, with a code and no state of ours.
  const authorizeUrl = `${sandbox.url}/oauth/authorize?response_type=code&client_id=${sandbox.clientId}&redirect_uri=${encodeURIComponent('http://localhost/auth/miro/callback')}`
  const back = await app.inject(pathOf(await sandbox.approve(authorizeUrl)))
  t.equal(back.statusCode, 302)
  t.equal((await app.inject({ url: '/boards', headers: bearer(sandbox.mintIdToken()) })).statusCode, 200)
})

t.test('an idToken login leaves the browser\'s session alone (it does not name the user)', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { identity: 'idToken', storage: 'memory' } })
  app.post('/site-login', async (request) => { request.session.set('site' as never, 'ann' as never); return 'ok' })
  app.get('/site', async (request) => request.session.get('site' as never) ?? 'nobody')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.request({ method: 'POST', url: '/site-login' })
  const before = browser.cookies.get('sessionId')
  t.equal((await browser.login(sandbox)).statusCode, 302)
  t.equal(browser.cookies.get('sessionId'), before, 'same session id')
  t.equal((await browser.get('/site')).body, 'ann', 'the site login survives the board login')
})
