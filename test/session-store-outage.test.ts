// A failing session store: with mapSessionStoreErrors, a 503 with a code (never a logout, never
// a lost login), and everything works again once the store is back.
import t from 'tap'
import { startSandbox } from '../sandbox/index'
import { mapSessionStoreErrors } from '../index'
import { Browser, buildApp } from './helpers/app'

/** A session store over a Map, that can be switched off like a store whose server went away. */
class FlakyStore {
  readonly data = new Map<string, string>()
  down = false
  private fail (callback: (err?: Error) => void): boolean {
    if (!this.down) return false
    callback(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))
    return true
  }

  get (id: string, cb: (err: Error | null, session?: unknown) => void) { if (!this.fail(cb as never)) { const raw = this.data.get(id); cb(null, raw ? JSON.parse(raw) : null) } }
  set (id: string, session: unknown, cb: (err?: Error) => void) { if (!this.fail(cb)) { this.data.set(id, JSON.stringify(session)); cb() } }
  destroy (id: string, cb: (err?: Error) => void) { if (!this.fail(cb)) { this.data.delete(id); cb() } }
}

t.test('a session store outage is a 503 with a code, and the login survives it', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const store = new FlakyStore()
  const app = await buildApp({ sandbox, sessionStore: mapSessionStoreErrors(store), miro: { storage: 'session' } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.login(sandbox)
  t.equal((await browser.get('/me')).body, 'in')

  store.down = true
  for (const accept of ['text/html', 'application/json']) {
    const res = await browser.get('/me', { accept })
    t.equal(res.statusCode, 503, `${accept}: 503, not a redirect to the login`)
    t.equal(res.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
    t.notMatch(res.body, '6379', 'no address in the message')
  }
  const login = await browser.get('/auth/miro')
  t.equal(login.statusCode, 503, 'a login cannot start either')

  store.down = false
  t.equal((await browser.get('/me')).body, 'in', 'back, and still logged in')
})

t.test('a store that throws, and "no such session" (ENOENT), are handled as @fastify/session expects', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  let mode: 'throw' | 'enoent' | 'ok' = 'ok'
  const data = new Map<string, unknown>()
  const store = {
    get (id: string, cb: (err: unknown, session?: unknown) => void) {
      if (mode === 'throw') throw new Error('boom')
      if (mode === 'enoent') { cb(Object.assign(new Error('gone'), { code: 'ENOENT' })); return }
      cb(null, data.get(id) ?? null)
    },
    set (id: string, session: unknown, cb: (err?: unknown) => void) { data.set(id, JSON.parse(JSON.stringify(session))); cb() },
    destroy (id: string, cb: (err?: unknown) => void) { data.delete(id); cb() }
  }
  const app = await buildApp({ sandbox, sessionStore: mapSessionStoreErrors(store), miro: { storage: 'session' } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'in')
  t.teardown(() => app.close())
  const browser = new Browser(app)
  await browser.login(sandbox)
  mode = 'throw'
  const thrown = await browser.get('/me')
  t.equal(thrown.statusCode, 503)
  t.equal(thrown.json().code, 'FST_MIRO_STORAGE_UNAVAILABLE')
  mode = 'enoent'
  t.equal((await browser.get('/me', { accept: 'application/json' })).statusCode, 401, 'ENOENT is a missing session: logged out, as @fastify/session treats it')
})
