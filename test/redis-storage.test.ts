// The redis backend: JSON at keyPrefix + userId in the client @fastify/redis decorated (or its
// namespace), 60-day expiry renewed on every write when there is a refresh token, none without,
// `ttl` overriding; the plugin never opens, quits or reconfigures that client. `replace` is a
// compare-and-set: atomic across instances, sealed or not, with the same expiry rule.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import { startSandbox, type Sandbox } from '../sandbox/index'
import fastifyMiro, { type FastifyMiroOptions, type MiroTokenState } from '../index'
import { createSealCodec, parseEncryptionKeys } from '../lib/seal'
import { createMemoryStore } from '../lib/storage/memory'
import { createRedisStore, type RedisClient } from '../lib/storage/redis'
import type { TokenStore } from '../lib/storage/types'
import { freshCode, REDIRECT_URL } from './helpers/app'
import { startRedis } from './helpers/redis'
import { PAST } from './helpers/expiry'

const SIXTY_DAYS = 60 * 24 * 3600
const silent = { warn: () => {} }
const FUTURE = new Date(Date.now() + 3600_000).toISOString()
const stateOf = (n: string, refresh = true): MiroTokenState =>
  ({ userId: 'miro-user', accessToken: 'at-' + n, ...(refresh ? { refreshToken: 'rt-' + n } : {}), tokenExpiresAt: FUTURE })

/**
 * An ioredis client whose next GET, once answered, waits for `interleave` before handing the
 * answer back: another instance writing between a replace's read and its write, every time.
 */
function racingClient (raw: Redis): { client: RedisClient, interleave: (step: () => Promise<unknown>) => void } {
  const base = raw as unknown as RedisClient
  let next: (() => Promise<unknown>) | undefined
  const client: RedisClient = {
    get status () { return base.status },
    async get (key) {
      const value = await base.get(key)
      const step = next
      next = undefined
      if (step) await step()
      return value
    },
    set: (key, value, ...args) => base.set(key, value, ...args),
    del: (key) => base.del(key),
    pttl: (key) => base.pttl(key),
    eval: (script, numKeys, ...args) => base.eval(script, numKeys, ...args),
    on: (event, listener) => base.on(event, listener)
  }
  return { client, interleave: (step) => { next = step } }
}

