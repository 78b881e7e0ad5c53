// Hostile user ids and Redis keys: ids with '*', ':', spaces, newlines, unicode or thousands of
// characters map to distinct keys that stay under the key prefix, are no glob pattern, and never
// equal a refresh-lock key. Proven on lib/storage/keys.ts as properties (fast-check, fixed seed)
// and end to end through the plugin on a real redis-server.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { encodeUserId, lockKey, tokenKey } from '../lib/storage/keys'
import type { MiroTokenState } from '../lib/state'
import { buildApp, REDIRECT_URL } from './helpers/app'
import { startPrivateRedis, type RedisServer } from './helpers/redis'
import { PAST } from './helpers/expiry'

const SEED = 42
const PREFIX = 'miro:token:'
const LOCK_SUFFIX = ':refresh-lock'
/** Where the login index's sets live (lib/storage/keys.ts loginIndexKey). */
const INDEX_PREFIX = PREFIX + 'miro-user:{'
/** What an encoded id may contain: no ':', no glob character (* ? [ ] \), no space, ASCII only. */
const ENCODED = /^[A-Za-z0-9_.%-]*$/
/** The encoded id inside a key's hash tag (`prefix{id}` or `prefix{id}:refresh-lock`), or undefined. */
const tagged = (rest: string): string | undefined => /^\{([^{}]*)\}(?::refresh-lock)?$/.exec(rest)?.[1]

const NAMED_IDS = [
  '*', '?', '[a-z]', '\\', 'miro:token:*', ':', 'a:b', 'a:refresh-lock', 'x' + LOCK_SUFFIX, LOCK_SUFFIX, ' ', '  leading',
  'trailing ', 'new\nline', '\r\n', 'tab\tbed', '\u0000', 'é', 'e\u0301', '😀', '中文 id', '\u2028', '\uFEFF', '%', '%41', 'A',
  '%2A', 'a b', 'a%20b', 'a+b', '%3A', '.', '..', '-', '_', 'constructor', '__proto__', 'null', 'undefined', '0', '-0',
  'miro:token:', PREFIX + PREFIX, 'fixed-user', 'x'.repeat(5000), '中文'.repeat(2000), 'a*'.repeat(1000)
]

