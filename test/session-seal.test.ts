// storage: 'session' with encryptionKey: a sealed token record is bound to its record and to the
// session pointing to it. A pointer (or a whole session) copied into another session does not
// open there; records sealed by earlier versions (bound to the record only) still open.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '@fastify/session'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { createSealCodec, parseEncryptionKeys } from '../lib/seal'
import { Browser, buildApp } from './helpers/app'

const key = randomBytes(32)

async function setup (t: Test) {
  const sandbox: Sandbox = await startSandbox({ users: [{ name: 'Alice' }, { name: 'Bob' }] })
  t.teardown(() => sandbox.close())
  const records = new Map<string, Record<string, unknown>>()
  const lines: string[] = []
  const app = await buildApp({ sandbox, logLines: lines, sessionStore: new MemoryStore(records as never), miro: { storage: 'session', encryptionKey: key } })
  app.get('/who', async (request) => (await request.miro.getState('x'))?.userId ?? 'nobody')
  t.teardown(() => app.close())
  const login = async (name: string) => {
    const browser = new Browser(app)
    await browser.login(sandbox, '/auth/miro', name)
    const id = decodeURIComponent(browser.cookies.get('sessionId') ?? '').split('.')[0] ?? ''
    // The store keeps the session object each save gave it: read it fresh.
    return { browser, id, session: () => records.get(id) as Record<string, unknown> }
  }
  return { sandbox, records, lines, login, userOf: (name: string) => sandbox.users.find((u) => u.name === name)?.id }
}

t.test("a pointer copied into another user's session does not open there", async (t) => {
  const { lines, login, userOf } = await setup(t)
  const alice = await login('Alice')
  const bob = await login('Bob')
  t.equal((await alice.browser.get('/who')).body, userOf('Alice'))
  t.equal((await bob.browser.get('/who')).body, userOf('Bob'))
  t.match(alice.session().miro, /^r1 /)
  bob.session().miro = alice.session().miro // write access to the session store, no key
  t.equal((await bob.browser.get('/who')).body, 'nobody', "Bob's session does not open Alice's record")
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('does not open')), 'with a warning')
  t.equal((await alice.browser.get('/who')).body, userOf('Alice'), 'Alice is still logged in')
})

t.test('a whole session copied under another session id does not open either', async (t) => {
  const { records, login, userOf } = await setup(t)
  const alice = await login('Alice')
  const bob = await login('Bob')
  records.set(bob.id, alice.session())
  t.equal((await bob.browser.get('/who')).body, 'nobody')
  t.equal((await alice.browser.get('/who')).body, userOf('Alice'))
})

t.test('a record sealed by the earlier version (bound to the record only) still opens', async (t) => {
  const { records, login, userOf } = await setup(t)
  const alice = await login('Alice')
  const recordId = String(alice.session().miro).slice(3)
  const storeId = `miro-token:${recordId}`
  const record = records.get(storeId) as { miro: string }
  // Re-sealed the way 0.x sealed records: the same state, bound to the record id alone.
  const state = { userId: userOf('Alice') ?? '', accessToken: 'a'.repeat(20) }
  record.miro = createSealCodec(parseEncryptionKeys(key) ?? [], true).encode(state, storeId) as string
  t.equal((await alice.browser.get('/who')).body, userOf('Alice'), 'no logout on upgrade')
})
