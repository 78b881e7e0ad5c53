// An API call Miro answers 401 is not left to fail forever (lib/api-auth.ts): the plugin
// refreshes once where a refresh token exists and retries; otherwise, or when that fails, the
// state is deleted, the call throws FST_MIRO_NOT_AUTHORIZED, and the guard's redirect works.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { HttpError } from '@mirohq/miro-api/dist/api/apis'
import { MiroLowlevelApi } from '@mirohq/miro-api'
import { API_FIELDS } from '../lib/api-auth'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { MiroTokenState } from '../index'
import { boardNames, buildApp, freshCode } from './helpers/app'

async function appWith (t: Test, sandbox: Sandbox): Promise<{ app: FastifyInstance, data: Map<string, MiroTokenState> }> {
  const data = new Map<string, MiroTokenState>()
  const storage = {
    get: async (id: string | number) => data.get(String(id)),
    set: async (id: string | number, state: MiroTokenState | undefined) => { if (state === undefined) data.delete(String(id)); else data.set(String(id), state) }
  }
  const app = await buildApp({ sandbox, session: false, miro: { storage, routes: false, userId: () => 'u1' } })
  app.post<{ Body: { code: string } }>('/login', async (request) => request.miro.exchangeCodeForAccessToken('u1', request.body.code).then(() => 'ok'))
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  app.post('/boards', { preHandler: app.miro.requireAuth }, async (request) => {
    const board = await request.miroApi().createBoard({ name: 'made after a 401' })
    return { name: board.name }
  })
  app.get('/raw', async (request) => {
    try {
      return await request.miroApi().getBoard('does-not-exist')
    } catch (err) {
      return { http: err instanceof HttpError, status: (err as HttpError).statusCode }
    }
  })
  t.teardown(() => app.close())
  return { app, data }
}

/** Revokes an access token at the sandbox the way a logout elsewhere (or the user removing the app) would. */
async function revokeAtMiro (sandbox: Sandbox, accessToken: string): Promise<void> {
  const res = await fetch(`${sandbox.url}/v2/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret })
  })
  if (res.status !== 204) throw new Error(`revoke answered ${res.status}`)
}

const refreshCalls = (sandbox: Sandbox): boolean[] => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').map((c) => c.ok)

t.test('Miro revoked the tokens: one refresh attempt, the state is deleted, NOT_AUTHORIZED, then the guard says so', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app, data } = await appWith(t, sandbox)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  await revokeAtMiro(sandbox, data.get('u1')!.accessToken) // revokes the grant's refresh tokens too

  const res = await app.inject('/boards')
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_MIRO_NOT_AUTHORIZED')
  t.same(refreshCalls(sandbox), [false], 'one refresh was tried (invalid_grant), no loop')
  t.equal(data.has('u1'), false, 'the dead state is deleted')
  const html = await app.inject({ url: '/boards', headers: { accept: 'text/html' } })
  t.equal(html.statusCode, 401, 'the guard now knows the user is logged out (routes are off here: 401 for browsers too)')
  t.same(refreshCalls(sandbox), [false], 'and calls nothing more at Miro')
})

t.test('a refused access token with a live refresh token: refreshed once, the call retried and answered', async (t) => {
  // Miro's clock runs 2 h ahead: the access token is expired there while the stored expiry says it is fresh.
  let ahead = 0
  const sandbox = await startSandbox({ now: () => Date.now() + ahead })
  t.teardown(() => sandbox.close())
  const { app, data } = await appWith(t, sandbox)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  const before = data.get('u1')!
  ahead = 2 * 3600_000

  const list = await app.inject('/boards')
  t.equal(list.statusCode, 200, 'the GET is answered after one refresh')
  t.same(list.json(), ["Sandbox User's first board"])
  t.same(refreshCalls(sandbox), [true])
  t.not(data.get('u1')?.accessToken, before.accessToken, 'the refreshed pair is stored')

  ahead = 4 * 3600_000
  const made = await app.inject({ method: 'POST', url: '/boards' })
  t.equal(made.statusCode, 200, 'a POST refused with 401 is retried too (Miro refused it before doing anything)')
  t.same(made.json(), { name: 'made after a 401' })
  t.same(refreshCalls(sandbox), [true, true])
  t.equal(sandbox.users.length, 1)
})

t.test('non-expiring tokens (no refresh token) that Miro revoked: deleted without a refresh', async (t) => {
  const sandbox = await startSandbox({ expiresIn: null })
  t.teardown(() => sandbox.close())
  const { app, data } = await appWith(t, sandbox)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  await revokeAtMiro(sandbox, data.get('u1')!.accessToken)
  const res = await app.inject('/boards')
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'FST_MIRO_NOT_AUTHORIZED')
  t.same(refreshCalls(sandbox), [], 'nothing to refresh with')
  t.equal(data.has('u1'), false)
})

t.test('other API errors pass through as the SDK throws them', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const { app, data } = await appWith(t, sandbox)
  await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
  t.same((await app.inject('/raw')).json(), { http: true, status: 404 })
  t.same(refreshCalls(sandbox), [], 'a 404 refreshes nothing')
  t.equal(data.has('u1'), true, 'and deletes nothing')
})

// lib/api-auth.ts gives each call a `this` of its own with copies of the low-level API's fields
// (API_FIELDS), not an object made from the API itself: this holds while the SDK's low-level API
// has exactly those fields and its methods read no other. An SDK upgrade that adds one fails here.
t.test('the low-level API has exactly the fields each call copies, and its methods read no others', async (t) => {
  const api = new MiroLowlevelApi(async () => 'token', 'http://127.0.0.1:1', () => {}, 1000)
  t.same(Object.keys(api).sort(), [...API_FIELDS].sort(), 'its own fields are the copied ones')
  const read = new Set<string>()
  const proto = Object.getPrototypeOf(api) as Record<string, unknown>
  const methods = Object.getOwnPropertyNames(proto).filter((name) => name !== 'constructor' && typeof proto[name] === 'function')
  for (const name of methods) {
    for (const match of String(proto[name]).matchAll(/\bthis\.([A-Za-z_$][\w$]*)/g)) read.add(match[1] as string)
  }
  t.ok(methods.length > 100, `${methods.length} methods looked at`)
  t.same([...read].filter((field) => !(API_FIELDS as readonly string[]).includes(field)), [], 'no method reads another field of `this`')
})