/** Characters that mean something to Redis patterns, key names or logs. */
const specialChar = fc.constantFrom('*', '?', '[', ']', '^', '\\', ':', ' ', '\n', '\r', '\t', '\u0000', '%', '+', '/', '{', '}', '"', "'", '~', '!', '(', ')', 'é', 'e\u0301', '😀', '\u2028', '\uFEFF', '\uFFFD', 'a', 'A', '0', '.', '-', '_')
/** Well-formed (no lone surrogate) hostile ids. */
const hostileId = fc.oneof(
  fc.constantFrom(...NAMED_IDS),
  fc.string({ unit: specialChar, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.tuple(fc.string({ unit: specialChar, minLength: 1, maxLength: 4 }), fc.integer({ min: 500, max: 3000 })).map(([s, n]) => s.repeat(n)),
  fc.integer().map(String)
)
/** Any UTF-16 string, lone surrogates included (JSON's "\ud800" decodes to one). */
const codeUnit = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\uFFFD', '%', 'a', ':')
)
const anyUtf16Id = fc.string({ unit: codeUnit, minLength: 1, maxLength: 6 })

const prefix = fc.constantFrom(PREFIX, 'app:', 'a', '')

/** Runs fc.assert; a counterexample fails the test with the property's own error and fast-check's report. */
async function holds (t: Test, label: string, run: () => void | Promise<void>): Promise<void> {
  try {
    await run()
    t.pass(label)
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
    t.fail(`${label}: ${why} — ${(err as Error).message.split('\n', 1)[0] ?? ''}`, { diagnostic: true, report: (err as Error).message })
  }
}

t.test('encodeUserId: keys stay under the prefix, hold no glob or ":" character, and decode back', async (t) => {
  await holds(t, '2000 runs, seed 42', () => fc.assert(fc.property(prefix, hostileId, (p, id) => {
    const key = tokenKey(p, id)
    const encoded = tagged(key.slice(p.length))
    return key.startsWith(p) && encoded !== undefined && encoded === encodeUserId(id) && ENCODED.test(encoded) && decodeURIComponent(encoded) === id &&
      lockKey(p, id) === key + LOCK_SUFFIX
  }), { seed: SEED, numRuns: 2000 }))
  t.equal(tokenKey(PREFIX, 'ordinary-session_id.1'), PREFIX + '{ordinary-session_id.1}', 'ordinary ids are left as they are')
  t.equal(tokenKey(PREFIX, 42), tokenKey(PREFIX, '42'), 'a number is the same user as its string')
  t.equal(tokenKey(PREFIX, '*'), PREFIX + '{%2A}', "'*' is encoded")
  t.equal(tokenKey(PREFIX, '{x}'), PREFIX + '{%7Bx%7D}', 'braces are encoded: an id cannot move its key to another hash slot')
})

t.test('tokenKey and lockKey are injective, and no token key equals any lock key', async (t) => {
  await holds(t, '3000 runs, seed 42', () => fc.assert(fc.property(prefix, hostileId, hostileId, (p, a, b) => {
    if (a !== b) {
      if (tokenKey(p, a) === tokenKey(p, b)) throw new Error('two ids share a token key')
      if (lockKey(p, a) === lockKey(p, b)) throw new Error('two ids share a lock key')
    }
    if (tokenKey(p, a) === lockKey(p, b)) throw new Error(`token key of ${JSON.stringify(a)} = lock key of ${JSON.stringify(b)}`)
    return lockKey(p, a) === tokenKey(p, a) + LOCK_SUFFIX
  }), { seed: SEED, numRuns: 3000 }))
  // The pairs most likely to collide under a sloppy encoding, checked one by one.
  const pairs: Array<[string, string]> = [
    ['a b', 'a%20b'], ['*', '%2A'], [':', '%3A'], ['A', '%41'], ['a+b', 'a b'], ['é', 'e\u0301'],
    ['x', 'x' + LOCK_SUFFIX], ['', LOCK_SUFFIX], ['\uFFFD', '\u0000']
  ]
  for (const [a, b] of pairs) t.not(tokenKey(PREFIX, a), tokenKey(PREFIX, b), `${JSON.stringify(a)} and ${JSON.stringify(b)} have different keys`)
  for (const id of NAMED_IDS) {
    for (const other of NAMED_IDS) {
      if (tokenKey(PREFIX, id) === lockKey(PREFIX, other)) t.fail(`token key of ${JSON.stringify(id)} = lock key of ${JSON.stringify(other)}`)
    }
  }
  t.pass(`no token key of the ${NAMED_IDS.length} named ids equals any of their lock keys`)
})

t.test('ids with lone surrogates get keys too, distinct from every other id', async (t) => {
  // Regression (found by this suite, fixed): encodeUserId uses encodeURIComponent, which throws URIError on
  // a lone surrogate ("\ud800", e.g. from a JSON claim), so such a user cannot log in: reads answer
  // 503 FST_MIRO_STORAGE_UNAVAILABLE and writes 500 (see the end-to-end test below). Replacing
  // the surrogate by U+FFFD would not do either: it would collide with the id "\ufffd".
  await holds(t, '2000 runs, seed 42', () => fc.assert(fc.property(anyUtf16Id, anyUtf16Id, (a, b) => {
    const ka = tokenKey(PREFIX, a)
    const kb = tokenKey(PREFIX, b)
    if (!ka.startsWith(PREFIX) || !ENCODED.test(tagged(ka.slice(PREFIX.length)) ?? ':')) throw new Error(`bad key ${ka}`)
    if (a !== b && ka === kb) throw new Error(`${JSON.stringify(a)} and ${JSON.stringify(b)} share ${ka}`)
    if (ka === lockKey(PREFIX, b)) throw new Error('a token key equals a lock key')
  }), { seed: SEED, numRuns: 2000 }))
})

// ---------------------------------------------------------------------------------------------
// End to end: the plugin on a real Redis.

let sandbox: Sandbox
let server: RedisServer
let redis: Redis
let app: FastifyInstance

t.before(async () => {
  sandbox = await startSandbox()
  server = await startPrivateRedis()
  redis = new Redis(server.url)
  app = await buildApp({ sandbox, session: false, redisUrl: server.url, miro: { storage: 'redis', routes: false, userId: () => 'unused' } })
  // Stores, reads and refreshes the state of the id in the JSON body (which can carry any string).
  app.post('/set', async (request, reply) => {
    const { id, state } = request.body as { id: string, state: MiroTokenState }
    await request.miro.setState(id, state)
    return reply.code(204).send()
  })
  app.post('/get', async (request) => ({ state: (await request.miro.getState((request.body as { id: string }).id)) ?? null }))
  app.post('/token', async (request) => ({ accessToken: await request.miro.getAccessToken((request.body as { id: string }).id) }))
  app.post('/exchange', async (request) => request.miro.exchangeCode((request.body as { code: string }).code))
  await app.ready()
})

t.teardown(async () => {
  await app?.close()
  redis?.disconnect()
  await server?.stop()
  await sandbox?.close()
})

async function allKeys (): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}

