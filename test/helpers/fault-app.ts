// The app every fault scenario runs, in the test process or in a child process (fault-child.ts):
// @fastify/redis + fastify-miro with tokens in Redis, the user named by an `x-user` header.
// Routes: POST /login (exchanges a code), GET /me (the guard only), GET /boards (the guard and
// one Miro API call), GET /authorized (isAuthorized), POST /logout (revokeToken), and the
// plugin's own routes when `routes` is on (POST /auth/miro/logout).
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyRedis from '@fastify/redis'
import fastifyMiro, { type FastifyMiroOptions } from '../../index'
import { REDIRECT_URL } from './app'

/** What an instance needs to know of Miro: where it is and the app's credentials. */
export interface MiroEndpoint {
  /** basePath: the sandbox, a fault proxy in front of it, or a black hole. */
  url: string
  clientId: string
  clientSecret: string
}

export interface FaultAppOptions {
  miro: MiroEndpoint
  redisUrl: string
  /** ioredis options for @fastify/redis instead of `redisUrl` (e.g. `{ sentinels, name }`), as JSON. */
  redisOptions?: Record<string, unknown>
  /**
   * More plugin options (httpTimeout…), as JSON for a child process. The index signature lets
   * options other branches are adding (storageTimeout) through until they are in FastifyMiroOptions.
   */
  options?: FastifyMiroOptions & Record<string, unknown>
  /** Register the plugin's login, callback and logout routes (default false). */
  routes?: boolean
}

const userOf = (request: { headers: Record<string, unknown> }): string => String(request.headers['x-user'] ?? '')

export async function buildFaultApp (opts: FaultAppOptions): Promise<FastifyInstance> {
  const app = Fastify()
  // Needed by the plugin's routes (the OAuth state rides in a signed cookie without a session).
  await app.register(fastifyCookie, { secret: 'cookie-secret-for-tests-only-0123456789' })
  // ioredis with its defaults, as an app would have it: what happens in an outage is the plugin's doing.
  await app.register(fastifyRedis, opts.redisOptions ?? { url: opts.redisUrl })
  // Reconnect errors are expected here (the scenarios kill Redis); without a listener ioredis prints each.
  const client = (app as unknown as { redis: { on (e: 'error', l: () => void): void, disconnect (): void } }).redis
  client.on('error', () => {})
  // ioredis 6.0.0's quit() (what @fastify/redis closes with) leaves the Sentinel failover
  // detector's connections open, and the process with them (redis/ioredis#1362): disconnect too.
  if (opts.redisOptions !== undefined) app.addHook('onClose', () => { client.disconnect() })
  const options: FastifyMiroOptions = {
    clientId: opts.miro.clientId,
    clientSecret: opts.miro.clientSecret,
    redirectUrl: REDIRECT_URL,
    basePath: opts.miro.url,
    storage: 'redis',
    routes: opts.routes === true,
    userId: userOf,
    ...opts.options
  }
  await app.register(fastifyMiro, options)
  app.post<{ Body: { code: string } }>('/login', async (request) =>
    request.miro.exchangeCodeForAccessToken(userOf(request), request.body.code).then(() => 'ok'))
  app.get('/me', { preHandler: app.miro.requireAuth }, async () => 'ok')
  app.get('/boards', { preHandler: app.miro.requireAuth }, async (request) => {
    const names: string[] = []
    for await (const board of request.miro.as(userOf(request)).getAllBoards()) names.push(board.name ?? '')
    return names
  })
  app.get('/authorized', async (request) => ({ authorized: await request.miro.isAuthorized(userOf(request)) }))
  app.post('/logout', async (request) => {
    await request.miro.revokeToken(userOf(request))
    return 'bye'
  })
  return app
}
