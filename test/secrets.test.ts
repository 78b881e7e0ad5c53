// No client secret, access token, refresh token or authorization code in any log line (any
// level), error message or response body: through login, refresh, failed refresh, failed
// exchange, logout, and HTTP client errors (whose raw messages carry URLs).
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { startSandbox } from '../sandbox/index'
import type { MiroTokenState } from '../index'
import { Browser, buildApp, pathOf } from './helpers/app'
import { PAST } from './helpers/expiry'

t.test('secrets never reach logs, errors or responses', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const lines: string[] = []
  const consoleLines: string[] = []
  const realLog = console.log
  const realWarn = console.warn
  console.log = (...args: unknown[]) => { consoleLines.push(args.map(String).join(' ')) }
  console.warn = (...args: unknown[]) => { consoleLines.push(args.map(String).join(' ')) }
  process.env.MIRO_DEBUG = '1' // the SDK would console.log request options, bearer token included
  t.teardown(() => { console.log = realLog; console.warn = realWarn; delete process.env.MIRO_DEBUG })

  const app = await buildApp({ sandbox, logLines: lines, miro: { httpTimeout: 500 } })
  t.teardown(() => app.close())
  app.get('/me', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miroApi().getAllBoards()) names.push(board.name ?? '')
    return names
  })
  // Test-only routes: read or age the state (their answers are not searched).
  app.get('/state', async (request) => await request.miro.getState('x') ?? null)
  app.post('/expire', async (request) => {
    const state = await request.miro.getState('x')
    await request.miro.setState('x', { ...state!, tokenExpiresAt: PAST() })
    return ''
  })

  const secrets = new Set<string>([sandbox.clientSecret])
  const searched: LightMyRequestResponse[] = []
  const browser = new Browser(app)
  const get = async (url: string, headers?: Record<string, string>) => { const r = await browser.get(url, headers); searched.push(r); return r }
  const post = async (url: string) => { const r = await browser.request({ method: 'POST', url }); searched.push(r); return r }
  const remember = async () => {
    const state = (await browser.get('/state')).json() as MiroTokenState | null
    if (state) { secrets.add(state.accessToken); if (state.refreshToken) secrets.add(state.refreshToken) }
    return state
  }
  const consent = async () => {
    const start = await get('/auth/miro')
    const back = new URL(await sandbox.approve(String(start.headers.location)))
    secrets.add(back.searchParams.get('code') ?? '')
    return back
  }

  // Login, API call, refresh.
  const first = await consent()
  t.equal((await get(pathOf(first.toString()))).statusCode, 302)
  const state1 = await remember()
  t.equal((await get('/me')).statusCode, 200)
  await post('/expire')
  t.equal((await get('/me')).statusCode, 200)
  await remember()

  // Failed refresh: the refresh token was rotated away elsewhere.
  await post('/expire')
  const stolen = (await browser.get('/state')).json() as MiroTokenState
  const rotated = await (await fetch(`${sandbox.url}/v1/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stolen.refreshToken ?? '', client_id: sandbox.clientId, client_secret: sandbox.clientSecret })
  })).json() as { access_token: string, refresh_token: string }
  secrets.add(rotated.access_token).add(rotated.refresh_token)
  t.equal((await get('/me')).statusCode, 401)

  // Failed exchanges: a replayed code, then Miro answering 503, then Miro too slow.
  const second = await consent()
  t.equal((await get(pathOf(second.toString()))).statusCode, 302)
  await remember()
  const third = await consent()
  const replay = new URL(third)
  replay.searchParams.set('code', second.searchParams.get('code') ?? '')
  t.equal((await get(pathOf(replay.toString()))).statusCode, 400)
  sandbox.failTokenEndpoint({ status: 503, times: 1 })
  const fourth = await consent()
  t.equal((await get(pathOf(fourth.toString()))).statusCode, 502)
  sandbox.failTokenEndpoint({ delayMs: 1500, times: 1 })
  const fifth = await consent()
  t.equal((await get(pathOf(fifth.toString()))).statusCode, 504)

  // Logout.
  const sixth = await consent()
  t.equal((await get(pathOf(sixth.toString()))).statusCode, 302)
  await remember()
  t.equal((await post('/auth/miro/logout')).statusCode, 204)

  // Miro unreachable (the HTTP client's own error message holds the token URL).
  const seventh = await consent()
  await get(pathOf(seventh.toString()))
  await remember()
  await post('/expire')
  await sandbox.close()
  const refused = await get('/me')
  t.equal(refused.statusCode, 502)
  await post('/auth/miro/logout')

  t.ok(state1 !== null && secrets.size >= 12, `collected ${secrets.size} secrets`)
  t.ok(lines.length > 50, `searched ${lines.length} log lines`)
  for (const secret of secrets) {
    t.ok(secret.length >= 16, 'a real secret value')
    const inLog = lines.find((l) => l.includes(secret))
    t.equal(inLog, undefined, 'not in any log line')
    t.equal(consoleLines.find((l) => l.includes(secret)), undefined, 'not on the console')
    t.equal(searched.find((r) => r.body.includes(secret) || JSON.stringify(r.headers).includes(secret))?.body, undefined, 'not in any response')
  }
})
