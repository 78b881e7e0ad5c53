import t, { type Test } from 'tap'
import { request, Agent } from 'node:http'
import { createVerifier } from 'fast-jwt'
import { Miro, MiroApi, MiroLowlevelApi } from '@mirohq/miro-api'
import { InMemoryStorage } from '@mirohq/miro-api/dist/storage'
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/index'

type Json = Record<string, any>

const REDIRECT = 'http://localhost:3000/auth/miro/callback'

async function sandbox (t: Test, opts?: SandboxOptions): Promise<Sandbox> {
  const sb = await startSandbox(opts)
  t.teardown(() => sb.close())
  return sb
}

function authorizeUrl (sb: Sandbox, params: Record<string, string> = {}): string {
  const url = new URL('/oauth/authorize', sb.url)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: sb.clientId,
    redirect_uri: REDIRECT,
    state: 'st4te',
    team_id: '',
    ...params
  }).toString()
  return url.toString()
}

async function codeFor (sb: Sandbox, opts?: Parameters<Sandbox['approve']>[1]): Promise<string> {
  const location = await sb.approve(authorizeUrl(sb), opts)
  const code = new URL(location).searchParams.get('code')
  if (!code) throw new Error(`no code in ${location}`)
  return code
}

async function postForm (url: string, params: Record<string, string>): Promise<{ status: number, body: Json, text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params)
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : {}, text }
}

function exchange (sb: Sandbox, code: string, extra: Record<string, string> = {}): ReturnType<typeof postForm> {
  return postForm(`${sb.url}/v1/oauth/token`, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    client_id: sb.clientId,
    client_secret: sb.clientSecret,
    ...extra
  })
}

function refresh (sb: Sandbox, refreshToken: string): ReturnType<typeof postForm> {
  return postForm(`${sb.url}/v1/oauth/token`, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: sb.clientId,
    client_secret: sb.clientSecret
  })
}

async function login (sb: Sandbox, opts?: Parameters<Sandbox['approve']>[1]): Promise<Json> {
  const { status, body } = await exchange(sb, await codeFor(sb, opts))
  if (status !== 200) throw new Error(`token exchange failed: ${status}`)
  return body
}

async function getJson (url: string, token?: string): Promise<{ status: number, body: Json }> {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() as Json }
}

t.test('defaults and option checks', async (t) => {
  const sb = await sandbox(t)
  t.match(sb.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(sb.clientId, 'sandbox-client-id')
  t.equal(sb.clientSecret, 'sandbox-client-secret')
  t.equal(sb.users.length, 1)
  t.equal(sb.users[0]?.name, 'Sandbox User')
  t.match(sb.users[0]?.id, /^3458764\d{12}$/)
  t.match(sb.users[0]?.teamId, /^3458764\d{12}$/)
  t.not(sb.users[0]?.id, sb.users[0]?.teamId)

  const custom = await sandbox(t, {
    clientId: 'my-id',
    clientSecret: 'my-secret',
    users: [{ name: 'Ada', id: '42', teamId: '7', teamName: 'Engines' }, { name: 'Bob' }]
  })
  t.equal(custom.clientId, 'my-id')
  t.same(custom.users[0], { id: '42', name: 'Ada', teamId: '7', teamName: 'Engines' })
  t.match(custom.users[1], { name: 'Bob', teamId: '7', teamName: 'Engines' }, 'users without a team join the first team')

  await t.rejects(startSandbox({ expiresIn: 0 }), { name: 'TypeError', message: /expiresIn/ })
  await t.rejects(startSandbox({ users: [] }), { name: 'TypeError', message: /users/ })
})

t.test('consent page', async (t) => {
  const sb = await sandbox(t)
  // The real SDK builds the authorize URL from basePath; it must land on the sandbox.
  const miro = new Miro({ clientId: sb.clientId, clientSecret: sb.clientSecret, redirectUrl: REDIRECT, basePath: sb.url, storage: new InMemoryStorage() })
  const url = miro.getAuthUrl('st4te')
  t.ok(url.startsWith(`${sb.url}/oauth/authorize?`), url)

  const res = await fetch(url)
  const html = await res.text()
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/html/)
  t.match(res.headers.get('content-security-policy'), /default-src 'none'/)
  t.match(html, /<button[^>]*value="allow">Allow<\/button>/)
  t.match(html, /<button[^>]*value="deny">Deny<\/button>/)
  t.match(html, /<label for="name">Your name<\/label>/)
  t.match(html, /<input type="text" id="name" name="name" value="Sandbox User"/)
  t.match(html, /<form method="post" action="\/oauth\/authorize">/)
  t.match(html, /name="state" value="st4te"/)
  t.match(html, new RegExp(`name="redirect_uri" value="${REDIRECT.replace(/[/.]/g, '\\$&')}"`))
  t.ok(html.indexOf('>Allow<') < html.indexOf('>Deny<'), 'Allow is the first submit button, so Enter allows')

  const unknown = await fetch(authorizeUrl(sb, { client_id: 'someone-else' }))
  t.equal(unknown.status, 400)
  t.match(await unknown.text(), /Unknown app[\s\S]*someone-else/)

  const noRedirect = await fetch(`${sb.url}/oauth/authorize?response_type=code&client_id=${sb.clientId}`)
  t.equal(noRedirect.status, 400)
  t.match(await noRedirect.text(), /Missing redirect_uri/)

  const badRedirect = await fetch(authorizeUrl(sb, { redirect_uri: 'javascript:alert(1)' }))
  t.equal(badRedirect.status, 400)
  t.match(await badRedirect.text(), /Invalid redirect_uri/)

  const badType = await fetch(authorizeUrl(sb, { response_type: 'token' }))
  t.equal(badType.status, 400)

  // The form POST re-checks the request: a forged one cannot redirect anywhere.
  const forged = await fetch(`${sb.url}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'other', redirect_uri: REDIRECT, decision: 'allow' })
  })
  t.equal(forged.status, 400)
  const noDecision = await fetch(`${sb.url}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: sb.clientId, redirect_uri: REDIRECT, decision: 'maybe' })
  })
  t.equal(noDecision.status, 400)
  t.match(await noDecision.text(), /Choose Allow or Deny/)

  const escaped = await (await fetch(authorizeUrl(sb, { state: '"><script>x</script>' }))).text()
  t.notMatch(escaped, /<script>/, 'state is escaped into the page')
})

