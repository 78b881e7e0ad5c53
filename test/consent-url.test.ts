// Where the login sends users: Miro's consent page, derived from basePath by its first host
// label only, or given as authorizeUrl. No other host is ever made up from a basePath.
import t from 'tap'
import { resolveOptions, type FastifyMiroOptions } from '../lib/options'
import { startSandbox } from '../sandbox/index'
import { buildApp } from './helpers/app'

const creds = { clientId: 'id', clientSecret: 'secret', redirectUrl: 'https://app.example.com/auth/miro/callback' }
const consentOf = (opts: FastifyMiroOptions): string => {
  const url = new URL(resolveOptions({ ...creds, ...opts }).authorizeUrl)
  return url.origin + url.pathname
}

t.test('basePath api.<host> → <host>; a local stand-in serves its own consent page', async (t) => {
  t.equal(consentOf({}), 'https://miro.com/oauth/authorize')
  t.equal(consentOf({ basePath: 'https://api.miro.com' }), 'https://miro.com/oauth/authorize')
  t.equal(consentOf({ basePath: 'https://api.eu.miro.example:8443' }), 'https://eu.miro.example:8443/oauth/authorize')
  t.equal(consentOf({ basePath: 'http://127.0.0.1:4010' }), 'http://127.0.0.1:4010/oauth/authorize')
  t.equal(consentOf({ basePath: 'http://localhost:4010' }), 'http://localhost:4010/oauth/authorize')
  t.equal(consentOf({ basePath: 'http://[::1]:4010' }), 'http://[::1]:4010/oauth/authorize')
})

t.test('a basePath whose consent host cannot be derived fails, asking for authorizeUrl', async (t) => {
  // Deleting the first "api." anywhere made this https://miro-example.com: someone else's site, given the state.
  for (const basePath of ['https://miro-api.example.com', 'https://proxy.example.com', 'https://eu.api.miro.com', 'https://api.example']) {
    t.throws(() => resolveOptions({ ...creds, basePath }), {
      code: 'FST_MIRO_INVALID_OPTIONS',
      message: /options\.authorizeUrl is required with basePath .*Pass authorizeUrl, like 'https:\/\/miro\.com\/oauth\/authorize'/
    }, basePath)
  }
})

t.test('authorizeUrl: used as given, with the OAuth parameters added to its query', async (t) => {
  const url = new URL(resolveOptions({ ...creds, basePath: 'https://miro-api.example.com', authorizeUrl: 'https://login.example.com/miro/authorize?tenant=7' }).authorizeUrl)
  t.equal(url.origin + url.pathname, 'https://login.example.com/miro/authorize')
  t.same(Object.fromEntries(url.searchParams), { tenant: '7', response_type: 'code', client_id: 'id', redirect_uri: creds.redirectUrl })
  t.throws(() => resolveOptions({ ...creds, authorizeUrl: 'ftp://x/authorize' }), { message: /options\.authorizeUrl should be an absolute http\(s\) URL/ })
  t.throws(() => resolveOptions({ ...creds, authorizeUrl: 'https://miro.com/oauth/authorize#x' }), { message: /options\.authorizeUrl should have no #fragment/ })
  t.throws(() => resolveOptions({ ...creds, authorizeUrl: 42 as unknown as string }), { message: /options\.authorizeUrl should be a string/ })
})

t.test('the login route redirects to authorizeUrl, with the state', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const app = await buildApp({ sandbox, miro: { authorizeUrl: `${sandbox.url}/oauth/authorize?prompt=1` } })
  t.teardown(() => app.close())
  const res = await app.inject('/auth/miro')
  const location = new URL(String(res.headers.location))
  t.equal(location.origin + location.pathname, `${sandbox.url}/oauth/authorize`)
  t.equal(location.searchParams.get('prompt'), '1')
  t.match(location.searchParams.get('state'), /^[\w-]{43}$/)
})
