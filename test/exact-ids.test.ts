// Issue point 8: ids from Miro (token answers, id token claims) are kept exactly. Miro's ids have
// 19 digits, above 2^53, where JSON.parse rounds: 3458764517517852417 and 3458764517517852418
// are the same Number. The reader (lib/exact-ids.ts) first, then the real plugin end to end.
import t, { type Test } from 'tap'
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import fc from 'fast-check'
import { exactInteger, integerLiteral } from '../lib/exact-ids'
import { startSandbox, type Sandbox } from '../sandbox/index'
import type { FastifyMiroOptions, MiroTokenState } from '../index'
import { Browser, boardNames, buildApp } from './helpers/app'
import { PAST } from './helpers/expiry'

const SEED = 0x5eed1d5
const ANN = '3458764517517852417'
const BOB = '3458764517517852418'
const TEAM = '3458764517517852999'

/** The reader as the plugin uses it: JSON.parse, then the exact text of `key`. */
const read = (text: string, key: string): string | undefined =>
  exactInteger(JSON.parse(text) as Record<string, unknown>, key, () => text)

// Integers around and far beyond 2^53, both signs, up to 2^64: every digit string must come back.
const bigIds = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n }).map(String)
// Keys other than team_id, and arbitrary JSON values, to surround the id with.
const otherKey = fc.string({ maxLength: 8 }).filter((k) => k !== 'team_id')
// Things that look like the id to a careless reader: the same key nested, and strings holding it.
const decoy = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer().map((n) => ({ team_id: n })),
  fc.integer().map((n) => [{ team_id: n }, { deeper: { team_id: String(n) } }]),
  fc.integer().map((n) => `"team_id":${n}`),
  fc.integer().map((n) => `{"team_id":${n}}`)
)

