// The session backend's token record (lib/storage/session.ts): @fastify/session saves the whole
// session on every response, so a request that loaded it before a refresh and answers after
// writes its copy back. The session holds only a pointer to a record in the session store:
// such a stale save leaves the refreshed pair alone, in one app and across instances.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { MemoryStore } from '@fastify/session'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { FastifyMiroOptions, MiroTokenState } from '../index'
import { compactCodec } from '../lib/storage/codec'
import { sessionStoreFactory } from '../lib/storage/session'
import { createSealCodec, parseEncryptionKeys } from '../lib/seal'
import { redisSessionStore } from '../examples/redis-session-store'
import { Browser, buildApp } from './helpers/app'
import { startRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const DAY_S = 24 * 60 * 60
const refreshes = (sandbox: Sandbox): number => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.ok).length
const recordKey = (pointer: string): string => 'miro-token:' + pointer.slice('r1 '.length)

type Store = {
  get (id: string, cb: (err: unknown, value?: unknown) => void): void
  set (id: string, value: unknown, cb: (err?: unknown) => void): void
  destroy (id: string, cb: (err?: unknown) => void): void
}
const storeGet = (store: Store, id: string): Promise<unknown> =>
  new Promise((resolve, reject) => store.get(id, (err, value) => err ? reject(err) : resolve(value ?? undefined)))

interface Signals { slowEntered?: () => void }

/** An app on the session backend with the routes every test here uses. */
interface AppOptions { sessionStore?: unknown, sessionOptions?: Record<string, unknown>, miro?: FastifyMiroOptions, logLines?: string[], signals?: Signals }
async function sessionApp (t: Test, sandbox: Sandbox, { signals = {}, ...opts }: AppOptions = {}) {
  const app = await buildApp({ sandbox, ...opts, miro: { storage: 'session', ...opts.miro } })
  t.teardown(() => app.close())
  // Loads the session, reads the state (no refresh), and answers 200 ms later: its
  // @fastify/session save (rolling: true, the default) lands after whatever ran meanwhile.
  app.get('/slow', async (request) => {
    const had = (await request.miro.getState('ignored')) !== undefined
    signals.slowEntered?.()
    await sleep(200)
    return { had }
  })
  app.post('/expire', async (request) => {
    const state = await request.miro.getState('ignored')
    await request.miro.setState('ignored', { ...state!, tokenExpiresAt: PAST() })
    return 'expired'
  })
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miroApi().getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.get('/state', async (request) => await request.miro.getState('ignored') ?? null)
  app.get('/authorized', async (request) => request.miro.isAuthorized('ignored'))
  app.get('/pointer', async (request) => ({ pointer: request.session.get('miro' as never) ?? null, sessionId: request.session.sessionId }))
  return { app, signals }
}

/** One cookie jar for several app instances: each request goes to the instance chosen. */
function sharedBrowser (apps: FastifyInstance[]) {
  let target = apps[0]!
  const browser = new Browser({ inject: (o: never) => target.inject(o) } as unknown as FastifyInstance)
  return { browser, use (i: number) { target = apps[i]! } }
}

/**
 * The overlap: token expired, a slow request loads the session, another request refreshes,
 * the slow one answers (and saves its session) last. Resolves to whether the user is still
 * logged in with the refreshed pair.
 */
async function overlap (t: Test, sandbox: Sandbox, browser: Browser, signals: Signals, route: (step: 'slow' | 'refresh') => void) {
  route('refresh')
  t.equal((await browser.request({ method: 'POST', url: '/expire' })).body, 'expired')
  const calls = refreshes(sandbox)
  const entered = new Promise<void>((resolve) => { signals.slowEntered = resolve })
  route('slow')
  const slow = browser.get('/slow')
  await entered
  route('refresh')
  const refreshed = await browser.get('/boards')
  t.equal(refreshed.statusCode, 200, 'the request at expiry refreshes')
  t.same((await slow).json(), { had: true })
  t.equal(refreshes(sandbox), calls + 1, 'one refresh')

  const state = (await browser.get('/state')).json() as MiroTokenState | null
  const fresh = state !== null && Date.parse(state.tokenExpiresAt ?? '') > Date.now()
  t.ok(fresh, 'the stored state is the refreshed pair, after the stale save')
  const next = await browser.get('/boards')
  t.equal(next.statusCode, 200, 'the next request works')
  t.equal(refreshes(sandbox), calls + 1, 'without another refresh')
  const loggedIn = (await browser.get('/authorized')).body === 'true'
  t.ok(loggedIn, 'still logged in')
  return fresh && next.statusCode === 200 && loggedIn
}