t.test('approve and deny', async (t) => {
  const sb = await sandbox(t)

  const location = new URL(await sb.approve(authorizeUrl(sb)))
  t.equal(`${location.origin}${location.pathname}`, REDIRECT)
  t.equal(location.searchParams.get('state'), 'st4te')
  t.match(location.searchParams.get('code'), /^[\w-]{20,}$/)

  const noState = new URL(await sb.approve(authorizeUrl(sb, { state: '' })))
  t.notOk(noState.searchParams.has('state'), 'empty state is left out')
  t.ok(noState.searchParams.has('code'))

  const keepsQuery = new URL(await sb.approve(authorizeUrl(sb, { redirect_uri: `${REDIRECT}?next=%2Fhome` })))
  t.equal(keepsQuery.searchParams.get('next'), '/home', 'the redirect_uri keeps its own query')

  const denied = new URL(await sb.deny(authorizeUrl(sb)))
  t.equal(denied.searchParams.get('error'), 'access_denied')
  t.ok(denied.searchParams.get('error_description'))
  t.equal(denied.searchParams.get('state'), 'st4te')
  t.notOk(denied.searchParams.has('code'))

  // A new name on the page creates a user in the default team, with a first board.
  const grace = await login(sb, { userName: 'Grace' })
  t.equal(sb.users.length, 2)
  const created = sb.users[1]
  t.equal(created?.name, 'Grace')
  t.equal(grace.user_id, created?.id)
  t.equal(grace.team_id, sb.users[0]?.teamId)
  const boards = await getJson(`${sb.url}/v2/boards`, grace.access_token)
  t.same(boards.body.data.map((b: Json) => b.name), ["Grace's first board"])

  // The same name again is the same user; userId picks an exact user.
  t.equal((await login(sb, { userName: 'Grace' })).user_id, created?.id)
  t.equal((await login(sb, { userId: sb.users[0]?.id ?? '' })).user_id, sb.users[0]?.id)
  t.equal(sb.users.length, 2)

  // A new name with a known team_id joins that team.
  const teams = await sandbox(t, { users: [{ name: 'Ada', teamId: '11' }, { name: 'Bob', teamId: '22', teamName: 'Other' }] })
  const carl = await login(teams, { userName: 'Carl' })
  t.equal(carl.team_id, '11', 'default team without team_id')
  const dora = await exchange(teams, new URL(await teams.approve(authorizeUrl(teams, { team_id: '22' }), { userName: 'Dora' })).searchParams.get('code') ?? '')
  t.match(dora.body, { team_id: '22' })
  t.match(teams.users.at(-1), { name: 'Dora', teamId: '22', teamName: 'Other' })

  await t.rejects(sb.approve(authorizeUrl(sb), { userId: 'nope' }), { message: /Unknown user/ })
  await t.rejects(sb.approve(authorizeUrl(sb, { client_id: 'other' })), { message: /400 Unknown app/ })
  await t.rejects(sb.approve('https://miro.com/oauth/authorize?client_id=x'), { message: /not this sandbox/ })
})