t.test('the reader: exact digits for every 64-bit-ish integer, wherever it sits and however it is spaced', async (t) => {
  fc.assert(fc.property(bigIds, fc.array(fc.tuple(otherKey, decoy), { maxLength: 5 }), fc.nat(), fc.constantFrom(undefined, 0, 2, '\t'), (id, siblings, position, indent) => {
    // Build the text with the id as a bare number: JSON.stringify cannot write one exactly.
    const parts = siblings.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value, null, indent)}`)
    parts.splice(position % (parts.length + 1), 0, `"team_id" : ${id}`)
    const text = indent === undefined ? `{${parts.join(',')}}` : `{\n${parts.join(',\n')}\n}`
    return read(text, 'team_id') === id && integerLiteral(text, 'team_id') === id
  }), { seed: SEED, numRuns: 400 })
  t.pass('400 generated objects, seed ' + SEED)

  t.equal(Number(ANN), Number(BOB), 'the two ids JSON.parse confuses')
  t.equal(read(`{"user_id":${ANN}}`, 'user_id'), ANN)
  t.equal(read(`{"user_id":${BOB}}`, 'user_id'), BOB)
  t.equal(read('{"user_id":-9223372036854775808}', 'user_id'), '-9223372036854775808')
  t.equal(read('{"user_id":9007199254740993}', 'user_id'), '9007199254740993', '2^53 + 1, the first integer a double cannot hold')
})

t.test('the reader: nested same-name keys, strings and escapes do not fool it', async (t) => {
  const nested = `{"a":{"team_id":1},"b":[{"team_id":2}],"team_id":${TEAM},"c":{"d":{"team_id":3}}}`
  t.equal(read(nested, 'team_id'), TEAM, 'only the top-level key counts')
  const inString = `{"note":"\\"team_id\\":1, {\\"team_id\\":2}","team_id":${TEAM},"x":"}{]["}`
  t.equal(read(inString, 'team_id'), TEAM, 'a string holding "team_id":1, quotes and brackets is skipped whole')
  t.equal(read(`{"a":{"s":"}]","t":["{"]},"team_id":${TEAM}}`, 'team_id'), TEAM, 'brackets inside nested strings do not end the nesting')
  t.equal(integerLiteral(`{"x":{"team_id":${TEAM}}}`, 'team_id'), undefined, 'a nested key alone is not the top-level one')
  t.equal(integerLiteral(`{"x":"\\"team_id\\":${TEAM}"}`, 'team_id'), undefined, 'nor is a string that reads like it')
  t.equal(read(`{"team\\u005fid":${TEAM}}`, 'team_id'), TEAM, 'an escaped key is the key JSON.parse sees')
  t.equal(read(`{"team_id\\u0000":1,"team_id":${TEAM}}`, 'team_id'), TEAM, 'a key that only starts the same is another key')
  t.equal(read(` \n{ "a" : [ 1 , { } , [ ] ] , "team_id" :\t${TEAM} \r\n} `, 'team_id'), TEAM, 'JSON whitespace anywhere')
})

t.test('the reader: duplicate keys count as JSON.parse counts them, the last one', async (t) => {
  t.equal(read(`{"team_id":1,"team_id":${TEAM}}`, 'team_id'), TEAM)
  t.equal(read(`{"team_id":${TEAM},"team_id":${ANN}}`, 'team_id'), ANN)
  t.equal(read(`{"team_id":${TEAM},"team_id":7}`, 'team_id'), '7', 'a safe last value wins over an earlier big one')
  t.equal(integerLiteral(`{"team_id":${TEAM},"team_id":"x"}`, 'team_id'), undefined, 'the last one is a string: no number to read')
  t.equal(integerLiteral(`{"team_id":${TEAM},"team_id":{"team_id":1}}`, 'team_id'), undefined, 'the last one is an object')
})

t.test('the reader refuses what it cannot keep exactly', async (t) => {
  for (const literal of ['1.5', '1e21', '1E+21', `${TEAM}.0`, `${TEAM}.5`, '3.458764517517852417e18', '1e400', '-1e400']) {
    t.equal(read(`{"team_id":${literal}}`, 'team_id'), undefined, `${literal} is refused`)
  }
  t.equal(read('{"team_id":"3458764517517852417"}', 'team_id'), undefined, 'a string is not the reader\'s business (callers keep strings as they are)')
  t.equal(exactInteger({ team_id: 2 ** 60 }, 'team_id', () => `{"team_id":${TEAM}}`), undefined,
    'text and parsed object that disagree are refused, never guessed between')
  t.equal(exactInteger({ team_id: 2 ** 60 }, 'team_id', () => 'not json'), undefined, 'unreadable text is refused')
  t.equal(exactInteger({ team_id: 2 ** 60 }, 'team_id', () => '[1152921504606846976]'), undefined, 'text that is not an object is refused')
  t.equal(exactInteger({ team_id: 42 }, 'team_id', () => { throw new Error('the text must not be read') }), '42',
    'a safe integer never reads the text (the id-token hot path)')
  t.equal(exactInteger({ team_id: -0 }, 'team_id', () => '{}'), '0')
})

// ---- End to end, with the real plugin and the sandbox writing ids as bare 19-digit numbers ----

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

async function numericSandbox (t: Test): Promise<Sandbox> {
  const sandbox = await startSandbox({
    numericIds: true,
    users: [{ name: 'Ann', id: ANN, teamId: TEAM, teamName: 'Exact' }, { name: 'Bob', id: BOB }]
  })
  t.teardown(() => sandbox.close())
  return sandbox
}

/** The real plugin over a Map storage, so the test sees exactly what was stored and under which key. */
async function appWith (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions = {}, session = true) {
  const data = new Map<string, MiroTokenState>()
  const app = await buildApp({
    sandbox,
    session,
    miro: {
      storage: {
        get: async (id) => data.get(String(id)),
        set: async (id, state) => { if (state) data.set(String(id), state as MiroTokenState); else data.delete(String(id)) }
      },
      ...miro
    }
  })
  app.get('/whoami', async (request) => request.miroIdentity)
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => boardNames(request.miroApi()))
  t.teardown(() => app.close())
  return { app, data }
}

t.test('login and refresh with numeric ids: the stored state holds the exact ids', async (t) => {
  const sandbox = await numericSandbox(t)
  const { app, data } = await appWith(t, sandbox)
  const browser = new Browser(app)
  t.equal((await browser.login(sandbox, '/auth/miro', 'Ann')).statusCode, 302)
  const [key, state] = [...data.entries()][0] ?? []
  t.match(state, { userId: ANN, teamId: TEAM }, 'userId and teamId are the digits Miro sent')

  // Expire it: the refresh answer carries the ids as bare numbers too.
  data.set(key ?? '', { ...state!, tokenExpiresAt: PAST() })
  const boards = await browser.get('/boards', { accept: 'application/json' })
  t.equal(boards.statusCode, 200)
  t.same(boards.json(), ["Ann's first board"])
  t.match(sandbox.tokenCalls.at(-1), { grantType: 'refresh_token', ok: true })
  t.not(data.get(key ?? '')?.accessToken, state?.accessToken, 'refreshed')
  t.match(data.get(key ?? ''), { userId: ANN, teamId: TEAM }, 'still exact after the refresh')
})

t.test('idToken with numeric claims: exact identity and storage key; ids that differ beyond 2^53 stay two users', async (t) => {
  const sandbox = await numericSandbox(t)
  const { app, data } = await appWith(t, sandbox, { identity: 'idToken' }, false)
  for (const name of ['Ann', 'Bob']) {
    t.equal((await new Browser(app).login(sandbox, '/auth/miro', name)).statusCode, 302, `${name} authorizes the app`)
  }
  t.same([...data.keys()].sort(), [`${TEAM}:${ANN}`, `${TEAM}:${BOB}`], 'two keys, exact digits')
  t.match(data.get(`${TEAM}:${ANN}`), { userId: ANN, teamId: TEAM })
  t.match(data.get(`${TEAM}:${BOB}`), { userId: BOB, teamId: TEAM })

  for (const [id, name] of [[ANN, 'Ann'], [BOB, 'Bob']] as const) {
    const token = sandbox.mintIdToken({ userId: id })
    t.match(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString(), `"user":${id},`, `${name}'s token has a bare number claim`)
    t.same((await app.inject({ url: '/whoami', headers: bearer(token) })).json(), { userId: id, teamId: TEAM }, `${name}'s miroIdentity is exact`)
    const boards = await app.inject({ url: '/boards', headers: bearer(token) })
    t.equal(boards.statusCode, 200)
    t.same(boards.json(), [`${name}'s first board`], `${name} sees ${name}'s boards`)
  }
})