t.test('a stale session save does not put the rotated tokens back', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app, signals } = await sessionApp(t, sandbox)
  const runs = 5
  let loggedOut = 0
  for (let run = 0; run < runs; run++) {
    const browser = new Browser(app)
    await browser.login(sandbox)
    const pointer = (await browser.get('/pointer')).json().pointer as string
    t.match(pointer, /^r1 [\w-]{22}$/, 'the session holds a pointer')
    let kept = false
    await t.test(`run ${run + 1}`, async (t) => { kept = await overlap(t, sandbox, browser, signals, () => {}) })
    if (!kept) loggedOut++
    t.equal((await browser.get('/pointer')).json().pointer, pointer, 'the refresh did not touch the session')
  }
  t.equal(loggedOut, 0, `users logged out: ${loggedOut} of ${runs}`)
})

t.test('two instances sharing a Redis session store: a stale save on one does not undo a refresh on the other', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()
  // Two instances, each with its own Redis client for the session store, as two processes would be.
  const shared: Signals = {}
  const apps: FastifyInstance[] = []
  for (let i = 0; i < 2; i++) {
    const client = new Redis(redis.url)
    t.teardown(() => client.disconnect())
    apps.push((await sessionApp(t, sandbox, { sessionStore: redisSessionStore(client as never), signals: shared })).app)
  }

  const runs = 3
  let loggedOut = 0
  for (let run = 0; run < runs; run++) {
    const { browser, use } = sharedBrowser(apps)
    use(run % 2)
    await browser.login(sandbox)
    // The slow request on one instance, the refresh on the other, alternating per run.
    const slowOn = run % 2
    let kept = false
    await t.test(`run ${run + 1}, slow request on instance ${slowOn + 1}`, async (t) => {
      kept = await overlap(t, sandbox, browser, shared, (step) => use(step === 'slow' ? slowOn : 1 - slowOn))
    })
    if (!kept) loggedOut++

    use(slowOn)
    const pointer = (await browser.get('/pointer')).json().pointer
    if (!t.match(pointer, /^r1 [\w-]{22}$/, 'the session holds a pointer')) continue
    const record = JSON.parse(await probe.get('example:session:' + recordKey(pointer)) ?? 'null') as { cookie: { expires: string }, miro: string }
    t.match(record.miro, /^m1 /, 'the record in Redis holds the compact line')
    const ttl = await probe.ttl('example:session:' + recordKey(pointer))
    t.ok(ttl > 59 * DAY_S && ttl <= 60 * DAY_S, `the store gave the record a TTL from cookie.expires: ${ttl} s`)
  }
  t.equal(loggedOut, 0, `users logged out: ${loggedOut} of ${runs}`)
})

t.test('logout, then a stale save writes the pointer back: it points to nothing', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const sessions = new MemoryStore()
  const { app, signals } = await sessionApp(t, sandbox, { sessionStore: sessions })
  const browser = new Browser(app)
  await browser.login(sandbox)
  const { pointer } = (await browser.get('/pointer')).json() as { pointer: string }
  t.ok(await storeGet(sessions, recordKey(pointer)), 'the record is in the session store')

  const entered = new Promise<void>((resolve) => { signals.slowEntered = resolve })
  const slow = browser.get('/slow')
  await entered
  t.equal((await browser.request({ method: 'POST', url: '/auth/miro/logout' })).statusCode, 204)
  t.same((await slow).json(), { had: true })
  t.equal((await browser.get('/pointer')).json().pointer, pointer, 'the stale save put the pointer back')
  t.equal(await storeGet(sessions, recordKey(pointer)), undefined, 'the record is gone')
  t.equal((await browser.get('/authorized')).body, 'false', 'logged out')
  t.equal((await browser.get('/state')).body, 'null')
  t.equal((await browser.get('/boards', { accept: 'application/json' })).statusCode, 401)
})

