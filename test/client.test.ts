// MiroClient's token calls: they follow basePath, send credentials in a form body (never the
// query), have a time limit, keep team and scope, and resolve only once the state is stored.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { Miro } from '@mirohq/miro-api'
import type { FastifyInstance } from 'fastify'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { buildApp, freshCode, REDIRECT_URL } from './helpers/app'
import type { FastifyMiroOptions, MiroTokenState } from '../index'
import { freePort } from './helpers/redis'

const unhandled: unknown[] = []
process.on('unhandledRejection', (err) => { unhandled.push(err) })

/** An app whose routes call the client the way a route author would. */
async function appWith (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp({ sandbox, session: false, miro: { storage: 'memory', routes: false, ...miro } })
  app.post<{ Body: { code: string } }>('/exchange', async (request) => {
    const token = await request.miro.exchangeCodeForAccessToken('u1', request.body.code)
    return { token, stored: await request.miro.getState('u1') }
  })
  app.get('/state', async (request) => ({ stored: await request.miro.getState('u1') ?? null }))
  t.teardown(() => app.close())
  return app
}

t.test('request.miro is a Miro, built once per request and only when read', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appWith(t, sandbox)
  const seen: unknown[] = []
  app.get('/twice', async (request) => {
    const first = request.miro
    const second = request.miro
    return { miro: first instanceof Miro, same: first === second }
  })
  app.get('/untouched', async () => ({ ok: true }))
  app.addHook('onResponse', async (request) => {
    const holder = Object.getOwnPropertySymbols(request).find((s) => s.description === 'fastify-miro.client')
    seen.push(holder === undefined ? 'no holder' : (request as unknown as Record<symbol, unknown>)[holder])
  })
  t.same((await app.inject('/twice')).json(), { miro: true, same: true })
  t.same((await app.inject('/untouched')).json(), { ok: true })
  t.ok(seen[0] instanceof Miro, 'the client is cached on the request that read it')
  t.equal(seen[1], null, 'a route that never reads request.miro builds no client')
})

t.test('the code exchange posts a form body to basePath and stores team and scope', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appWith(t, sandbox)
  const res = await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })
  t.equal(res.statusCode, 200)
  const { token, stored } = res.json() as { token: string, stored: MiroTokenState }
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [token])
  t.match(stored, {
    userId: sandbox.users[0]!.id,
    accessToken: token,
    refreshToken: String,
    tokenExpiresAt: String,
    teamId: sandbox.users[0]!.teamId,
    scope: 'boards:read boards:write'
  })
  const life = Date.parse(stored.tokenExpiresAt!) - Date.now()
  t.ok(life > 3400_000 && life < 3480_000, 'expires 120 s before Miro says, like the SDK')
  t.equal(sandbox.tokenCalls.length, 1)
  t.match(sandbox.tokenCalls[0], { grantType: 'authorization_code', ok: true, secretInQuery: false })
})

t.test('a callback URL works as the code; one without a code is refused before any call', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appWith(t, sandbox)
  const code = await freshCode(sandbox)
  const ok = await app.inject({ method: 'POST', url: '/exchange', payload: { code: `${REDIRECT_URL}?state=x&code=${code}` } })
  t.equal(ok.statusCode, 200)
  const none = await app.inject({ method: 'POST', url: '/exchange', payload: { code: `${REDIRECT_URL}?state=x` } })
  t.equal(none.statusCode, 400)
  t.equal(none.json().code, 'FST_MIRO_MISSING_CODE')
  t.equal(sandbox.tokenCalls.length, 1, 'the URL was not sent as a code')
})

t.test('token call failures map to FST_MIRO_* errors, store nothing, and leak nothing', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appWith(t, sandbox, { httpTimeout: 300 })
  const exchange = (code: string) => app.inject({ method: 'POST', url: '/exchange', payload: { code } })

  const code = await freshCode(sandbox)
  t.equal((await exchange(code)).statusCode, 200)
  const reused = await exchange(code)
  t.equal(reused.statusCode, 400)
  t.match(reused.json(), { code: 'FST_MIRO_CODE_REJECTED', message: /invalid_grant/ })

  sandbox.failTokenEndpoint({ status: 503 })
  const down = await exchange(await freshCode(sandbox))
  t.equal(down.statusCode, 502)
  t.match(down.json(), { code: 'FST_MIRO_UNAVAILABLE', message: 'Miro could not complete the code exchange call (HTTP 503 server_error): try again later' })

  sandbox.failTokenEndpoint({ delayMs: 3000 })
  const slow = await exchange(await freshCode(sandbox))
  t.equal(slow.statusCode, 504)
  t.match(slow.json(), { code: 'FST_MIRO_TIMEOUT', message: 'Miro did not answer the code exchange call within 300 ms' })
  sandbox.failTokenEndpoint(null)

  for (const res of [reused, down, slow]) {
    t.notMatch(res.body, sandbox.clientSecret)
    t.notMatch(res.body, code)
  }
})