/** An HS256 token over exactly this payload text, signed with the sandbox's client secret. */
function signText (sandbox: Sandbox, payload: string): string {
  const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}`
  return `${input}.${createHmac('sha256', sandbox.clientSecret).update(input).digest('base64url')}`
}

t.test('an id token whose team or user is a number that is not an exact integer is refused', async (t) => {
  const sandbox = await numericSandbox(t)
  const { app } = await appWith(t, sandbox, { identity: 'idToken' }, false)
  const exp = Math.floor(Date.now() / 1000) + 600
  const claims = (team: string, user: string): string => `{"sub":"${sandbox.clientId}","team":${team},"user":${user},"exp":${exp}}`
  t.same((await app.inject({ url: '/whoami', headers: bearer(signText(sandbox, claims(TEAM, ANN))) })).json(),
    { userId: ANN, teamId: TEAM }, 'a hand-signed token with exact numbers is accepted')
  for (const [team, user] of [[TEAM, '1.5'], ['1e21', ANN], [`${TEAM}.5`, ANN], [TEAM, `${ANN}e0`]]) {
    const res = await app.inject({ url: '/whoami', headers: bearer(signText(sandbox, claims(team ?? '', user ?? ''))) })
    t.equal(res.statusCode, 401, `team ${team}, user ${user}`)
    t.match(res.json(), { code: 'FST_MIRO_INVALID_ID_TOKEN', message: /its team or user claim is not an exact id/ })
  }
})

t.test('a token answer whose user_id or team_id is not an exact integer is refused loudly, without secrets', async (t) => {
  // Miro answering with a fractional id: the sandbox never does, so a bare HTTP peer on
  // 127.0.0.1 plays Miro's token endpoint for this one answer.
  let answer = ''
  const miro = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer))
  })
  await new Promise<void>((resolve) => miro.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => miro.close(() => resolve())))
  const address = miro.address()
  const basePath = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  const sandbox = await numericSandbox(t) // for the app's credentials only
  const { app, data } = await appWith(t, sandbox, { basePath, routes: false })
  app.get('/exchange', async (request) => {
    const state = await request.miro.exchangeCode('a-code')
    return { userId: state.userId, teamId: state.teamId }
  })

  const tokens = '"access_token":"at-secret-value","refresh_token":"rt-secret-value","expires_in":3599'
  answer = `{${tokens},"user_id":${ANN},"team_id":${TEAM}}`
  t.same((await app.inject('/exchange')).json(), { userId: ANN, teamId: TEAM }, 'exact digits')
  answer = `{${tokens},"user_id":"${ANN}","team_id":7}`
  t.same((await app.inject('/exchange')).json(), { userId: ANN, teamId: '7' }, 'strings as they are, safe numbers as their digits')

  for (const ids of [`"user_id":${ANN}.5,"team_id":${TEAM}`, `"user_id":${ANN},"team_id":1e21`, '"user_id":true', '"team_id":{"id":1}']) {
    answer = `{${tokens},${ids}}`
    const res = await app.inject('/exchange')
    t.equal(res.statusCode, 502, ids)
    t.match(res.json(), {
      code: 'FST_MIRO_UNAVAILABLE',
      message: 'Miro could not complete the code exchange call (the answer has a user_id or team_id that is not an exact integer): try again later'
    })
    t.notMatch(res.body, /secret-value|a-code|sandbox-client-secret/, 'no token, code or secret in the error')
  }
  t.equal(data.size, 0, 'nothing was stored')
})
