// app.miro.as/getState/revoke/revokeAll outside a request, on every shared backend; the session
// backend's refusals (app.miro.*, and request.miro.as() for another user than the request's).
import t, { type Test } from 'tap'
import type { Storage } from '@mirohq/miro-api/dist/storage'
import type { FastifyInstance } from 'fastify'
import type { MiroTokenState } from '../index'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { Browser, boardNames, buildApp, freshCode } from './helpers/app'
import { startRedis } from './helpers/redis'

const userOf = (request: { headers: Record<string, unknown> }): string => String(request.headers['x-user'] ?? '')

async function withLoginRoute (app: FastifyInstance): Promise<FastifyInstance> {
  app.post<{ Body: { code: string } }>('/login', async (request) =>
    request.miro.exchangeCodeForAccessToken(userOf(request), request.body.code).then(() => 'ok'))
  await app.ready()
  return app
}

async function sandboxOf (t: Test): Promise<Sandbox> {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  return sandbox
}

/** A plain object as a custom SDK Storage; `withLookup` gives it loginsOf(). */
function objectStorage (withLookup: boolean): Storage & { states: Map<string, MiroTokenState> } {
  const states = new Map<string, MiroTokenState>()
  const storage = {
    states,
    get: async (userId: string) => states.get(String(userId)),
    set: async (userId: string, state: MiroTokenState | undefined) => { if (state === undefined) states.delete(String(userId)); else states.set(String(userId), state) }
  }
  if (!withLookup) return storage
  return Object.assign(storage, {
    loginsOf: async (miroUserId: string, teamId?: string) =>
      [...states].filter(([, s]) => s.userId === miroUserId && (teamId === undefined || s.teamId === teamId)).map(([key]) => key)
  })
}

for (const backend of ['redis', 'memory', 'custom'] as const) {
  t.test(`${backend}: app.miro works outside a request`, async (t) => {
    const sandbox = await sandboxOf(t)
    let redisUrl: string | undefined
    if (backend === 'redis') {
      const redis = await startRedis()
      t.teardown(() => redis.stop())
      redisUrl = redis.url
    }
    const storage = backend === 'custom' ? objectStorage(true) : backend
    const app = await withLoginRoute(await buildApp({ sandbox, session: false, ...(redisUrl ? { redisUrl } : {}), miro: { storage, routes: false, userId: userOf } }))
    t.teardown(() => app.close())
    // Redis keeps its keys between tests of this file: a user id of its own per backend.
    const user = `worker-${backend}`
    t.equal((await app.inject({ method: 'POST', url: '/login', headers: { 'x-user': user }, payload: { code: await freshCode(sandbox) } })).body, 'ok')

    const state = await app.miro.getState(user)
    const miroUserId = sandbox.users[0]!.id
    t.equal(state?.userId, miroUserId, 'getState reads the stored state')
    t.same(await boardNames(app.miro.as(user)), await boardNames(app.miro.as(user)), 'as() calls Miro as that user')
    t.ok((await boardNames(app.miro.as(user))).length > 0)
    await t.rejects(boardNames(app.miro.as('nobody')), { code: 'FST_MIRO_NOT_AUTHORIZED' }, 'an unknown user is not authorized')

    await app.miro.revoke(user)
    t.equal(await app.miro.getState(user), undefined, 'revoke deletes the state')
    t.same(sandbox.accessTokensOf(miroUserId), [], 'and revokes the tokens at Miro')
    await t.rejects(boardNames(app.miro.as(user)), { code: 'FST_MIRO_NOT_AUTHORIZED' })
  })
}

t.test('custom Storage without loginsOf: revokeAll is not supported, the rest works', async (t) => {
  const sandbox = await sandboxOf(t)
  const app = await withLoginRoute(await buildApp({ sandbox, session: false, miro: { storage: objectStorage(false), routes: false, userId: userOf } }))
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/login', headers: { 'x-user': 'c1' }, payload: { code: await freshCode(sandbox) } })
  await t.rejects(app.miro.revokeAll({ miroUserId: sandbox.users[0]!.id }), { code: 'FST_MIRO_NOT_SUPPORTED', message: /loginsOf/ })
  t.ok(await app.miro.getState('c1'), 'getState works')
})

