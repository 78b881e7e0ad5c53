// Refresh ahead (lib/client.ts usable(), TokenRefresher.refreshAhead): inside the margin
// between the stored expiry and Miro's (less REFRESH_AHEAD_SLACK_MS), the first request starts
// the refresh in the background and goes on with the still-accepted token; nobody waits for the
// token endpoint. Past the margin the refresh is in the foreground, as before.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Sandbox } from '../sandbox/index'
import type { MiroTokenState } from '../index'
import { REFRESH_AHEAD_MS, stillAccepted } from '../lib/state'
import { buildApp, freshCode, sandboxAndRedis } from './helpers/app'
import { IN_MARGIN, PAST } from './helpers/expiry'

const KEY = 'miro:token:{u1}'
const DELAY_MS = 1500

const refreshCalls = (sandbox: Sandbox): boolean[] => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').map((c) => c.ok)

async function instance (t: Test, sandbox: Sandbox, url: string, logLines?: string[]): Promise<FastifyInstance> {
  const app = await buildApp({ sandbox, session: false, redisUrl: url, ...(logLines ? { logLines } : {}), miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
  t.teardown(() => app.close())
  return app
}

async function setup (t: Test) {
  const { redis, probe, sandbox } = await sandboxAndRedis(t)
  const stored = async (): Promise<MiroTokenState> => JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState
  /** Logs in on `app` and sets the stored expiry; returns the state as it was. */
  const loginExpiring = async (app: FastifyInstance, tokenExpiresAt: string): Promise<MiroTokenState> => {
    await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
    const state = await stored()
    await probe.set(KEY, JSON.stringify({ ...state, tokenExpiresAt }))
    return state
  }
  /** Waits (bounded) until the stored pair is another one than `before`'s. */
  const replaced = async (before: MiroTokenState): Promise<MiroTokenState> => {
    const deadline = Date.now() + DELAY_MS + 5000
    for (;;) {
      const now = await stored()
      if (now.accessToken !== before.accessToken || Date.now() > deadline) return now
      await sleep(20)
    }
  }
  return { redis, probe, sandbox, stored, loginExpiring, replaced }
}

t.test('the margin: expired by the stored date, still accepted by Miro minus the slack', async (t) => {
  const at = Date.parse('2030-01-01T00:00:00.000Z')
  const state = { userId: 'x', accessToken: 'a', refreshToken: 'r', tokenExpiresAt: new Date(at).toISOString() }
  t.equal(REFRESH_AHEAD_MS, 90_000, '120 s margin less 30 s of slack')
  t.equal(stillAccepted(state, at + 1), true)
  t.equal(stillAccepted(state, at + REFRESH_AHEAD_MS - 1), true)
  t.equal(stillAccepted(state, at + REFRESH_AHEAD_MS), false, 'from 30 s before Miro\'s expiry on: the foreground')
  t.equal(stillAccepted({ userId: 'x', accessToken: 'a' }, at), false, 'no expiry, no margin')
})

t.test('in the margin: the old token at once (the token endpoint is delayed), the new pair stored afterwards', async (t) => {
  const { redis, sandbox, stored, loginExpiring, replaced } = await setup(t)
  const app = await instance(t, sandbox, redis.url)
  const before = await loginExpiring(app, IN_MARGIN())
  sandbox.failTokenEndpoint({ delayMs: DELAY_MS, times: 1 })

  const res = await app.inject('/token')
  t.equal(res.statusCode, 200)
  t.equal(res.body, before.accessToken, 'the still-accepted token, without waiting')
  t.same(refreshCalls(sandbox), [], 'answered while the refresh was still waiting at the token endpoint')
  t.equal((await stored()).accessToken, before.accessToken, 'nothing stored yet')

  const after = await replaced(before)
  t.not(after.accessToken, before.accessToken, 'the background refresh stored the new pair')
  t.not(after.refreshToken, before.refreshToken)
  t.same(refreshCalls(sandbox), [true], 'one refresh')
  t.equal((await app.inject('/token')).body, after.accessToken, 'the next request uses the new token')
})

t.test('a storm in the margin on two instances: one token call, nobody waits, all 200', async (t) => {
  const { redis, sandbox, loginExpiring, replaced } = await setup(t)
  const a = await instance(t, sandbox, redis.url)
  const b = await instance(t, sandbox, redis.url)
  const before = await loginExpiring(a, IN_MARGIN())
  sandbox.failTokenEndpoint({ delayMs: DELAY_MS, times: 1 })

  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).inject('/token')))
  t.same(results.map((r) => r.statusCode), Array(60).fill(200))
  t.ok(results.every((r) => r.body === before.accessToken), 'all answered with the old token')
  t.same(refreshCalls(sandbox), [], 'all answered before the token endpoint did')
  const after = await replaced(before)
  t.not(after.accessToken, before.accessToken)
  await sleep(300) // a second refresh, were there one, would have been answered by now
  t.same(refreshCalls(sandbox), [true], 'one refresh for the 60 requests and both instances')
})

t.test('a failing background refresh: logged without secrets, no unhandled rejection, nothing lost; the next one succeeds', async (t) => {
  const { redis, sandbox, stored, loginExpiring, replaced } = await setup(t)
  const lines: string[] = []
  const app = await instance(t, sandbox, redis.url, lines)
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const before = await loginExpiring(app, IN_MARGIN())
  sandbox.failTokenEndpoint({ status: 503, times: 1 })

  const res = await app.inject('/token')
  t.equal(res.statusCode, 200)
  t.equal(res.body, before.accessToken)
  const deadline = Date.now() + 5000
  while (!lines.some((l) => l.includes('refresh ahead of expiry failed')) && Date.now() < deadline) await sleep(20)
  const warning = lines.find((l) => l.includes('refresh ahead of expiry failed'))
  t.ok(warning, 'the failure is logged')
  t.match(JSON.parse(warning ?? '{}'), { level: 40, code: 'FST_MIRO_UNAVAILABLE' })
  t.same(refreshCalls(sandbox), [false])
  const kept = await stored()
  t.equal(kept.accessToken, before.accessToken, 'the stored pair is untouched')
  t.equal(kept.refreshToken, before.refreshToken)
  t.ok(sandbox.refreshTokensOf(sandbox.users[0]!.id).includes(before.refreshToken!), 'and its refresh token still works at Miro')

  t.equal((await app.inject('/token')).body, before.accessToken, 'the next request in the margin still answers at once')
  const after = await replaced(before)
  t.not(after.accessToken, before.accessToken, 'and its background refresh stored the new pair')
  t.same(refreshCalls(sandbox), [false, true])
  for (const secret of [before.accessToken, before.refreshToken!, after.accessToken, after.refreshToken!, sandbox.clientSecret]) {
    t.notOk(lines.some((l) => l.includes(secret)), 'no token or client secret in the log')
  }
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('past the margin: the request waits for the refresh and uses the new token', async (t) => {
  const { redis, sandbox, stored, loginExpiring } = await setup(t)
  const app = await instance(t, sandbox, redis.url)
  const before = await loginExpiring(app, PAST())
  sandbox.failTokenEndpoint({ delayMs: 300, times: 1 })
  const res = await app.inject('/token')
  t.equal(res.statusCode, 200)
  const after = await stored()
  t.not(after.accessToken, before.accessToken)
  t.equal(res.body, after.accessToken, 'the new token, after the refresh')
  t.same(refreshCalls(sandbox), [true])
})
