// Tokens encrypted at rest: nothing readable in Redis or the session store, keys rotate without
// logging anyone out, and a tampered, foreign or unknown-key value counts as logged out.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import fastifyMiro, { type FastifyMiroOptions, type MiroTokenState } from '../index'
import { Browser, buildApp, freshCode } from './helpers/app'
import { startRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const keyA = randomBytes(32)
const keyB = randomBytes(32)

/** @fastify/session's store contract over a Map we can read. */
class InspectableSessionStore {
  readonly data = new Map<string, string>()
  set (id: string, session: unknown, cb: (err?: Error) => void) { this.data.set(id, JSON.stringify(session)); cb() }
  get (id: string, cb: (err: Error | null, session?: unknown) => void) { const raw = this.data.get(id); cb(null, raw ? JSON.parse(raw) : null) }
  destroy (id: string, cb: (err?: Error) => void) { this.data.delete(id); cb() }
}

async function appWith (t: Test, sandbox: Sandbox, redisUrl: string, miro: FastifyMiroOptions, lines?: string[]) {
  const app = await buildApp({ sandbox, redisUrl, ...(lines ? { logLines: lines } : {}), miro: { storage: 'redis', ...miro } })
  app.get('/authorized', async (request) => request.miro.isAuthorized(request.session.sessionId))
  app.get('/state', async (request) => await request.miro.getState(request.session.sessionId) ?? null)
  t.teardown(() => app.close())
  return app
}

t.test('with encryption', async (t) => {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  const sandbox = await startSandbox()
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })

  t.test('nothing in Redis contains a token or the word accessToken', async (t) => {
    await probe.flushall()
    const app = await appWith(t, sandbox, redis.url, { encryptionKey: keyA })
    const browser = new Browser(app)
    await browser.login(sandbox)
    const state = (await browser.get('/state')).json() as MiroTokenState
    t.ok(state.accessToken && state.refreshToken)

    const keys: string[] = []
    for await (const batch of probe.scanStream({ match: '*' })) keys.push(...(batch as string[]))
    // The login's used state (a '1' under a hash of the state, lib/storage/used-logins.ts).
    const used = keys.filter((key) => key.startsWith('miro:token:login-state:'))
    t.equal(used.length, 1)
    t.equal(await probe.get(used[0]!), '1')
    // The state, and the login index of its Miro user (app.miro.revokeAll): a set of storage keys.
    const [index, ...states] = keys.filter((key) => !used.includes(key)).sort()
    t.equal(states.length, 1)
    t.match(index, /^miro:token:miro-user:\{[A-Za-z0-9_-]{43}\}$/, 'the index is named by an HMAC of the Miro user id')
    t.notOk(index!.includes(state.userId), 'no Miro user id in its name')
    for (const value of await probe.smembers(index!)) {
      for (const secret of [state.accessToken, state.refreshToken!, state.userId]) t.notOk(value.includes(secret), 'the index holds storage keys only')
    }
    for (const key of states) {
      const value = await probe.get(key) ?? ''
      t.match(value, /^fm1\./, 'sealed')
      for (const secret of [state.accessToken, state.refreshToken!, 'accessToken', 'refreshToken']) t.notOk(value.includes(secret), `no ${secret.slice(0, 12)}… in ${key}`)
    }
  })

  t.test('rotating keys keeps users logged in; unknown keys, flipped bytes and copied values log out', async (t) => {
    await probe.flushall()
    const miro = (encryptionKey: FastifyMiroOptions['encryptionKey']): FastifyMiroOptions => ({ encryptionKey, routes: false })
    const lines: string[] = []
    const headers = { 'x-user': 'rotating-user' }
    const first = await appWith(t, sandbox, redis.url, miro(keyA))
    first.post('/login', async (request) => {
      const code = await freshCode(sandbox)
      await request.miro.exchangeCodeForAccessToken('rotating-user', code)
      return 'ok'
    })
    const authorized = (app: typeof first) => app.inject({ url: '/authorized-user', headers }).then((r) => r.body)
    first.get('/authorized-user', async (request) => request.miro.isAuthorized('rotating-user'))
    await first.inject({ method: 'POST', url: '/login' })
    t.equal(await authorized(first), 'true')
    const sealedWithA = await probe.get('miro:token:{rotating-user}') ?? ''

    const rotated = await appWith(t, sandbox, redis.url, miro([keyB, keyA]), lines)
    rotated.get('/authorized-user', async (request) => request.miro.isAuthorized('rotating-user'))
    rotated.post('/expire', async (request) => {
      const state = await request.miro.getState('rotating-user')
      await request.miro.setState('rotating-user', { ...state!, tokenExpiresAt: PAST() })
      return 'ok'
    })
    rotated.get('/thief', async (request) => request.miro.isAuthorized('thief'))
    t.equal(await authorized(rotated), 'true', 'still logged in after rotating the key list')
    await rotated.inject({ method: 'POST', url: '/expire' })
    t.equal(await authorized(rotated), 'true', 'refreshed and rewritten')
    const sealedWithB = await probe.get('miro:token:{rotating-user}') ?? ''
    t.not(sealedWithB.split('.')[1], sealedWithA.split('.')[1], 'new writes use the first key')

    const onlyB = await appWith(t, sandbox, redis.url, miro(keyB))
    onlyB.get('/authorized-user', async (request) => request.miro.isAuthorized('rotating-user'))
    t.equal(await authorized(onlyB), 'true', 'the old key can be dropped once values are rewritten')

    const onlyA = await appWith(t, sandbox, redis.url, miro(keyA), lines)
    onlyA.get('/authorized-user', async (request) => request.miro.isAuthorized('rotating-user'))
    lines.length = 0
    t.equal(await authorized(onlyA), 'false', 'a value sealed with an unknown key counts as logged out')
    t.ok(lines.some((l) => l.includes('"level":40') && l.includes('sealed with a key that is not in options.encryptionKey')))

    // A flipped byte: logged out, with a warning.
    const parts = sealedWithB.split('.')
    const body = Buffer.from(parts[3] ?? '', 'base64url')
    body[0] = (body[0] ?? 0) ^ 1
    parts[3] = body.toString('base64url')
    await probe.set('miro:token:{rotating-user}', parts.join('.'))
    lines.length = 0
    t.equal(await authorized(rotated), 'false')
    t.ok(lines.some((l) => l.includes('"level":40') && l.includes('does not open')))

    // A sealed value copied to another user's key does not open there.
    await probe.set('miro:token:{rotating-user}', sealedWithB)
    await probe.set('miro:token:{thief}', sealedWithB)
    t.equal(await authorized(rotated), 'true')
    t.equal((await rotated.inject('/thief')).body, 'false', 'bound to the user id it was stored under')
  })

  t.test('the session store holds no token either', async (t) => {
    const store = new InspectableSessionStore()
    const app = await buildApp({ sandbox, sessionStore: store, miro: { storage: 'session', encryptionKey: keyA } })
    app.get('/state', async (request) => await request.miro.getState('x') ?? null)
    t.teardown(() => app.close())
    const browser = new Browser(app)
    await browser.login(sandbox)
    const state = (await browser.get('/state')).json() as MiroTokenState
    t.ok(state.accessToken)
    const dump = [...store.data.values()].join('\n')
    t.match(dump, /"miro":"fm1\./, 'the token record in the session store holds the sealed string')
    for (const secret of [state.accessToken, state.refreshToken!, 'accessToken']) t.notOk(dump.includes(secret))
  })

  t.test("a user's own Storage receives sealed strings", async (t) => {
    const saved = new Map<string, unknown>()
    const app = await buildApp({
      sandbox,
      session: false,
      miro: { routes: false, encryptionKey: keyA, storage: { get: async (id) => saved.get(String(id)) as never, set: (id, s) => { saved.set(String(id), s) } } }
    })
    t.teardown(() => app.close())
    app.post('/login', async (request) => {
      const code = await freshCode(sandbox)
      await request.miro.exchangeCodeForAccessToken('u', code)
      return request.miro.isAuthorized('u')
    })
    t.equal((await app.inject({ method: 'POST', url: '/login' })).body, 'true')
    t.match(saved.get('u'), /^fm1\./)
    t.notOk(String(saved.get('u')).includes('accessToken'))
  })
})