t.test('redis backend', async (t) => {
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  t.teardown(async () => { probe.disconnect(); await redis.stop() })

  async function redisApp (t: Test, sandbox: Sandbox, miro: FastifyMiroOptions = {}, namespace?: string) {
    const app = Fastify()
    await app.register(fastifyRedis, { url: redis.url, ...(namespace ? { namespace } : {}) })
    await app.register(fastifyMiro, {
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      redirectUrl: REDIRECT_URL,
      basePath: sandbox.url,
      storage: 'redis',
      routes: false,
      ...miro
    })
    app.post<{ Params: { id: string }, Body: { code: string } }>('/users/:id/login', async (request) =>
      request.miro.exchangeCodeForAccessToken(request.params.id, request.body.code).then(() => 'ok'))
    app.get<{ Params: { id: string } }>('/users/:id/authorized', async (request) => request.miro.isAuthorized(request.params.id))
    app.get<{ Params: { id: string } }>('/users/:id/boards', async (request) => {
      const names: string[] = []
      for await (const board of request.miro.as(request.params.id).getAllBoards()) names.push(board.name ?? '')
      return names
    })
    app.delete<{ Params: { id: string } }>('/users/:id', async (request) => request.miro.setState(request.params.id, undefined).then(() => 'gone'))
    t.teardown(() => app.close())
    return app
  }

  t.test('code exchange stores JSON at keyPrefix + userId; as(id) calls carry Bearer; deleting clears', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    t.equal((await app.inject('/users/alice/authorized')).body, 'false')
    t.equal((await app.inject({ method: 'POST', url: '/users/alice/login', payload: { code: await freshCode(sandbox) } })).body, 'ok')
    t.same((await probe.keys('*')).sort(), ['miro:token:miro-user:{' + sandbox.users[0]!.id + '}', 'miro:token:{alice}'], 'the state, and the login index of its Miro user')
    const stored = JSON.parse(await probe.get('miro:token:{alice}') ?? '') as MiroTokenState
    t.match(stored, { userId: sandbox.users[0]!.id, accessToken: String, refreshToken: String, teamId: sandbox.users[0]!.teamId, scope: String })
    const ttl = await probe.ttl('miro:token:{alice}')
    t.ok(ttl > SIXTY_DAYS - 10 && ttl <= SIXTY_DAYS, `expires after Miro's refresh-token life (ttl ${ttl})`)
    t.equal((await app.inject('/users/alice/authorized')).body, 'true')
    t.equal((await app.inject('/users/bob/authorized')).body, 'false', 'another id is another user')
    t.same((await app.inject('/users/alice/boards')).json(), ["Sandbox User's first board"])
    t.equal((await app.inject({ method: 'DELETE', url: '/users/alice' })).body, 'gone')
    t.equal(await probe.exists('miro:token:{alice}'), 0)
    t.equal((await app.inject('/users/alice/authorized')).body, 'false')
  })

  t.test('the expiry is renewed on every write', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    await app.inject({ method: 'POST', url: '/users/carol/login', payload: { code: await freshCode(sandbox) } })
    // Time passes: the expiry ran down and the access token expired.
    const stored = JSON.parse(await probe.get('miro:token:{carol}') ?? '') as MiroTokenState
    await probe.set('miro:token:{carol}', JSON.stringify({ ...stored, tokenExpiresAt: PAST() }), 'EX', 100)
    t.equal((await app.inject('/users/carol/authorized')).body, 'true')
    t.equal(sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').length, 1, 'refreshed')
    const ttl = await probe.ttl('miro:token:{carol}')
    t.ok(ttl > SIXTY_DAYS - 10, `the refresh wrote a new 60-day expiry (ttl ${ttl})`)
  })

  t.test('no refresh token: no expiry; ttl overrides both', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox({ expiresIn: null })
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox)
    await app.inject({ method: 'POST', url: '/users/dan/login', payload: { code: await freshCode(sandbox) } })
    const stored = JSON.parse(await probe.get('miro:token:{dan}') ?? '') as MiroTokenState
    t.equal(stored.refreshToken, undefined)
    t.equal(stored.tokenExpiresAt, undefined)
    t.equal(await probe.ttl('miro:token:{dan}'), -1, 'no expiry')

    const withTtl = await redisApp(t, sandbox, { redis: { ttl: 300, keyPrefix: 'app1:' } })
    await withTtl.inject({ method: 'POST', url: '/users/erin/login', payload: { code: await freshCode(sandbox) } })
    const ttl = await probe.ttl('app1:{erin}')
    t.ok(ttl > 290 && ttl <= 300, `ttl option used (ttl ${ttl})`)
  })

  t.test('a namespace of @fastify/redis is used when named', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const app = await redisApp(t, sandbox, { redis: { namespace: 'tokens' } }, 'tokens')
    await app.inject({ method: 'POST', url: '/users/frank/login', payload: { code: await freshCode(sandbox) } })
    t.equal(await probe.exists('miro:token:{frank}'), 1)
  })

  t.test('the decorated client is never opened, quit or reconfigured', async (t) => {
    await probe.flushall()
    const sandbox = await startSandbox()
    t.teardown(() => sandbox.close())
    const client = new Redis(redis.url)
    t.teardown(() => client.disconnect())
    await client.ping()
    const clientsBefore = (await probe.client('LIST') as string).trim().split('\n').length
    const optionsBefore = JSON.stringify(client.options)

    const app = Fastify()
    await app.register(fastifyRedis, { client, closeClient: false })
    await app.register(fastifyMiro, { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, redirectUrl: REDIRECT_URL, basePath: sandbox.url, storage: 'redis', routes: false })
    app.post('/login', async (request) => request.miro.exchangeCodeForAccessToken('gina', (request.body as { code: string }).code).then(() => 'ok'))
    app.get('/authorized', async (request) => request.miro.isAuthorized('gina'))
    await app.inject({ method: 'POST', url: '/login', payload: { code: await freshCode(sandbox) } })
    t.equal((await app.inject('/authorized')).body, 'true')
    t.equal((await probe.client('LIST') as string).trim().split('\n').length, clientsBefore, 'no connection opened')
    await app.close()
    t.equal(client.status, 'ready', 'still connected after app.close()')
    t.equal(JSON.stringify(client.options), optionsBefore, 'options untouched')
  })

  t.test('replace: one winner among instances replacing at once; sealed or not; the expiry rule kept', async (t) => {
    const key = randomBytes(32).toString('hex')
    for (const sealed of [false, true]) {
      t.test(sealed ? 'with encryptionKey' : 'plain JSON', async (t) => {
        await probe.flushall()
        const codec = sealed ? createSealCodec(parseEncryptionKeys(key) ?? [], true) : undefined
        // Three instances of the app: three connections.
        const clients = [new Redis(redis.url), new Redis(redis.url), new Redis(redis.url)]
        t.teardown(() => { for (const c of clients) c.disconnect() })
        await Promise.all(clients.map((c) => c.ping()))
        const stores = clients.map((c) => createRedisStore(c as unknown as RedisClient, { keyPrefix: 'cas:' }, silent, codec))
        const a = stores[0] as TokenStore

        t.same(await a.replace('zoe', 'at-0', stateOf('1')), { replaced: false, current: undefined }, 'nothing stored: not replaced')
        t.equal(await probe.exists('cas:{zoe}'), 0, 'and nothing created')

        const rounds = 25
        const outcomes: string[] = []
        for (let round = 0; round < rounds; round++) {
          const seen = stateOf(`r${round}`)
          await a.set('zoe', seen)
          const nexts = stores.map((_, i) => stateOf(`r${round}-${i}`))
          const results = await Promise.all(stores.map((store, i) => store.replace('zoe', seen.accessToken, nexts[i])))
          const winners = results.flatMap((r, i) => r.replaced ? [i] : [])
          const winner = nexts[winners[0] ?? -1]
          const stored = await a.get('zoe')
          const losersSawIt = results.every((r) => r.replaced || r.current?.accessToken === winner?.accessToken)
          outcomes.push(winners.length === 1 && stored?.accessToken === winner?.accessToken && losersSawIt ? 'one winner' : `${winners.length} winners`)
        }
        t.same([...new Set(outcomes)], ['one winner'], `${rounds} rounds of 3 instances at once: exactly one wins, it is stored, the others are told what is`)
        if (sealed) {
          const raw = await probe.get('cas:{zoe}') ?? ''
          t.ok(raw.startsWith('fm1.') && !raw.includes('at-r'), 'stored sealed')
        }

        const current = await a.get('zoe') as MiroTokenState
        const before = await probe.get('cas:{zoe}')
        t.same(await a.replace('zoe', 'at-stale', stateOf('x')), { replaced: false, current }, 'a stale expected token: not replaced, the current state returned')
        t.equal(await probe.get('cas:{zoe}'), before, 'the stored bytes untouched')

        // The expiry follows the rule of set(): 60 days with a refresh token, none without.
        await probe.expire('cas:{zoe}', 100)
        t.same(await a.replace('zoe', current.accessToken, stateOf('t1')), { replaced: true })
        const ttl = await probe.ttl('cas:{zoe}')
        t.ok(ttl > SIXTY_DAYS - 10 && ttl <= SIXTY_DAYS, `with a refresh token: 60 days (ttl ${ttl})`)
        t.same(await a.replace('zoe', 'at-t1', stateOf('t2', false)), { replaced: true })
        t.equal(await probe.ttl('cas:{zoe}'), -1, 'without one: no expiry, the earlier one dropped')
        const withTtl = createRedisStore(clients[1] as unknown as RedisClient, { keyPrefix: 'cas:', ttl: 300 }, silent, codec)
        t.same(await withTtl.replace('zoe', 'at-t2', stateOf('t3')), { replaced: true })
        const own = await probe.ttl('cas:{zoe}')
        t.ok(own > 290 && own <= 300, `the ttl option overrides (ttl ${own})`)
        t.same(await a.replace('zoe', 'at-t3', undefined), { replaced: true }, 'undefined deletes')
        t.equal(await probe.exists('cas:{zoe}'), 0)

        // Another instance writes between this replace's read and its write.
        const racing = racingClient(clients[2] as Redis)
        const raced = createRedisStore(racing.client, { keyPrefix: 'cas:' }, silent, codec)
        const b = stores[1] as TokenStore
        await b.set('zoe', stateOf('s'))
        racing.interleave(() => b.set('zoe', stateOf('newer')))
        t.same(await raced.replace('zoe', 'at-s', stateOf('mine')), { replaced: false, current: stateOf('newer') }, 'a newer pair stored meanwhile wins')
        t.equal((await a.get('zoe'))?.accessToken, 'at-newer', 'and stays stored')
        // The same access token written again meanwhile (new bytes: another scope, or sealed anew): still ours to replace.
        racing.interleave(() => b.set('zoe', { ...stateOf('newer'), scope: 'boards:read' }))
        t.same(await raced.replace('zoe', 'at-newer', stateOf('mine')), { replaced: true }, 'the same access token under new bytes: replaced')
        t.equal((await a.get('zoe'))?.accessToken, 'at-mine')
      })
    }
  })

  t.test('replace on the memory backend: atomic too', async (t) => {
    for (const codec of [undefined, createSealCodec(parseEncryptionKeys(randomBytes(32)) ?? [], true)]) {
      const store = createMemoryStore(silent, codec)
      t.same(await store.replace('zoe', 'at-0', stateOf('1')), { replaced: false, current: undefined })
      await store.set('zoe', stateOf('0'))
      const results = await Promise.all([1, 2, 3].map((i) => store.replace('zoe', 'at-0', stateOf(String(i)))))
      t.same(results.map((r) => r.replaced), [true, false, false], 'three at once: the first wins')
      t.same(results.slice(1).map((r) => !r.replaced && r.current?.accessToken), ['at-1', 'at-1'], 'the others are told the winner')
      t.equal((await store.get('zoe'))?.accessToken, 'at-1')
      t.same(await store.replace('zoe', 'at-1', undefined), { replaced: true })
      t.equal(await store.get('zoe'), undefined, 'undefined deletes')
    }
  })
})
