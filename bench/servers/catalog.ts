// Scenario name → a started server. Every server listens on 127.0.0.1, on a free port.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { ServerConfig } from '../protocol'
import type { ExpressServer } from './express-apps'
import { cookieFrom } from './setup'

export interface StartedServer {
  url: string
  headers: Record<string, string>
  close (): Promise<void>
}

interface Entry {
  build (config: ServerConfig): Promise<FastifyInstance | ExpressServer>
  /** Log in once with GET /setup and send its session cookie with every load request. */
  login: boolean
}

// Modules are loaded on demand: an Express child never loads Fastify or fastify-miro, and back.
type FastifyApps = typeof import('./fastify-apps')
type ExpressApps = typeof import('./express-apps')
const fastifyApps = (): FastifyApps => require('./fastify-apps') as FastifyApps
const expressApps = (): ExpressApps => require('./express-apps') as ExpressApps

export const SERVERS: Record<string, Entry> = {
  'session-reference': { build: async () => fastifyApps().sessionReference(), login: true },
  'session-plugin': { build: async () => fastifyApps().sessionWithPlugin(), login: true },
  'redis-plain': { build: async (c) => fastifyApps().redisPlain(c), login: false },
  'redis-plugin': { build: async (c) => fastifyApps().redisWithPlugin(c), login: false },
  'redis-express-recipe': { build: async (c) => expressApps().redisRecipe(c), login: true },
  'session-auth-plugin': { build: async () => fastifyApps().sessionAuthWithPlugin(), login: true },
  'session-auth-by-hand': { build: async () => fastifyApps().sessionAuthByHand(), login: true },
  'session-auth-express-recipe': { build: async () => expressApps().sessionRecipe(), login: true },
  'storm-plugin': { build: async (c) => fastifyApps().stormWithPlugin(c), login: false },
  'storm-express-recipe': { build: async (c) => expressApps().stormRecipe(c), login: false },
  'api10-plugin': { build: async (c) => fastifyApps().api10WithPlugin(c), login: false },
  'api10-sdk': { build: async (c) => fastifyApps().api10WithSdk(c), login: false },
  'users-plugin': { build: async (c) => fastifyApps().usersWithPlugin(c), login: false }
}

function isFastify (built: FastifyInstance | ExpressServer): built is FastifyInstance {
  return typeof (built as FastifyInstance).inject === 'function'
}

async function listen (built: FastifyInstance | ExpressServer): Promise<{ url: string, close (): Promise<void> }> {
  if (isFastify(built)) {
    const url = await built.listen({ host: '127.0.0.1', port: 0 })
    return { url, close: () => built.close() }
  }
  const server = await new Promise<Server>((resolve, reject) => {
    const s = built.app.listen(0, '127.0.0.1', (err?: Error) => err ? reject(err) : resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await built.close()
    }
  }
}

export async function startServer (name: string, config: ServerConfig): Promise<StartedServer> {
  const entry = SERVERS[name]
  if (entry === undefined) throw new Error(`unknown server '${name}': one of ${Object.keys(SERVERS).join(', ')}`)
  const { url, close } = await listen(await entry.build(config))
  const headers: Record<string, string> = entry.login ? { cookie: await cookieFrom(url + '/setup') } : {}
  return { url: url + '/', headers, close }
}