t.test('authorization code exchange (form body)', async (t) => {
  const sb = await sandbox(t)
  const code = await codeFor(sb)
  const first = await exchange(sb, code)
  t.equal(first.status, 200)
  t.match(first.body, {
    access_token: /^[\w-]{20,}$/,
    refresh_token: /^[\w-]{20,}$/,
    expires_in: 3599,
    token_type: 'bearer',
    scope: 'boards:read boards:write',
    user_id: sb.users[0]?.id,
    team_id: sb.users[0]?.teamId
  })
  t.not(first.body.access_token, first.body.refresh_token)
  t.same(sb.accessTokensOf(sb.users[0]?.id ?? ''), [first.body.access_token])

  const again = await exchange(sb, code)
  t.equal(again.status, 400, 'a code works once')
  t.match(again.body, { error: 'invalid_grant', status: 400, type: 'error', error_description: String, message: String })

  const unknown = await exchange(sb, 'made-up')
  t.match(unknown, { status: 400, body: { error: 'invalid_grant' } })

  t.match(sb.tokenCalls, [
    { grantType: 'authorization_code', ok: true, status: 200, secretInQuery: false, at: Number },
    { grantType: 'authorization_code', ok: false, status: 400, error: 'invalid_grant', secretInQuery: false },
    { grantType: 'authorization_code', ok: false, status: 400, error: 'invalid_grant' }
  ])
  t.notOk('error' in (sb.tokenCalls[0] ?? {}), 'no error key on success')
})

t.test('token call with parameters in the query string, as the SDK sends them', async (t) => {
  const sb = await sandbox(t)
  const code = await codeFor(sb)
  const url = new URL('/v1/oauth/token', sb.url)
  url.search = new URLSearchParams({
    code,
    client_id: sb.clientId,
    client_secret: sb.clientSecret,
    redirect_uri: REDIRECT,
    grant_type: 'authorization_code'
  }).toString()
  const res = await fetch(url, { method: 'post' })
  t.equal(res.status, 200)
  t.match(await res.json(), { access_token: String, user_id: sb.users[0]?.id })
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.match(sb.tokenCalls, [{ grantType: 'authorization_code', ok: true, secretInQuery: true }])
})