const stateFor = (i: number): MiroTokenState => ({ userId: `miro-user-${i}`, accessToken: `access-${i}`, teamId: `team-${i}` })

/** Stores one state per id (and a foreign value in each id's lock key), then checks every key. */
async function storeAndCheck (ids: string[]): Promise<string | undefined> {
  await redis.flushdb()
  for (const [i, id] of ids.entries()) {
    const res = await app.inject({ method: 'POST', url: '/set', payload: { id, state: stateFor(i) } })
    if (res.statusCode !== 204) return `storing ${JSON.stringify(id).slice(0, 60)} answered ${res.statusCode}: ${res.body}`
    // Someone holds the refresh lock of this id: that must not touch anyone's token state.
    await redis.set(lockKey(PREFIX, id), `lock-${i}`, 'PX', 60_000)
  }
  for (const [i, id] of ids.entries()) {
    const res = await app.inject({ method: 'POST', url: '/get', payload: { id } })
    if (res.statusCode !== 200) return `reading ${JSON.stringify(id).slice(0, 60)} answered ${res.statusCode}: ${res.body}`
    const got = res.json().state
    if (JSON.stringify(got) !== JSON.stringify(stateFor(i))) return `${JSON.stringify(id).slice(0, 60)} read back ${JSON.stringify(got)}`
  }
  // The login index (one set per Miro user, for revokeAll) is keyed by Miro's id, not these ids.
  const all = await allKeys()
  const indexes = all.filter((k) => k.startsWith(INDEX_PREFIX))
  if (indexes.length !== ids.length) return `${indexes.length} login index sets for ${ids.length} Miro users`
  const keys = all.filter((k) => !k.startsWith(INDEX_PREFIX))
  if (keys.length !== 2 * ids.length) return `${keys.length} keys for ${ids.length} ids (and as many locks)`
  for (const key of keys) {
    if (!key.startsWith(PREFIX)) return `key outside the prefix: ${key.slice(0, 80)}`
    const encoded = tagged(key.slice(PREFIX.length))
    if (encoded === undefined) return `key without its user's hash tag: ${key.slice(0, 80)}`
    if (!ENCODED.test(encoded)) return `key with a glob, ':', space or non-ASCII character: ${key.slice(0, 80)}`
  }
  // Keys hold no glob character: a key used as a SCAN pattern matches itself only.
  for (const id of ids) {
    const key = tokenKey(PREFIX, id)
    const [, matched] = await redis.scan('0', 'MATCH', key, 'COUNT', 10_000)
    if (matched.length !== 1 || matched[0] !== key) return `MATCH ${key.slice(0, 80)} found ${matched.length} keys`
  }
  return undefined
}

function noProblem (t: Test, problem: string | undefined, label: string): void {
  if (problem === undefined) t.pass(label)
  else t.fail(`${label}: ${problem}`)
}

