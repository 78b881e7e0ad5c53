// invalid_grant deletes a state only when the stored state is still the one that was refreshed:
// a newer pair stored meanwhile (another instance that rotated the token and is storing its
// answer right now, a new login) wins. Real Redis, two instances, the sandbox.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { MiroTokenState } from '../index'
import { buildApp, freshCode } from './helpers/app'
import { startRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const KEY = 'miro:token:{u1}'

async function instance (t: Test, sandbox: Sandbox, redisUrl: string): Promise<FastifyInstance> {
  const app = await buildApp({ sandbox, session: false, redisUrl, miro: { storage: 'redis', routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/token', { preHandler: app.miro.requireAuth }, async (request) => request.miro.getAccessToken('u1'))
  t.teardown(() => app.close())
  return app
}

/** Rotates `state`'s refresh token at the sandbox, as another instance of the app would. */
async function rotateElsewhere (sandbox: Sandbox, state: MiroTokenState): Promise<{ access_token: string, refresh_token: string }> {
  const res = await fetch(`${sandbox.url}/v1/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.refreshToken ?? '', client_id: sandbox.clientId, client_secret: sandbox.clientSecret })
  })
  return await res.json() as { access_token: string, refresh_token: string }
}

t.test('invalid_grant', async (t) => {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })

  /** A fresh sandbox and instance, a user logged in, their stored token due. */
  async function loggedInExpired (t: Test): Promise<{ sandbox: Sandbox, app: FastifyInstance, old: MiroTokenState }> {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await instance(t, sandbox, redis.url)
    await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
    const old = JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState
    await probe.set(KEY, JSON.stringify({ ...old, tokenExpiresAt: PAST() }))
    return { sandbox, app, old }
  }

  t.test('a newer pair stored while our refresh was refused wins: it is used, not deleted', async (t) => {
    const { sandbox, app, old } = await loggedInExpired(t)

    // Another instance rotated the token and stores its answer 150 ms after ours is refused.
    const rotated = await rotateElsewhere(sandbox, old)
    const newer: MiroTokenState = { ...old, accessToken: rotated.access_token, refreshToken: rotated.refresh_token, tokenExpiresAt: new Date(Date.now() + 3_000_000).toISOString() }
    const storing = sleep(150).then(() => probe.set(KEY, JSON.stringify(newer)))
    const res = await app.inject('/token')
    await storing
    t.equal(res.statusCode, 200, 'not logged out')
    t.equal(res.body, rotated.access_token, 'the newer pair serves the request')
    t.same(JSON.parse(await probe.get(KEY) ?? ''), newer, 'and stays stored')
  })

  t.test('with nothing newer, the refused state is deleted and the user is logged out', async (t) => {
    const { sandbox, app, old } = await loggedInExpired(t)
    await rotateElsewhere(sandbox, old) // and its answer never stored

    const res = await app.inject('/token')
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'FST_MIRO_NOT_AUTHORIZED')
    t.equal(await probe.exists(KEY), 0, 'the dead state is deleted')
  })

  t.test('a login that lands after the refused refresh is not deleted by it', async (t) => {
    const { sandbox, app: a, old } = await loggedInExpired(t)
    const b = await instance(t, sandbox, redis.url)
    await rotateElsewhere(sandbox, old)

    const refused = a.inject('/token')
    await sleep(100)
    t.equal((await b.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })).body, 'ok', 'the user logs in again on another instance')
    const res = await refused
    t.equal(res.statusCode, 200, 'the refused refresh returns the new login')
    const stored = JSON.parse(await probe.get(KEY) ?? '') as MiroTokenState
    t.equal(res.body, stored.accessToken)
    t.not(stored.accessToken, old.accessToken, 'the new login stays stored')
  })
})
