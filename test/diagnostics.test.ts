// Observability: token exchange, refresh (with waits for another instance's lock), revoke and
// storage errors on node:diagnostics_channel tracing channels `fastify-miro:<operation>`, their
// log lines at the right level, and no token, code, secret or session id in any of them.
import t from 'tap'
import diagnosticsChannel from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import type { MiroStorageErrorContext, MiroTokenState, MiroTraceContext } from '../index'
import { PAST } from './helpers/expiry'
import { Browser, buildApp, freshCode, pathOf, sandboxAndRedis } from './helpers/app'

interface Seen { channel: string, event: string, context: Record<string, unknown> }

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const

/** Everything reachable from a value as text: errors with their message, stack, code and cause. */
function dump (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => v instanceof Error
    ? { ...v, name: v.name, message: v.message, stack: v.stack, cause: (v as { cause?: unknown }).cause }
    : v)
}

t.test('exchange, refresh, revoke and storage errors are traced and logged, without secrets', async (t) => {
  const { sandbox, redis, probe } = await sandboxAndRedis(t)
  const seen: Seen[] = []
  for (const name of ['exchange', 'refresh', 'revoke']) {
    const channel = diagnosticsChannel.tracingChannel<unknown, MiroTraceContext>('fastify-miro:' + name)
    const handlers = Object.fromEntries(EVENTS.map((event) => [event, (context: MiroTraceContext) => {
      seen.push({ channel: name, event, context: { ...context } })
    }])) as unknown as Parameters<typeof channel.subscribe>[0]
    channel.subscribe(handlers)
    t.teardown(() => channel.unsubscribe(handlers))
  }
  const storageErrors: MiroStorageErrorContext[] = []
  const onStorageError = (message: unknown): void => { storageErrors.push(message as MiroStorageErrorContext) }
  diagnosticsChannel.subscribe('tracing:fastify-miro:storage:error', onStorageError)
  t.teardown(() => diagnosticsChannel.unsubscribe('tracing:fastify-miro:storage:error', onStorageError))

  const lines: string[] = []
  const app = await buildApp({ sandbox, redisUrl: redis.url, logLines: lines, miro: { storage: 'redis', storageTimeout: 300 } })
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  t.teardown(() => app.close())
  const secrets = new Set<string>([sandbox.clientSecret])
  const events = (channel: string): Seen[] => seen.filter((s) => s.channel === channel)
  const last = (channel: string): Record<string, unknown> => events(channel).at(-1)!.context
  const logged = (msg: RegExp): Array<{ level: number, msg: string } & Record<string, unknown>> =>
    lines.map((line) => JSON.parse(line) as { level: number, msg: string }).filter((l) => msg.test(l.msg))

  // The login, step by step, to know its code.
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro')
  const back = await sandbox.approve(String(start.headers.location))
  secrets.add(new URL(back).searchParams.get('code') ?? 'no code')
  t.equal((await browser.get(pathOf(back))).statusCode, 302)
  const user = sandbox.users[0]!
  t.same(events('exchange').map((s) => s.event), ['start', 'end', 'asyncStart', 'asyncEnd'], 'the exchange is traced')
  t.match(last('exchange'), { operation: 'exchange', miroUserId: user.id, teamId: user.teamId, outcome: 'ok', durationMs: Number })

  const [key] = await probe.keys('miro:token:{*')
  const sessionId = key!.slice('miro:token:{'.length, -1)
  secrets.add(sessionId)
  for (const value of browser.cookies.values()) secrets.add(value)
  const stored = async (): Promise<MiroTokenState> => {
    const state = JSON.parse(await probe.get(key!) ?? '') as MiroTokenState
    secrets.add(state.accessToken)
    secrets.add(state.refreshToken!)
    return state
  }
  const expire = async (): Promise<void> => {
    await probe.set(key!, JSON.stringify({ ...await stored(), tokenExpiresAt: PAST() }), 'KEEPTTL')
  }

  // A plain refresh: debug.
  await expire()
  seen.length = 0
  t.equal((await browser.get('/me')).statusCode, 200)
  await stored()
  t.same(events('refresh').map((s) => s.event), ['start', 'end', 'asyncStart', 'asyncEnd'])
  const refreshed = last('refresh')
  t.match(refreshed, { operation: 'refresh', miroUserId: user.id, teamId: user.teamId, result: 'refreshed', outcome: 'ok', durationMs: Number })
  t.match(refreshed.userKey, /^sha256:[0-9a-f]{16}$/, 'the session id only as a hash')
  t.notOk(refreshed.waitedForLock)
  t.match(logged(/Miro tokens refreshed$/), [{ level: 20, userKey: refreshed.userKey, result: 'refreshed' }], 'logged at debug')

  // Another instance holds the lock and refreshes meanwhile: the wait is traced and logged at info.
  await expire()
  const lock = key + ':refresh-lock'
  await probe.set(lock, 'another-instance', 'PX', 5000)
  seen.length = 0
  const waiting = browser.get('/me')
  await sleep(150)
  await probe.set(key!, JSON.stringify({ ...await stored(), tokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString() }), 'KEEPTTL')
  await probe.del(lock)
  t.equal((await waiting).statusCode, 200)
  t.match(last('refresh'), { waitedForLock: true, result: 'refreshed elsewhere', outcome: 'ok' })
  t.match(logged(/after waiting for another instance/), [{ level: 30, waitedForLock: true }], 'logged at info')

  // Miro fails the refresh: the error event, logged at info.
  await expire()
  sandbox.failTokenEndpoint({ status: 503, times: 1 })
  seen.length = 0
  t.equal((await browser.get('/me')).statusCode, 502)
  t.same(events('refresh').map((s) => s.event), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
  t.match(last('refresh'), { outcome: 'error', errorCode: 'FST_MIRO_UNAVAILABLE', error: { code: 'FST_MIRO_UNAVAILABLE' } })
  t.match(logged(/refresh failed/), [{ level: 30, errorCode: 'FST_MIRO_UNAVAILABLE' }])

  // Logout: the revoke is traced and logged at info.
  seen.length = 0
  t.equal((await browser.request({ method: 'POST', url: '/auth/miro/logout' })).statusCode, 204)
  t.same(events('revoke').map((s) => s.event), ['start', 'end', 'asyncStart', 'asyncEnd'])
  t.match(last('revoke'), { operation: 'revoke', reason: 'logout', miroUserId: user.id, outcome: 'ok', userKey: refreshed.userKey })
  t.match(logged(/Miro tokens revoked/), [{ level: 30, reason: 'logout' }])

  // Redis stalls: storage errors are published.
  await probe.call('CLIENT', 'PAUSE', '1000', 'ALL')
  t.equal((await new Browser(app).get('/me')).statusCode, 503)
  await sleep(1100)
  t.ok(storageErrors.length > 0, 'storage errors are published')
  t.match(storageErrors[0], { operation: 'redis get', errorCode: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /did not answer within 300 ms/ })

  const everything = dump({ seen, storageErrors }) + '\n' + lines.join('\n')
  t.ok(secrets.size >= 7, `collected ${secrets.size} secrets`)
  for (const secret of secrets) t.notOk(everything.includes(secret), 'no secret in any event or log line')
})

t.test('a custom userId is shown as it is', async (t) => {
  const { sandbox, redis } = await sandboxAndRedis(t)
  const seen: MiroTraceContext[] = []
  const onEnd = (context: unknown): void => { seen.push({ ...context as MiroTraceContext }) }
  diagnosticsChannel.subscribe('tracing:fastify-miro:revoke:asyncEnd', onEnd)
  t.teardown(() => diagnosticsChannel.unsubscribe('tracing:fastify-miro:revoke:asyncEnd', onEnd))
  const app = await buildApp({ sandbox, session: false, redisUrl: redis.url, miro: { storage: 'redis', routes: false, userId: () => 'app-user-7' } })
  t.teardown(() => app.close())
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('app-user-7', request.body.code).then(() => 'ok'))
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  await app.miro.revoke('app-user-7')
  t.match(seen, [{ userKey: 'app-user-7', reason: 'logout', outcome: 'ok' }])
})