t.test('sessions of the previous version (state in the session) read, and move into a record on the next write', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const sessions = new MemoryStore()
  const { app, signals } = await sessionApp(t, sandbox, { sessionStore: sessions })
  // Writes what the previous version kept in the session: the compact line or the object.
  app.post<{ Body: { as: 'line' | 'object', state: MiroTokenState } }>('/plant', async (request) => {
    request.session.set('miro' as never, (request.body.as === 'line' ? compactCodec.encode(request.body.state, '') : request.body.state) as never)
    return 'planted'
  })

  for (const as of ['line', 'object'] as const) {
    await t.test(as, async (t) => {
      const browser = new Browser(app)
      await browser.login(sandbox)
      const { pointer: loginPointer } = (await browser.get('/pointer')).json() as { pointer: string }
      const state = (await browser.get('/state')).json() as MiroTokenState
      // As if this session had been written by the previous version: no pointer, no record.
      await new Promise((resolve) => sessions.destroy(recordKey(loginPointer), resolve))
      const legacy = { ...state, tokenExpiresAt: PAST() }
      await browser.request({ method: 'POST', url: '/plant', payload: { as, state: legacy } })
      const planted = (await browser.get('/pointer')).json().pointer
      if (as === 'line') t.match(planted, /^m1 /)
      else t.same(planted, legacy)
      t.same((await browser.get('/state')).json(), legacy, 'it reads')

      // The refresh is its next write; a request that loaded the old session saves it after.
      const calls = refreshes(sandbox)
      const entered = new Promise<void>((resolve) => { signals.slowEntered = resolve })
      const slow = browser.get('/slow')
      await entered
      t.equal((await browser.get('/boards')).statusCode, 200)
      const migrated = (await browser.get('/pointer')).json().pointer as string
      t.match(migrated, /^r1 [\w-]{22}$/, 'after the write the session holds a pointer')
      const record = await storeGet(sessions, recordKey(migrated)) as { miro: string }
      t.match(record.miro, /^m1 /, 'and the record the state')
      await slow
      t.same((await browser.get('/pointer')).json().pointer, as === 'line' ? compactCodec.encode(legacy, '') : legacy,
        'the stale save put the old state back over the pointer')
      const now = (await browser.get('/state')).json() as MiroTokenState
      t.ok(Date.parse(now.tokenExpiresAt ?? '') > Date.now(), 'the record still wins: its id follows from the session id')
      t.equal((await browser.get('/boards')).statusCode, 200)
      t.equal(refreshes(sandbox), calls + 1, 'one refresh, no invalid_grant')

      await browser.request({ method: 'POST', url: '/expire' }) // a write: the pointer again
      t.equal((await browser.get('/pointer')).json().pointer, migrated)
    })
  }
})

t.test('records are shaped like sessions: a store expires them, and reads refuse an expired one', async (t) => {
  const sandbox = await startSandbox()
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  const client = new Redis(redis.url)
  t.teardown(async () => { client.disconnect(); probe.disconnect(); await sandbox.close(); await redis.stop() })
  await probe.flushall()

  // A session cookie living 90 days keeps the record as long (60 days otherwise, see above).
  const { app } = await sessionApp(t, sandbox, { sessionStore: redisSessionStore(client as never), sessionOptions: { cookie: { secure: false, maxAge: 90 * DAY_S * 1000 } } })
  const browser = new Browser(app)
  await browser.login(sandbox)
  const { pointer } = (await browser.get('/pointer')).json() as { pointer: string }
  const key = 'example:session:' + recordKey(pointer)
  const ttl = await probe.ttl(key)
  t.ok(ttl > 89 * DAY_S && ttl <= 90 * DAY_S, `TTL ${ttl} s`)
  const record = JSON.parse(await probe.get(key) ?? '') as { cookie: { expires: string, originalMaxAge: number } }
  t.ok(Math.abs(Date.parse(record.cookie.expires) - Date.now() - record.cookie.originalMaxAge) < 5000, 'expires = now + originalMaxAge')

  // @fastify/session's MemoryStore expires nothing: the read checks cookie.expires.
  await probe.set(key, JSON.stringify({ ...record, cookie: { ...record.cookie, expires: PAST() } }))
  t.equal((await browser.get('/authorized')).body, 'false', 'an expired record reads as logged out')
})

