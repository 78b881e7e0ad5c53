// PKCE (RFC 7636, S256) end to end: the plugin's login sends a code_challenge, its callback the
// code_verifier, through the real SDK against the sandbox, which checks them (sandbox/pkce.ts).
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { Browser, REDIRECT_URL, boardNames, buildApp, pathOf } from './helpers/app'
import type { FastifyMiroOptions } from '../index'

async function setup (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions) {
  const app = await buildApp({ sandbox, miro })
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  t.teardown(() => app.close())
  return app
}

async function tokenCall (sandbox: Sandbox, params: Record<string, string>): Promise<{ status: number, error?: string, description?: string }> {
  const res = await fetch(`${sandbox.url}/v1/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: sandbox.clientId, client_secret: sandbox.clientSecret, redirect_uri: REDIRECT_URL, ...params })
  })
  const body = await res.json() as { error?: string, error_description?: string, message?: string }
  return { status: res.status, ...(body.error ? { error: body.error } : {}), ...(body.error_description ?? body.message ? { description: body.error_description ?? body.message } : {}) }
}

/** A code from the sandbox's consent page (Allow) for an authorization request with these extra parameters. */
async function codeFor (sandbox: Sandbox, extra: Record<string, string>): Promise<string> {
  const url = new URL('/oauth/authorize', sandbox.url)
  url.search = new URLSearchParams({ response_type: 'code', client_id: sandbox.clientId, redirect_uri: REDIRECT_URL, ...extra }).toString()
  return new URL(await sandbox.approve(url.toString())).searchParams.get('code') ?? ''
}

t.test('pkce: true logs in through the real SDK: S256 challenge on the authorize URL, verifier in the exchange', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await setup(t, sandbox, { pkce: true })
  const browser = new Browser(app)
  const start = await browser.get('/auth/miro?returnTo=/boards')
  const authorize = new URL(String(start.headers.location))
  t.match(authorize.searchParams.get('code_challenge'), /^[\w-]{43}$/)
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
  const cookie = [...browser.cookies.values()].join(';')
  t.notOk(cookie.includes(authorize.searchParams.get('code_challenge') ?? '-'), 'the verifier is sealed in the login cookie')
  const back = await sandbox.approve(authorize.toString())
  const res = await browser.get(pathOf(back))
  t.equal(res.statusCode, 302)
  t.equal(res.headers.location, '/boards')
  t.same((await browser.get('/boards')).json(), ["Sandbox User's first board"])
  t.match(sandbox.tokenCalls, [{ grantType: 'authorization_code', ok: true }])
})

t.test('an intercepted code injected into another login fails with PKCE (and works without it)', async (t) => {
  for (const pkce of [true, false]) {
    const sandbox = await startSandbox({ users: [{ name: 'Victim' }, { name: 'Attacker' }] })
    t.teardown(() => sandbox.close())
    const app = await setup(t, sandbox, { pkce })
    const victim = new Browser(app)
    const attacker = new Browser(app)
    // The victim's code, seen on its way back (a log, a hostile app on the redirect), never used by the victim.
    const victimStart = await victim.get('/auth/miro')
    const stolen = new URL(await sandbox.approve(String(victimStart.headers.location), { userName: 'Victim' })).searchParams.get('code') ?? ''
    // The attacker's own login, its state valid, with the victim's code in place of its own.
    const attackerStart = new URL(String((await attacker.get('/auth/miro')).headers.location))
    const res = await attacker.get(`/auth/miro/callback?code=${stolen}&state=${attackerStart.searchParams.get('state')}`)
    if (pkce) {
      t.equal(res.statusCode, 400, 'with pkce: refused')
      t.equal(res.json().code, 'FST_MIRO_CODE_REJECTED')
      t.equal((await attacker.get('/boards', { accept: 'application/json' })).statusCode, 401, 'the attacker is not logged in as the victim')
    } else {
      t.equal(res.statusCode, 302, 'without pkce the state check alone cannot tell the code is not this login\'s')
      t.equal((await attacker.get('/boards')).statusCode, 200)
    }
  }
})

t.test('the sandbox checks PKCE: a code issued with a challenge needs its verifier', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const verifier = randomBytes(32).toString('base64url')
  const s256 = { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }

  const code = await codeFor(sandbox, s256)
  t.match(await tokenCall(sandbox, { code }), { status: 400, error: 'invalid_grant' }, 'no verifier')
  t.match(await tokenCall(sandbox, { code, code_verifier: randomBytes(32).toString('base64url') }), { status: 400, error: 'invalid_grant' }, 'another verifier')
  t.match(await tokenCall(sandbox, { code, code_verifier: 'short' }), { status: 400, error: 'invalid_grant' }, 'a malformed verifier')
  t.match(await tokenCall(sandbox, { code, code_verifier: verifier }), { status: 200 }, 'the verifier: the code still works after refused attempts')
  t.match(await tokenCall(sandbox, { code, code_verifier: verifier }), { status: 400, error: 'invalid_grant' }, 'once')

  const plain = await codeFor(sandbox, { code_challenge: verifier })
  t.match(await tokenCall(sandbox, { code: plain, code_verifier: verifier }), { status: 200 }, 'method plain by default (RFC 7636 4.3)')
  const none = await codeFor(sandbox, {})
  t.match(await tokenCall(sandbox, { code: none, code_verifier: verifier }), { status: 400, error: 'invalid_grant' }, 'a verifier for a code issued without challenge')
  t.match(await tokenCall(sandbox, { code: none }), { status: 200 }, 'no challenge, no verifier: as before')

  await t.rejects(codeFor(sandbox, { code_challenge: 'x', code_challenge_method: 'S256' }), /Invalid PKCE challenge/, 'a malformed challenge is refused on the consent page')
  await t.rejects(codeFor(sandbox, { code_challenge: s256.code_challenge, code_challenge_method: 'S512' }), /code_challenge_method must be S256 or plain/)
})