t.test('a wrong key fails app.ready() with a clear message', async (t) => {
  const creds = { clientId: 'id', clientSecret: 'secret', redirectUrl: 'http://localhost/cb', storage: 'memory' as const, routes: false }
  const cases: Array<[unknown, RegExp]> = [
    [randomBytes(16), /options\.encryptionKey should be 32 bytes, but it is 16 bytes/],
    [randomBytes(16).toString('base64'), /options\.encryptionKey should be 32 bytes, but it is 16 bytes/],
    ['not a key!', /options\.encryptionKey should be 32 bytes, but it is not base64 or hex/],
    [42, /options\.encryptionKey should be a 32-byte Buffer, or a base64 or hex string of 32 bytes/],
    [[], /options\.encryptionKey should not be an empty list/],
    [[keyA, 'short'], /options\.encryptionKey\[1\] should be 32 bytes/]
  ]
  for (const [encryptionKey, message] of cases) {
    const app = Fastify()
    app.register(fastifyMiro, { ...creds, encryptionKey } as FastifyMiroOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_MIRO_INVALID_OPTIONS', message })
    if (Array.isArray(encryptionKey) && encryptionKey.length === 0) continue
    const err = await (async () => { await app.ready() })().catch((e: Error) => e.message)
    t.match(String(err), /randomBytes\(32\)/, 'says how to make one')
  }
  const ok = Fastify()
  await ok.register(fastifyMiro, { ...creds, encryptionKey: [keyA, keyB.toString('hex'), keyB.toString('base64url')] })
  await t.resolves(async () => { await ok.ready() })
})