t.test('replace is atomic within a process: two compare-and-sets on one record, one wins', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app } = await sessionApp(t, sandbox, { miro: { routes: false } })
  const storeOf = sessionStoreFactory({ sessionKey: 'miro' })
  const base: MiroTokenState = { userId: 'u', accessToken: 'base' }
  app.post('/race', async (request) => {
    const store = storeOf(request)
    await store.set('x', base)
    const results = await Promise.all(['a', 'b', 'c'].map((token) => store.replace('x', 'base', { userId: 'u', accessToken: token })))
    return { results, stored: await store.get('x') }
  })
  const { results, stored } = (await new Browser(app).request({ method: 'POST', url: '/race' })).json() as { results: Array<{ replaced: boolean, current?: MiroTokenState }>, stored: MiroTokenState }
  t.equal(results.filter((r) => r.replaced).length, 1, 'exactly one replaced')
  t.same(stored, { userId: 'u', accessToken: 'a' }, 'the first one')
  t.same(results.slice(1), [{ replaced: false, current: stored }, { replaced: false, current: stored }], 'the others see the winner')
})

t.test('with encryption: the record holds no readable token, and a sealed record copied under another record id does not open', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const key = randomBytes(32)
  const contents = new Map()
  const sessions = new MemoryStore(contents)
  const lines: string[] = []
  const { app } = await sessionApp(t, sandbox, { sessionStore: sessions, miro: { encryptionKey: key }, logLines: lines })
  app.post<{ Body: { value: string } }>('/plant', async (request) => { request.session.set('miro' as never, request.body.value as never); return 'planted' })
  const owner = new Browser(app)
  const other = new Browser(app)
  await owner.login(sandbox)
  await other.login(sandbox)
  const state = (await owner.get('/state')).json() as MiroTokenState
  const ownerKey = recordKey((await owner.get('/pointer')).json().pointer)
  const otherKey = recordKey((await other.get('/pointer')).json().pointer)

  const dump = JSON.stringify([...contents])
  const sealed = (await storeGet(sessions, ownerKey) as { miro: string }).miro
  t.match(sealed, /^fm1\./, 'the record holds the sealed string')
  for (const secret of [state.accessToken, state.refreshToken!, 'accessToken']) t.notOk(dump.includes(secret), 'nothing readable in the session store')

  const copy = { ...(await storeGet(sessions, ownerKey) as object) }
  await new Promise((resolve) => sessions.set(otherKey, copy as never, resolve))
  lines.length = 0
  t.equal((await other.get('/authorized')).body, 'false', 'bound to the record id it was written under')
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('does not open')), 'with a warning')
  t.equal((await owner.get('/authorized')).body, 'true')

  // The previous version sealed the state into the session, bound to no id: it still reads.
  const unbound = createSealCodec(parseEncryptionKeys(key)!, false).encode(state, 'ignored') as string
  await other.request({ method: 'POST', url: '/plant', payload: { value: unbound } })
  t.same((await other.get('/state')).json(), state, 'a sealed state of the previous version reads')
})

t.test('a session store failing on the record answers 503, not a logout', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  // @fastify/session's MemoryStore, failing only on token records while `down` is set.
  const sessions = new MemoryStore()
  let down = false
  const failing = (id: string, cb: (err?: unknown) => void): boolean => {
    if (!down || !id.startsWith('miro-token:')) return false
    cb(new Error('connection refused'))
    return true
  }
  const store = {
    get: (id: string, cb: (err: unknown, value?: unknown) => void) => { if (!failing(id, cb)) sessions.get(id, cb as never) },
    set: (id: string, value: unknown, cb: (err?: unknown) => void) => { if (!failing(id, cb)) sessions.set(id, value as never, cb as never) },
    destroy: (id: string, cb: (err?: unknown) => void) => { if (!failing(id, cb)) sessions.destroy(id, cb as never) }
  }
  const { app } = await sessionApp(t, sandbox, { sessionStore: store })
  const browser = new Browser(app)
  await browser.login(sandbox)
  const state = (await browser.get('/state')).json() as MiroTokenState
  down = true
  for (const res of [await browser.get('/authorized'), await browser.request({ method: 'POST', url: '/expire' }), await browser.request({ method: 'POST', url: '/auth/miro/logout' })]) {
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
    t.notOk(res.body.includes(state.accessToken) || res.body.includes(state.refreshToken!), 'no token in the answer')
  }
  down = false
  t.equal((await browser.get('/authorized')).body, 'true', 'still logged in once the store is back')
})
