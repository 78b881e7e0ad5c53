// The pending-write journal (lib/lifecycle/pending-writes.ts): a pair Miro handed out on a
// refresh is not lost when the store fails after Miro answered. It serves this process's
// requests, upgrades stale reads instead of refreshing again with the rotated-away token, and
// is written again until it lands; a logout meanwhile revokes it instead.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { FastifyMiroOptions, MiroTokenState } from '../index'
import { boardNames, buildApp, freshCode } from './helpers/app'
import { startPrivateRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const refreshCalls = (sandbox: Sandbox): Array<{ ok: boolean }> => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token')

/** A user's own Storage whose writes can be made to fail while reads keep working. */
function flakyStorage (): { storage: NonNullable<FastifyMiroOptions['storage']>, data: Map<string, MiroTokenState>, writesFail: boolean, writes: number } {
  const box = {
    data: new Map<string, MiroTokenState>(),
    writesFail: false,
    writes: 0,
    storage: {
      get: async (id: string | number) => box.data.get(String(id)),
      set: async (id: string | number, state: MiroTokenState | undefined) => {
        box.writes++
        if (box.writesFail) throw new Error('write refused')
        if (state === undefined) box.data.delete(String(id))
        else box.data.set(String(id), state)
      }
    }
  }
  return box
}

async function appOn (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions, redisUrl?: string): Promise<FastifyInstance> {
  const app = await buildApp({
    sandbox,
    session: false,
    ...(redisUrl ? { redisUrl } : {}),
    miro: { routes: false, userId: () => 'u1', ...miro }
  })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  app.post('/logout', async (request) => { await request.miro.revokeToken('u1'); return 'bye' })
  t.teardown(() => app.close())
  return app
}

t.test('a refresh whose write fails: the pair serves the requests, stale reads are upgraded, and it is written once the store takes writes', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const box = flakyStorage()
  const app = await appOn(t, sandbox, { storage: box.storage })
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
  const before = box.data.get('u1')!
  box.data.set('u1', { ...before, tokenExpiresAt: PAST() })

  box.writesFail = true
  const first = await app.inject('/boards')
  t.equal(first.statusCode, 200, 'the refreshed pair serves the request although it could not be stored')
  t.equal(box.data.get('u1')?.refreshToken, before.refreshToken, 'the store still holds the rotated-away pair')
  for (let i = 0; i < 5; i++) t.equal((await app.inject('/boards')).statusCode, 200, `request ${i + 2}: the stale read is upgraded from memory`)
  t.same(refreshCalls(sandbox).map((c) => c.ok), [true], 'one refresh: never again with the dead refresh token')

  box.writesFail = false
  const deadline = Date.now() + 5000
  while (box.data.get('u1')?.refreshToken === before.refreshToken && Date.now() < deadline) await sleep(20)
  const stored = box.data.get('u1')!
  t.not(stored.refreshToken, before.refreshToken, 'the pair was written again until it landed')
  t.ok(Date.parse(stored.tokenExpiresAt ?? '') > Date.now())
  t.equal((await app.inject('/boards')).statusCode, 200)
  t.same(refreshCalls(sandbox).map((c) => c.ok), [true], 'users logged out: 0, token calls: one refresh')
})

t.test('Redis killed while Miro answers a refresh: the pair is written after the restart (AOF), nobody refreshes again', async (t) => {
  const redis = await startPrivateRedis({ persistent: true })
  t.teardown(() => redis.stop())
  const probe = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  probe.on('error', () => {})
  t.teardown(() => { probe.disconnect() })
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await appOn(t, sandbox, { storage: 'redis', httpTimeout: 3000 }, redis.url)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  const before = JSON.parse(await probe.get('miro:token:{u1}') ?? '') as MiroTokenState
  await probe.set('miro:token:{u1}', JSON.stringify({ ...before, tokenExpiresAt: PAST() }))

  // Miro takes 400 ms; Redis dies 200 ms into it, so the answer finds no store to write to.
  sandbox.failTokenEndpoint({ delayMs: 400, times: 1 })
  const during = app.inject('/boards')
  await sleep(200)
  await redis.kill()
  const answered = await during
  t.equal(answered.statusCode, 200, 'the refreshed pair serves the request that waited for it')
  await sleep(300)
  await redis.restart()

  const deadline = Date.now() + 8000
  let stored: MiroTokenState | undefined
  while (Date.now() < deadline) {
    const raw = await probe.get('miro:token:{u1}').catch(() => null)
    stored = raw === null ? undefined : JSON.parse(raw) as MiroTokenState
    if (stored !== undefined && stored.refreshToken !== before.refreshToken) break
    await sleep(50)
  }
  t.not(stored?.refreshToken, before.refreshToken, 'the pair Miro handed out is stored after the restart')
  t.equal(stored?.accessToken, sandbox.accessTokensOf(sandbox.users[0]!.id).at(-1), 'and it is the newest one Miro issued')
  let status = 0
  while (Date.now() < deadline && status !== 200) {
    status = (await app.inject('/boards')).statusCode
    if (status !== 200) await sleep(50)
  }
  t.equal(status, 200, 'users logged out: 0')
  t.same(refreshCalls(sandbox).map((c) => c.ok), [true], 'one refresh in all')
})

t.test('a logout while the pair is pending: nothing is written back, and the pair is revoked at Miro', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const box = flakyStorage()
  const app = await appOn(t, sandbox, { storage: box.storage })
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  box.data.set('u1', { ...box.data.get('u1')!, tokenExpiresAt: PAST() })
  box.writesFail = true
  t.equal((await app.inject('/boards')).statusCode, 200)
  box.writesFail = false
  t.equal((await app.inject({ method: 'POST', url: '/logout' })).body, 'bye')
  t.same(sandbox.accessTokensOf(sandbox.users[0]!.id), [], 'once logout resolved, every access token Miro issued to the user, the pending pair included, is revoked')
  t.equal(box.data.has('u1'), false, 'no state after logout')
  const writes = box.writes
  await sleep(600) // longer than the journal's retry interval
  t.equal(box.data.has('u1'), false, 'and none written back by a retry')
  t.equal(box.writes, writes, 'no retry wrote anything after the logout')
  t.equal((await app.inject('/boards')).statusCode, 401)
})

t.test('app close gives a pending pair one last write, and logs (without secrets) when it cannot', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const box = flakyStorage()
  const lines: string[] = []
  const app = await buildApp({ sandbox, session: false, logLines: lines, miro: { storage: box.storage, routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/token', async (request) => request.miro.getAccessToken('u1'))
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  box.data.set('u1', { ...box.data.get('u1')!, tokenExpiresAt: PAST() })
  box.writesFail = true
  const token = (await app.inject('/token')).body
  await app.close()
  const closing = lines.filter((l) => l.includes('could not store'))
  t.equal(closing.length, 1, 'one error line says pairs were lost at close')
  t.match(closing[0], /"users":1/)
  t.notOk(lines.some((l) => l.includes(token)), 'without the token')
})