t.test('custom Storage with loginsOf: revokeAll ends every login of that Miro user', async (t) => {
  const sandbox = await sandboxOf(t)
  const storage = objectStorage(true)
  const app = await withLoginRoute(await buildApp({ sandbox, session: false, miro: { storage, routes: false, userId: userOf } }))
  t.teardown(() => app.close())
  for (const user of ['c1', 'c2']) await app.inject({ method: 'POST', url: '/login', headers: { 'x-user': user }, payload: { code: await freshCode(sandbox) } })
  t.equal(await app.miro.revokeAll({ miroUserId: sandbox.users[0]!.id }), 2)
  t.same([...storage.states.keys()], [])
  await t.rejects(app.miro.revokeAll({ miroUserId: '' }), { code: 'FST_MIRO_INVALID_OPTIONS', message: /miroUserId/ })
})

t.test('custom Storage as a class: loginsOf runs on the storage, and one that hangs fails within storageTimeout', async (t) => {
  const sandbox = await sandboxOf(t)
  class ClassStorage {
    readonly states = new Map<string, MiroTokenState>()
    hang = false
    async get (userId: string): Promise<MiroTokenState | undefined> { return this.states.get(String(userId)) }
    async set (userId: string, state: MiroTokenState | undefined): Promise<void> {
      if (state === undefined) this.states.delete(String(userId))
      else this.states.set(String(userId), state)
    }

    async loginsOf (miroUserId: string): Promise<string[]> {
      if (this.hang) return new Promise(() => {})
      return [...this.states].filter(([, s]) => s.userId === miroUserId).map(([key]) => key)
    }
  }
  const storage = new ClassStorage()
  const app = await withLoginRoute(await buildApp({ sandbox, session: false, miro: { storage, storageTimeout: 300, routes: false, userId: userOf } }))
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/login', headers: { 'x-user': 'k1' }, payload: { code: await freshCode(sandbox) } })
  storage.hang = true
  await t.rejects(app.miro.revokeAll({ miroUserId: sandbox.users[0]!.id }),
    { code: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /storage loginsOf did not answer within 300 ms/ }, 'a hanging lookup fails, naming itself')
  t.ok(storage.states.has('k1'), 'and ends nothing')
  storage.hang = false
  t.equal(await app.miro.revokeAll({ miroUserId: sandbox.users[0]!.id }), 1, 'loginsOf reads the storage through `this`')
  t.same([...storage.states.keys()], [])
})

t.test('session backend: app.miro and request.miro.as() for another user refuse at once', async (t) => {
  const sandbox = await sandboxOf(t)
  const app = await buildApp({ sandbox, miro: { storage: 'session' } })
  t.teardown(() => app.close())
  app.get('/mine', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  app.get('/own-id', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miro.as(request.session.sessionId)))
  app.get<{ Querystring: { id: string } }>('/as', async (request) => boardNames(request.miro.as(request.query.id)))
  app.get('/session-id', async (request) => request.session.sessionId)
  await app.ready()

  const refusal = { code: 'FST_MIRO_SHARED_STORAGE_REQUIRED', message: /storage 'session'.*storage: 'redis'/ }
  t.throws(() => app.miro.as('anyone'), refusal, 'app.miro.as throws at once')
  await t.rejects(app.miro.getState('anyone'), refusal)
  await t.rejects(app.miro.revoke('anyone'), refusal)
  await t.rejects(app.miro.revokeAll({ miroUserId: '1' }), refusal)

  const browser = new Browser(app)
  await browser.login(sandbox)
  t.equal((await browser.get('/mine')).statusCode, 200, 'request.miroApi() works')
  t.equal((await browser.get('/own-id')).statusCode, 200, 'request.miro.as(<own id>) works')
  const other = await browser.get('/as?id=someone-else')
  t.equal(other.statusCode, 500)
  t.match(other.json(), { code: 'FST_MIRO_SHARED_STORAGE_REQUIRED' }, 'another id refuses instead of reading this session')
  // The webhook case: no cookie, a stored id: it must not read the (new, empty) session and say 401.
  const sessionId = (await browser.get('/session-id')).body
  const webhook = await app.inject({ url: '/as?id=' + encodeURIComponent(sessionId) })
  t.equal(webhook.statusCode, 500)
  t.match(webhook.json(), { code: 'FST_MIRO_SHARED_STORAGE_REQUIRED', message: /another user than the request's own/ })
})
