// fastify-miro/sandbox: a local stand-in for the parts of Miro an app touches
// (OAuth consent, token endpoint, revoke, token info, boards). Start one per test.
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { submitConsent } from './client'
import { mintIdToken } from './idtoken'
import { createRouter } from './router'
import { Store, type Context } from './state'
import type { Sandbox, SandboxOptions } from './types'

export type {
  ConsentOptions,
  IdTokenOptions,
  RevokeCall,
  Sandbox,
  SandboxOptions,
  SandboxUser,
  TokenCall,
  TokenFault
} from './types'

export async function startSandbox (opts: SandboxOptions = {}): Promise<Sandbox> {
  const ctx = createContext(opts)
  const server = createServer(createRouter(ctx))
  const sockets = trackSockets(server)
  const url = await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0)
  let closing: Promise<void> | undefined

  return {
    url,
    clientId: ctx.clientId,
    clientSecret: ctx.clientSecret,
    users: ctx.store.users,
    tokenCalls: ctx.tokenCalls,
    revokeCalls: ctx.revokeCalls,
    approve: (authorizeUrl, consent) => submitConsent(url, authorizeUrl, 'allow', consent),
    deny: (authorizeUrl) => submitConsent(url, authorizeUrl, 'deny'),
    mintIdToken: (idOpts) => mintIdToken(ctx.store, ctx.clientId, ctx.clientSecret, idOpts),
    failTokenEndpoint (mode) {
      if (mode !== null && mode.status === undefined && mode.delayMs === undefined) {
        throw new TypeError('failTokenEndpoint: give status, delayMs or both (or null to reset)')
      }
      ctx.fault = mode === null ? null : { ...mode, remaining: mode.times ?? Infinity }
    },
    accessTokensOf: (userId) => ctx.store.liveAccessTokensOf(userId),
    close () {
      closing ??= new Promise<void>((resolve, reject) => {
        for (const timer of ctx.timers) clearTimeout(timer)
        ctx.timers.clear()
        server.close((err) => err ? reject(err) : resolve())
        // server.close() alone waits for keep-alive sockets to go idle and time out.
        for (const socket of sockets) socket.destroy()
      })
      return closing
    }
  }
}

function createContext (opts: SandboxOptions): Context {
  const expiresIn = opts.expiresIn === undefined ? 3599 : opts.expiresIn
  if (expiresIn !== null && !(Number.isFinite(expiresIn) && expiresIn > 0)) {
    throw new TypeError('options.expiresIn should be a positive number of seconds, or null for non-expiring tokens')
  }
  const users = opts.users ?? [{ name: 'Sandbox User' }]
  if (users.length === 0 || users.some((u) => !u.name)) {
    throw new TypeError('options.users should list at least one user, each with a name')
  }
  return {
    store: new Store(opts.now ?? Date.now, users),
    clientId: opts.clientId ?? 'sandbox-client-id',
    clientSecret: opts.clientSecret ?? 'sandbox-client-secret',
    expiresIn,
    tokenCalls: [],
    revokeCalls: [],
    fault: null,
    timers: new Set()
  }
}

function trackSockets (server: Server): Set<Socket> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return sockets
}

function listen (server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') {
        reject(new Error('Sandbox server has no TCP address'))
        return
      }
      const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address
      resolve(`http://${hostPart}:${address.port}`)
    })
  })
}