t.test('a wrong client secret is a configuration error, and Miro unreachable is a 502 without the URL', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const wrong = await appWith(t, sandbox, { clientSecret: 'not-the-secret' })
  const res = await wrong.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })
  t.equal(res.statusCode, 502)
  t.match(res.json(), { code: 'FST_MIRO_TOKEN_REQUEST_FAILED', message: /HTTP 401 invalid_client.*check clientId, clientSecret/ })
  t.notMatch(res.body, 'not-the-secret')

  const closedPort = await freePort()
  const unreachable = await appWith(t, sandbox, { basePath: `http://127.0.0.1:${closedPort}` })
  const refused = await unreachable.inject({ method: 'POST', url: '/exchange', payload: { code: 'abc' } })
  t.equal(refused.statusCode, 502)
  t.match(refused.json(), { code: 'FST_MIRO_UNAVAILABLE', message: /\(ECONNREFUSED\)/ })
  t.notMatch(refused.body, String(closedPort), 'no URL in the message')
})

t.test('exchangeCodeForAccessToken resolves after the write lands; a failing write rejects it', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const writes: string[] = []
  const slowStorage = {
    data: new Map<string, MiroTokenState>(),
    async get (id: string | number) { return this.data.get(String(id)) },
    async set (id: string | number, state: MiroTokenState | undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      if (state) this.data.set(String(id), state)
      writes.push('landed')
    }
  }
  const app = await appWith(t, sandbox, { storage: slowStorage })
  app.post<{ Body: { code: string } }>('/exchange-and-look', async (request) => {
    await request.miro.exchangeCodeForAccessToken('u1', request.body.code)
    return { landedBefore: writes.length, inStorage: slowStorage.data.has('u1') }
  })
  const res = await app.inject({ method: 'POST', url: '/exchange-and-look', payload: { code: await freshCode(sandbox) } })
  t.same(res.json(), { landedBefore: 1, inStorage: true })

  const failing = await appWith(t, sandbox, { storage: { get: async () => undefined, set: async () => { throw new Error('disk full') } } })
  const failed = await failing.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })
  t.equal(failed.statusCode, 503)
  t.match(failed.json(), { code: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /storage set: Error/ })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test("a user's own Storage, sync or async, is used as given", async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const syncData: Record<string, MiroTokenState | undefined> = {}
  const syncStorage = {
    get: (id: string | number) => syncData[String(id)] as never,
    set: (id: string | number, state: MiroTokenState | undefined) => { syncData[String(id)] = state }
  }
  const app = await appWith(t, sandbox, { storage: syncStorage })
  app.get('/authorized', async (request) => ({ authorized: await request.miro.isAuthorized('u1') }))
  t.same((await app.inject('/authorized')).json(), { authorized: false })
  await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })
  t.equal(syncData.u1?.userId, sandbox.users[0]!.id)
  t.same((await app.inject('/authorized')).json(), { authorized: true })
})

t.test('getAuthUrl adds state and team only when given, on the host of basePath', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appWith(t, sandbox)
  app.get('/urls', async (request) => [request.miro.getAuthUrl(), request.miro.getAuthUrl('s t', '42')])
  const [plain, full] = (await app.inject('/urls')).json() as [string, string]
  const base = `${sandbox.url}/oauth/authorize?response_type=code&client_id=${sandbox.clientId}&redirect_uri=${encodeURIComponent(REDIRECT_URL)}`
  t.equal(plain, base)
  t.equal(full, base + '&team_id=42&state=s%20t')
})

t.test('revokeToken uses the v2 endpoint with a body and always clears the state', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const lines: string[] = []
  const app = await buildApp({ sandbox, session: false, logLines: lines, miro: { storage: 'memory', routes: false, httpTimeout: 500 } })
  t.teardown(() => app.close())
  app.post<{ Body: { code: string } }>('/exchange', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code))
  app.post('/revoke', async (request) => {
    await request.miro.revokeToken('u1')
    return { left: await request.miro.getState('u1') ?? null }
  })
  const token = (await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })).body
  t.same((await app.inject({ method: 'POST', url: '/revoke' })).json(), { left: null })
  t.same(sandbox.revokeCalls.map((c) => c.ok), [true])
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [], 'Miro no longer accepts the token')
  t.notOk(lines.some((l) => l.includes(token)))

  await app.inject({ method: 'POST', url: '/exchange', payload: { code: await freshCode(sandbox) } })
  sandbox.failTokenEndpoint({ status: 500 })
  const port = Number(new URL(sandbox.url).port)
  await sandbox.close() // Miro unreachable
  const blocker = createServer((_req, res) => { res.destroy() }) // nothing answers on that port
  blocker.listen(port, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => blocker.close())
  t.same((await app.inject({ method: 'POST', url: '/revoke' })).json(), { left: null })
  t.ok(lines.some((l) => l.includes('"level":40') && l.includes('did not confirm the token revocation')), 'a warning says so')
})