t.test('client authentication and request checks', async (t) => {
  const sb = await sandbox(t)
  const code = await codeFor(sb)

  const badSecret = await exchange(sb, code, { client_secret: 'wrong-secret-value' })
  t.equal(badSecret.status, 401)
  t.match(badSecret.body, { error: 'invalid_client', status: 401, type: 'error' })
  t.notMatch(badSecret.text, /wrong-secret-value|sandbox-client-secret/, 'no secret in the error body')

  const badId = await exchange(sb, code, { client_id: 'other-app' })
  t.equal(badId.status, 401)

  const basic = await fetch(`${sb.url}/v1/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(`${sb.clientId}:${sb.clientSecret}`).toString('base64')
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
  })
  t.equal(basic.status, 200, 'HTTP Basic client credentials work too, and failed attempts did not burn the code')

  const noGrant = await postForm(`${sb.url}/v1/oauth/token`, { client_id: sb.clientId, client_secret: sb.clientSecret })
  t.match(noGrant, { status: 400, body: { error: 'invalid_request' } })
  const oddGrant = await postForm(`${sb.url}/v1/oauth/token`, { grant_type: 'password', client_id: sb.clientId, client_secret: sb.clientSecret })
  t.match(oddGrant, { status: 400, body: { error: 'unsupported_grant_type' } })
})

t.test('redirect_uri must match the authorization request', async (t) => {
  const sb = await sandbox(t)
  const code = await codeFor(sb)
  const other = await exchange(sb, code, { redirect_uri: 'http://localhost:3000/elsewhere' })
  t.match(other, { status: 400, body: { error: 'invalid_grant', error_description: /redirect_uri/ } })
  const missing = await postForm(`${sb.url}/v1/oauth/token`, {
    grant_type: 'authorization_code', code, client_id: sb.clientId, client_secret: sb.clientSecret
  })
  t.match(missing, { status: 400, body: { error: 'invalid_grant' } })
  t.equal((await exchange(sb, code)).status, 200, 'the right redirect_uri still works')
})

t.test('expiry follows the sandbox clock', async (t) => {
  let now = Date.UTC(2025, 0, 1)
  const sb = await sandbox(t, { now: () => now, expiresIn: 60 })
  const stale = await codeFor(sb)
  now += 10 * 60 * 1000 + 1
  t.match(await exchange(sb, stale), { status: 400, body: { error: 'invalid_grant' } }, 'codes live 10 minutes')

  const tokens = await login(sb)
  t.equal(tokens.expires_in, 60)
  t.equal((await getJson(`${sb.url}/v2/boards`, tokens.access_token)).status, 200)
  now += 60 * 1000
  const expired = await getJson(`${sb.url}/v2/boards`, tokens.access_token)
  t.match(expired, { status: 401, body: { code: 'invalidToken' } })
  t.same(sb.accessTokensOf(sb.users[0]?.id ?? ''), [])
  t.equal((await refresh(sb, tokens.refresh_token)).status, 200, 'the refresh token outlives the access token')
  t.equal(sb.tokenCalls[0]?.at, Date.UTC(2025, 0, 1) + 10 * 60 * 1000 + 1, 'tokenCalls use the sandbox clock')
})

t.test('refresh token rotation', async (t) => {
  const sb = await sandbox(t)
  const first = await login(sb)

  const second = await refresh(sb, first.refresh_token)
  t.equal(second.status, 200)
  t.match(second.body, { access_token: String, refresh_token: String, expires_in: 3599, user_id: sb.users[0]?.id, team_id: sb.users[0]?.teamId })
  t.not(second.body.access_token, first.access_token)
  t.not(second.body.refresh_token, first.refresh_token)

  const reuse = await refresh(sb, first.refresh_token)
  t.match(reuse, { status: 400, body: { error: 'invalid_grant', status: 400, type: 'error' } }, 'a used refresh token is dead')

  const boards = (token: string): Promise<{ status: number }> => getJson(`${sb.url}/v2/boards`, token)
  t.equal((await boards(second.body.access_token)).status, 200, 'the new access token works')
  t.equal((await boards(first.access_token)).status, 200, 'the old access token lives until its own expiry')
  t.equal(sb.accessTokensOf(sb.users[0]?.id ?? '').length, 2)

  t.equal((await refresh(sb, second.body.refresh_token)).status, 200, 'the new refresh token works once')
  t.match(sb.tokenCalls.map((c) => [c.grantType, c.status]), [
    ['authorization_code', 200], ['refresh_token', 200], ['refresh_token', 400], ['refresh_token', 200]
  ])
})

t.test('non-expiring mode', async (t) => {
  const sb = await sandbox(t, { expiresIn: null })
  const tokens = await login(sb)
  t.ok(tokens.access_token)
  t.notOk('refresh_token' in tokens, 'no refresh_token')
  t.notOk('expires_in' in tokens, 'no expires_in')
  t.match(tokens, { token_type: 'bearer', user_id: sb.users[0]?.id, team_id: sb.users[0]?.teamId })
  t.equal((await getJson(`${sb.url}/v2/boards`, tokens.access_token)).status, 200)
  t.match(await refresh(sb, 'anything'), { status: 400, body: { error: 'invalid_grant' } })
})

t.test('revoke (v2, through the SDK low-level client)', async (t) => {
  const sb = await sandbox(t)
  const tokens = await login(sb)
  const api = new MiroLowlevelApi(tokens.access_token, sb.url)

  const wrong = api.revokeTokenV2({ accessToken: tokens.access_token, clientId: sb.clientId, clientSecret: 'nope' })
  // The spec declares 204 and 404 only for this operation.
  await t.rejects(wrong, { name: 'HttpError', statusCode: 404, body: { error: 'invalid_client', code: 'invalid_client' } })
  t.equal((await getJson(`${sb.url}/v2/boards`, tokens.access_token)).status, 200, 'a refused revoke changes nothing')

  const { response } = await api.revokeTokenV2({ accessToken: tokens.access_token, clientId: sb.clientId, clientSecret: sb.clientSecret })
  t.equal(response.status, 204)
  t.match(await getJson(`${sb.url}/v2/boards`, tokens.access_token), { status: 401, body: { code: 'invalidToken' } })
  t.match(await refresh(sb, tokens.refresh_token), { status: 400, body: { error: 'invalid_grant' } }, 'the grant refresh token died too')
  t.same(sb.accessTokensOf(sb.users[0]?.id ?? ''), [])
  t.match(sb.revokeCalls, [{ ok: false, at: Number }, { ok: true, at: Number }])

  const noToken = await fetch(`${sb.url}/v2/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: sb.clientId, clientSecret: sb.clientSecret })
  })
  t.match({ status: noToken.status, body: await noToken.json() }, { status: 404, body: { error: 'invalid_request' } })

  const unknown = await fetch(`${sb.url}/v2/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accessToken: 'never-issued', clientId: sb.clientId, clientSecret: sb.clientSecret })
  })
  t.equal(unknown.status, 204, 'unknown tokens revoke quietly (RFC 7009)')
  const notJson = await fetch(`${sb.url}/v2/oauth/revoke`, { method: 'POST', body: 'x' })
  t.match({ status: notJson.status, body: await notJson.json() }, { status: 404, body: { type: 'error', code: 'invalidBody' } })
})

t.test('revoke (v1, what the SDK\'s Miro.revokeToken calls)', async (t) => {
  const sb = await sandbox(t)
  const tokens = await login(sb)
  const storage = new InMemoryStorage()
  await storage.set('u1', { userId: tokens.user_id, accessToken: tokens.access_token, refreshToken: tokens.refresh_token })
  const miro = new Miro({ clientId: sb.clientId, clientSecret: sb.clientSecret, redirectUrl: REDIRECT, basePath: sb.url, storage })
  await miro.revokeToken('u1')
  t.equal(await storage.get('u1'), undefined, 'the SDK cleared its storage: the revoke succeeded')
  t.match(await getJson(`${sb.url}/v2/boards`, tokens.access_token), { status: 401, body: { code: 'invalidToken' } }, 'the token is dead')
  t.match(await refresh(sb, tokens.refresh_token), { status: 400, body: { error: 'invalid_grant' } }, 'and its grant\'s refresh token')
  await t.rejects(new MiroLowlevelApi(tokens.access_token, sb.url).revokeToken(tokens.access_token), { name: 'HttpError', statusCode: 400 }, 'a dead token: 400, as the spec declares')
  t.match(sb.revokeCalls, [{ ok: true }, { ok: false }])
})

t.test('token context: GET /v1/oauth-token', async (t) => {
  const sb = await sandbox(t, { users: [{ name: 'Ada', teamName: 'Engines' }] })
  const tokens = await login(sb)
  const api = new MiroLowlevelApi(tokens.access_token, sb.url)
  const { body } = await api.tokenInfo()
  const ada = sb.users[0]
  t.match(body, {
    type: 'oauth_token',
    team: { id: ada?.teamId, name: 'Engines' },
    user: { id: ada?.id, name: 'Ada' },
    createdBy: { id: ada?.id, name: 'Ada' },
    scopes: ['boards:read', 'boards:write'],
    organization: { type: 'organization', name: 'Sandbox Organization', id: /^\d{19}$/ }
  })
  // The spec declares 400, not 401, for a bad token on this operation.
  await t.rejects(new MiroLowlevelApi('bad', sb.url).tokenInfo(), { name: 'HttpError', statusCode: 400, body: { code: 'invalidToken' } })
})

t.test('boards through the real MiroApi', async (t) => {
  const sb = await sandbox(t, { users: [{ name: 'Ada' }, { name: 'Bob' }] })
  const ada = await login(sb, { userName: 'Ada' })
  const bob = await login(sb, { userName: 'Bob' })
  const api = new MiroApi(ada.access_token, sb.url)

  const created = await api.createBoard({ name: 'Plans', description: 'Q3' })
  t.match(created, { name: 'Plans', description: 'Q3', type: 'board', id: /^uXjV.{7}=$/ })
  t.match(created.owner, { id: sb.users[0]?.id, name: 'Ada', type: 'user' })
  t.match(created.team, { id: sb.users[0]?.teamId, type: 'team' })
  t.ok(created.createdAt instanceof Date && !Number.isNaN(created.createdAt.getTime()), 'createdAt parses as a date')

  const fetched = await api.getBoard(created.id)
  t.equal(fetched.name, 'Plans')
  t.equal(fetched.viewLink, `${sb.url}/app/board/${encodeURIComponent(created.id)}/`)

  // 25 boards: more than one page of 20, so getAllBoards must paginate.
  for (let i = 0; i < 23; i++) await api.createBoard({ name: `Board ${i}` })
  const names: string[] = []
  for await (const board of api.getAllBoards()) names.push(board.name)
  t.equal(names.length, 25)
  t.equal(names[0], "Ada's first board")
  t.equal(new Set(names).size, 25, 'no board twice')

  const page = await getJson(`${sb.url}/v2/boards?offset=20&limit=20`, ada.access_token)
  t.match(page.body, { total: 25, size: 5, offset: 20, limit: 20, type: 'list', links: { self: String, first: String, last: String, prev: String } })
  t.notOk('next' in page.body.links, 'no next link on the last page')
  t.match(await getJson(`${sb.url}/v2/boards?limit=51`, ada.access_token), { status: 400, body: { type: 'error', code: 'invalidParameters' } })

  // Bob sees only his own board, and Ada's boards are 404 to him.
  const bobApi = new MiroApi(bob.access_token, sb.url)
  const bobs: string[] = []
  for await (const board of bobApi.getAllBoards()) bobs.push(board.name)
  t.same(bobs, ["Bob's first board"])
  await t.rejects(bobApi.getBoard(created.id), { name: 'HttpError', statusCode: 404, body: { type: 'error', status: 404, code: 'notFound' } })

  const created201 = await fetch(`${sb.url}/v2/boards`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ada.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x'.repeat(61) })
  })
  t.equal(created201.status, 400, 'names longer than 60 characters are refused')
})

t.test('Miro.as(userId) reaches the sandbox through basePath', async (t) => {
  const sb = await sandbox(t)
  const tokens = await login(sb)
  const storage = new InMemoryStorage()
  await storage.set('session-1', {
    userId: tokens.user_id,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    tokenExpiresAt: new Date(Date.now() + (tokens.expires_in - 120) * 1000).toISOString()
  })
  const miro = new Miro({ clientId: sb.clientId, clientSecret: sb.clientSecret, redirectUrl: REDIRECT, basePath: sb.url, storage })
  t.equal(await miro.isAuthorized('session-1'), true)
  const board = await miro.as('session-1').createBoard({ name: 'From Miro.as' })
  t.equal((await miro.as('session-1').getBoard(board.id)).name, 'From Miro.as')
  t.equal(sb.tokenCalls.length, 1, 'an unexpired token needs no token call')
})

t.test('401 on missing or bad tokens, 404 elsewhere', async (t) => {
  const sb = await sandbox(t)
  t.same(await getJson(`${sb.url}/v2/boards`), {
    status: 401,
    body: { type: 'error', status: 401, code: 'tokenNotProvided', message: 'No authorization token was found' }
  })
  t.match(await getJson(`${sb.url}/v2/boards`, 'made-up'), { status: 401, body: { type: 'error', status: 401, code: 'invalidToken', message: String } })
  await t.rejects(new MiroApi('made-up', sb.url).getBoard('uXjVAAAAAAA='), { name: 'HttpError', statusCode: 401, body: { code: 'invalidToken' } })
  await t.rejects(async () => {
    for await (const board of new MiroApi('made-up', sb.url).getAllBoards()) t.fail(`unexpected ${board.id}`)
  }, { name: 'HttpError', statusCode: 401 })
  t.match(await getJson(`${sb.url}/v2/anything`), { status: 404, body: { type: 'error', status: 404, code: 'notFound', message: /GET \/v2\/anything/ } })
  t.match(await getJson(`${sb.url}/v1/oauth/revoke`), { status: 404 })
})

t.test('failTokenEndpoint: injected status', async (t) => {
  const sb = await sandbox(t)
  const tokens = await login(sb)
  sb.failTokenEndpoint({ status: 503, times: 1 })
  const failed = await refresh(sb, tokens.refresh_token)
  t.equal(failed.status, 503)
  t.match(failed.body, { error: 'server_error', status: 503, type: 'error', message: String, error_description: String })
  const after = await refresh(sb, tokens.refresh_token)
  t.equal(after.status, 200, 'times: 1 fails once; the injected failure did not consume the refresh token')

  sb.failTokenEndpoint({ status: 429 })
  t.equal((await refresh(sb, after.body.refresh_token)).status, 429)
  t.equal((await refresh(sb, after.body.refresh_token)).status, 429, 'without times, it keeps failing')
  sb.failTokenEndpoint(null)
  t.equal((await refresh(sb, after.body.refresh_token)).status, 200, 'null resets')

  t.match(sb.tokenCalls.slice(1).map((c) => [c.status, c.ok, c.error]), [
    [503, false, 'server_error'], [200, true, undefined], [429, false, 'too_many_requests'], [429, false, 'too_many_requests'], [200, true, undefined]
  ])
  t.throws(() => sb.failTokenEndpoint({ times: 2 }), TypeError)
})

t.test('failTokenEndpoint: delay', async (t) => {
  const sb = await sandbox(t)
  const code = await codeFor(sb)
  sb.failTokenEndpoint({ delayMs: 300, times: 1 })
  const started = Date.now()
  const slow = await exchange(sb, code)
  t.ok(Date.now() - started >= 290, `waited ${Date.now() - started} ms`)
  t.equal(slow.status, 200, 'answers normally after the delay')

  const started2 = Date.now()
  t.equal((await refresh(sb, slow.body.refresh_token)).status, 200)
  t.ok(Date.now() - started2 < 250, 'times: 1 delays only one call')

  // close() must not wait for a request hanging in a delay.
  const other = await startSandbox()
  other.failTokenEndpoint({ delayMs: 60_000 })
  const hanging = postForm(`${other.url}/v1/oauth/token`, { grant_type: 'refresh_token' }).catch((err: Error) => err)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const closing = Date.now()
  await other.close()
  t.ok(Date.now() - closing < 1000, 'close() returns at once')
  t.type(await hanging, Error, 'the hanging request is cut off')
})

/** Polls until `check()` holds; bounded (5 s) so a broken sandbox fails the test instead of hanging it. */
async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('failTokenEndpoint: answerDelayMs (Miro rotates, then answers late)', async (t) => {
  const sb = await sandbox(t)
  const userId = sb.users[0]?.id ?? ''
  const first = await login(sb)
  t.same(sb.refreshTokensOf(userId), [first.refresh_token])

  // A client that gives up while the answer is held back.
  sb.failTokenEndpoint({ answerDelayMs: 1500, times: 1 })
  const abort = new AbortController()
  const sent = Date.now()
  const given = fetch(`${sb.url}/v1/oauth/token`, {
    method: 'POST',
    signal: abort.signal,
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: sb.clientId, client_secret: sb.clientSecret })
  }).then(() => 'answered', (err: Error) => err.name)
  await until(() => sb.tokenCalls.length === 2, 'the refresh to be handled')
  t.ok(Date.now() - sent < 1000, `handled at once (${Date.now() - sent} ms), not after the answer delay`)
  const call = sb.tokenCalls[1]
  t.match(call, { grantType: 'refresh_token', ok: true, status: 200, lateAnswer: 'pending' }, 'recorded when handled, the answer still pending')
  const [rotated, ...others] = sb.refreshTokensOf(userId)
  t.ok(rotated !== undefined && rotated !== first.refresh_token && others.length === 0, 'the old refresh token is dead, the new one live, before the answer')
  const fresh = sb.accessTokensOf(userId).find((token) => token !== first.access_token) ?? ''
  t.equal((await getJson(`${sb.url}/v2/boards`, fresh)).status, 200, 'the new access token works before the answer')
  t.equal(call?.lateAnswer, 'pending', 'all of that happened before the answer was sent')
  abort.abort()
  t.equal(await given, 'AbortError')
  await until(() => call?.lateAnswer !== 'pending', 'the held-back answer')
  t.equal(call?.lateAnswer, 'lost', 'the answer found the client gone')
  t.match(await refresh(sb, first.refresh_token), { status: 400, body: { error: 'invalid_grant' } },
    'retrying with the refresh token it still has gets invalid_grant: the pair is lost')
  t.same(sb.refreshTokensOf(userId), [rotated], 'the lost pair stays live at Miro, unreachable')

  // A client that waits gets the pair that was live all along; a code is consumed at once.
  const code = await codeFor(sb)
  sb.failTokenEndpoint({ answerDelayMs: 300, times: 1 })
  const started = Date.now()
  const patient = exchange(sb, code)
  await until(() => sb.tokenCalls.length === 4, 'the exchange to be handled')
  t.match(await exchange(sb, code), { status: 400, body: { error: 'invalid_grant' } }, 'the code was consumed before the answer')
  const late = await patient
  t.ok(Date.now() - started >= 290, `the answer waited ${Date.now() - started} ms`)
  t.equal(late.status, 200)
  t.ok(sb.accessTokensOf(userId).includes(late.body.access_token), 'the answer carries the pair issued when handled')
  t.equal(sb.tokenCalls[3]?.lateAnswer, 'sent')
  t.notOk('lateAnswer' in (sb.tokenCalls[4] ?? {}), 'times: 1 holds back one answer, the next call answers at once')

  // delayMs and answerDelayMs together: wait, handle, wait, answer.
  sb.failTokenEndpoint({ delayMs: 100, answerDelayMs: 100, times: 1 })
  const both = Date.now()
  t.equal((await refresh(sb, late.body.refresh_token)).status, 200)
  t.ok(Date.now() - both >= 190, 'both waits add up')

  t.throws(() => sb.failTokenEndpoint({ status: 503, answerDelayMs: 100 }), { name: 'TypeError', message: /answerDelayMs.*status/ })
  t.throws(() => sb.failTokenEndpoint({ answerDelayMs: -1 }), { name: 'TypeError', message: /answerDelayMs should be/ })
  t.throws(() => sb.failTokenEndpoint({ delayMs: Number.NaN }), { name: 'TypeError', message: /delayMs should be/ })
  t.throws(() => sb.failTokenEndpoint({ status: 200 }), { name: 'TypeError', message: /400 to 599/ })
  t.throws(() => sb.failTokenEndpoint({ answerDelayMs: 10, times: 0 }), { name: 'TypeError', message: /times/ })

  // close() clears a held-back answer: nothing outlives the server.
  const other = await startSandbox()
  other.failTokenEndpoint({ answerDelayMs: 300 })
  const hanging = exchange(other, await codeFor(other)).catch((err: Error) => err)
  await until(() => other.tokenCalls.length === 1, 'the exchange to be handled')
  const closing = Date.now()
  await other.close()
  t.ok(Date.now() - closing < 1000, 'close() returns at once')
  t.type(await hanging, Error, 'the waiting request is cut off')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(other.tokenCalls[0]?.lateAnswer, 'pending', 'the answer timer was cleared: it never fired')
})

t.test('revokeUser: Miro revokes every token of a user', async (t) => {
  const sb = await sandbox(t, { users: [{ name: 'Ada' }, { name: 'Bob' }] })
  const [ada, bob] = [sb.users[0]?.id ?? '', sb.users[1]?.id ?? '']
  const one = await login(sb, { userId: ada })
  const rotated = (await refresh(sb, one.refresh_token)).body // the first access token lives on
  const two = await login(sb, { userId: ada }) // a second grant (another device)
  const bobs = await login(sb, { userId: bob })
  t.equal(sb.accessTokensOf(ada).length, 3)
  t.equal(sb.refreshTokensOf(ada).length, 2)

  t.equal(sb.revokeUser(ada), 5, 'three access tokens and two refresh tokens were live')
  for (const token of [one.access_token, rotated.access_token, two.access_token]) {
    t.same((await getJson(`${sb.url}/v2/boards`, token)).body,
      { type: 'error', status: 401, code: 'invalidToken', message: 'Invalid, expired or revoked access token' }, 'the API answers Miro\'s 401')
  }
  await t.rejects(new MiroApi(two.access_token, sb.url).getBoard('uXjVAAAAAAA='), { name: 'HttpError', statusCode: 401 }, 'through the SDK too')
  for (const token of [rotated.refresh_token, two.refresh_token]) {
    t.match(await refresh(sb, token), { status: 400, body: { error: 'invalid_grant' } }, 'refreshes answer invalid_grant')
  }
  t.same(sb.accessTokensOf(ada), [], 'no access token left live')
  t.same(sb.refreshTokensOf(ada), [], 'no refresh token left live')
  t.equal(sb.revokeUser(ada), 0, 'nothing left to revoke')

  t.equal((await getJson(`${sb.url}/v2/boards`, bobs.access_token)).status, 200, 'other users keep their tokens')
  t.same(sb.refreshTokensOf(bob), [bobs.refresh_token])
  t.equal(sb.revokeUser('no-such-user'), 0)

  const again = await login(sb, { userId: ada })
  t.equal((await getJson(`${sb.url}/v2/boards`, again.access_token)).status, 200, 'a new login makes a new grant that works')
})

t.test('numericIds: ids as bare JSON numbers with their exact digits', async (t) => {
  const ids = { ann: '3458764517517852417', bob: '3458764517517852418', team: '3458764517517852999' }
  t.equal(Number(ids.ann), Number(ids.bob), 'JSON.parse cannot tell these two apart')
  const sb = await sandbox(t, { numericIds: true, users: [{ name: 'Ann', id: ids.ann, teamId: ids.team }, { name: 'Bob', id: ids.bob }] })

  const answer = await exchange(sb, await codeFor(sb, { userId: ids.bob }))
  t.equal(answer.status, 200)
  t.match(answer.text, new RegExp(`"user_id":${ids.bob},"team_id":${ids.team}}$`), 'bare digits in the raw text')
  t.notMatch(answer.text, /"user_id":"|"team_id":"/)
  t.match(answer.body, { access_token: String, refresh_token: String, expires_in: 3599, token_type: 'bearer', scope: 'boards:read boards:write' }, 'the rest is as usual')
  const refreshed = await refresh(sb, answer.body.refresh_token)
  t.match(refreshed.text, new RegExp(`"user_id":${ids.bob},"team_id":${ids.team}}$`), 'refresh answers too')
  const created = await login(sb, { userName: 'Carl' })
  t.match(sb.users[2], { name: 'Carl', id: /^\d{19}$/ }, 'users made on the consent page get digit ids')
  t.equal(typeof created.user_id, 'number')

  const token = sb.mintIdToken({ userId: ids.ann })
  const text = Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()
  t.match(text, new RegExp(`"team":${ids.team},"user":${ids.ann},`), 'id token claims are bare digits too')
  t.match(createVerifier({ key: sb.clientSecret, algorithms: ['HS256'] })(token), { sub: sb.clientId, iss: 'miro', team: Number(ids.team), user: Number(ids.ann) },
    'and the exact text is what is signed')

  t.throws(() => sb.mintIdToken({ userId: 'user-1' }), { name: 'TypeError', message: /user id must be a string of digits/ })
  t.throws(() => sb.mintIdToken({ teamId: '007' }), { name: 'TypeError', message: /team id must be a string of digits/ })
  await t.rejects(startSandbox({ numericIds: true, users: [{ name: 'Ann', id: 'ann' }] }), { name: 'TypeError', message: /users\[0\]\.id should be a string of digits/ })
  await t.rejects(startSandbox({ numericIds: true, users: [{ name: 'Ann', teamId: '-1' }] }), { name: 'TypeError', message: /users\[0\]\.teamId/ })
})

t.test('mintIdToken', async (t) => {
  const sb = await sandbox(t)
  const user = sb.users[0]
  const verify = createVerifier({ key: sb.clientSecret, algorithms: ['HS256'] })

  const before = Math.floor(Date.now() / 1000)
  const claims = verify(sb.mintIdToken()) as Json
  t.match(claims, { sub: sb.clientId, iss: 'miro', team: user?.teamId, user: user?.id })
  t.ok(claims.iat >= before && claims.iat <= before + 2, 'iat is now')
  t.equal(claims.exp - claims.iat, 3600)
  t.notOk('nbf' in claims)
  const header = JSON.parse(Buffer.from(sb.mintIdToken().split('.')[0] ?? '', 'base64url').toString()) as Json
  t.match(header, { alg: 'HS256', typ: 'JWT' })

  const custom = verify(sb.mintIdToken({ userId: '1', teamId: '2', clientId: 'other', expiresIn: 60, iat: before, notBefore: before - 1 })) as Json
  t.same(custom, { sub: 'other', iss: 'miro', team: '2', user: '1', iat: before, exp: before + 60, nbf: before - 1 })

  t.throws(() => verify(sb.mintIdToken({ clientSecret: 'not-the-secret' })), { code: 'FAST_JWT_INVALID_SIGNATURE' })
  t.throws(() => verify(sb.mintIdToken({ iat: before - 7200 })), { code: 'FAST_JWT_EXPIRED' })
  t.throws(() => verify(sb.mintIdToken({ notBefore: before + 600 })), { code: 'FAST_JWT_INACTIVE' })
})

t.test('keep-alive connections do not hold up close()', async (t) => {
  const sb = await startSandbox()
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const get = (): Promise<number> => new Promise((resolve, reject) => {
    request(`${sb.url}/v2/boards`, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject).end()
  })
  t.equal(await get(), 401)
  t.equal(await get(), 401)
  const sockets = Object.values(agent.freeSockets).flat().length
  t.equal(sockets, 1, 'one idle keep-alive socket is reused')
  const started = Date.now()
  await sb.close()
  t.ok(Date.now() - started < 1000, 'close() does not wait for the idle socket')
  await sb.close() // a second close is harmless
  await t.rejects(fetch(`${sb.url}/v2/boards`), 'the server is gone')
})