t.test('end to end: hostile ids each read back their own state; every key is under the prefix', async (t) => {
  const named = NAMED_IDS
  noProblem(t, await storeAndCheck(named), `${named.length} named hostile ids each read back their own state`)
  const keys = await allKeys()
  t.equal(keys.filter((k) => !k.endsWith(LOCK_SUFFIX) && !k.startsWith(INDEX_PREFIX)).length, named.length, 'one token key per id')
  t.ok(keys.every((k) => k.startsWith(PREFIX)), 'every key starts with the prefix')

  await holds(t, 'property: 60 runs of 2–8 arbitrary distinct ids, seed 42', () => fc.assert(fc.asyncProperty(fc.uniqueArray(hostileId.filter((id) => id !== ''), { minLength: 2, maxLength: 8 }), async (ids) => {
    const failure = await storeAndCheck(ids)
    if (failure !== undefined) throw new Error(failure)
  }), { seed: SEED, numRuns: 60 }))
})

t.test('end to end: refreshing under hostile ids uses their own lock and leaves the others alone', async (t) => {
  await redis.flushdb()
  const ids = ['*', 'a:refresh-lock', '中文 x\n', 'x'.repeat(3000), 'a']
  const authorize = `${sandbox.url}/oauth/authorize?response_type=code&client_id=${sandbox.clientId}&redirect_uri=${encodeURIComponent(REDIRECT_URL)}`
  const before = new Map<string, unknown>()
  for (const id of ids) {
    const code = new URL(await sandbox.approve(authorize)).searchParams.get('code')
    const state = (await app.inject({ method: 'POST', url: '/exchange', payload: { code } })).json() as MiroTokenState
    // Expired: the next getAccessToken refreshes, under this id's refresh lock.
    const expired = { ...state, tokenExpiresAt: PAST() }
    t.equal((await app.inject({ method: 'POST', url: '/set', payload: { id, state: expired } })).statusCode, 204)
    before.set(id, expired)
  }
  const refreshes = (): number => sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token' && c.ok).length
  for (const [i, id] of ids.entries()) {
    const calls = refreshes()
    const res = await app.inject({ method: 'POST', url: '/token', payload: { id } })
    t.equal(res.statusCode, 200, `${JSON.stringify(id).slice(0, 20)}: a fresh token`)
    t.equal(refreshes() - calls, 1, 'one refresh at Miro')
    const after = (await app.inject({ method: 'POST', url: '/get', payload: { id } })).json().state as MiroTokenState
    t.equal(after.accessToken, res.json().accessToken, 'the new state is stored under the id')
    for (const other of ids.slice(i + 1)) {
      const untouched = (await app.inject({ method: 'POST', url: '/get', payload: { id: other } })).json().state
      if (JSON.stringify(untouched) !== JSON.stringify(before.get(other))) t.fail(`refreshing ${JSON.stringify(id)} changed ${JSON.stringify(other)}`)
    }
  }
  const keys = await allKeys()
  t.equal(keys.filter((k) => !k.startsWith(INDEX_PREFIX)).length, ids.length, 'one key per id, no lock left behind (beside the login index)')
  t.ok(keys.every((k) => k.startsWith(PREFIX) && !k.endsWith(LOCK_SUFFIX)), 'all under the prefix')
})

t.test('end to end: ids with lone surrogates can be stored and read back', async (t) => {
  // Regression (found by this suite, fixed): storing answers 500 (URIError from encodeURIComponent in
  // lib/storage/keys.ts, outside storageCall) and reading answers 503 FST_MIRO_STORAGE_UNAVAILABLE.
  const ids = ['\uD800', '\uDFFF', 'a\uD800b', '\uFFFD', '\uDBFF\uDFFF']
  await redis.flushdb()
  for (const id of ids) {
    const res = await app.inject({ method: 'POST', url: '/get', payload: { id } })
    const answer = `${res.statusCode} ${res.body}`
    noProblem(t, answer === '200 {"state":null}' ? undefined : `answered ${answer}`, `reading ${JSON.stringify(id)} before anything is stored finds nothing`)
  }
  noProblem(t, await storeAndCheck(ids), 'each id reads back its own state')
})
