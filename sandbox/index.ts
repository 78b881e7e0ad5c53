// fastify-miro/sandbox: a local stand-in for the parts of Miro an app touches
// (OAuth consent, token endpoint, revoke, token info, boards). Start one per test.
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { submitConsent } from './client'
import { mintIdToken } from './idtoken'
import { createRouter } from './router'
import { DIGITS, Store, type Context } from './state'
import type { Sandbox, SandboxOptions, TokenFault } from './types'

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
    mintIdToken: (idOpts) => mintIdToken(ctx.store, ctx.clientId, ctx.clientSecret, ctx.numericIds, idOpts),
    failTokenEndpoint (mode) {
      if (mode !== null) checkFault(mode)
      ctx.fault = mode === null ? null : { ...mode, remaining: mode.times ?? Infinity }
    },
    accessTokensOf: (userId) => ctx.store.liveAccessTokensOf(userId),
    refreshTokensOf: (userId) => ctx.store.liveRefreshTokensOf(userId),
    revokeUser: (userId) => ctx.store.revokeUser(userId),
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
  const numericIds = opts.numericIds === true
  if (numericIds) {
    for (const [i, user] of users.entries()) {
      for (const key of ['id', 'teamId'] as const) {
        const id = user[key]
        if (id !== undefined && !DIGITS.test(id)) {
          throw new TypeError(`options.users[${i}].${key} should be a string of digits (no sign, no leading zero) with numericIds: true, got ${JSON.stringify(id)}`)
        }
      }
    }
  }
  return {
    store: new Store(opts.now ?? Date.now, users),
    clientId: opts.clientId ?? 'sandbox-client-id',
    clientSecret: opts.clientSecret ?? 'sandbox-client-secret',
    expiresIn,
    numericIds,
    tokenCalls: [],
    revokeCalls: [],
    fault: null,
    timers: new Set()
  }
}

function checkFault (mode: TokenFault): void {
  const { status, delayMs, answerDelayMs, times } = mode
  if (status === undefined && delayMs === undefined && answerDelayMs === undefined) {
    throw new TypeError('failTokenEndpoint: give status, delayMs, answerDelayMs or a combination (or null to reset)')
  }
  if (status !== undefined && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
    throw new TypeError('failTokenEndpoint: status should be an HTTP error status from 400 to 599')
  }
  for (const [name, ms] of [['delayMs', delayMs], ['answerDelayMs', answerDelayMs]] as const) {
    if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0)) {
      throw new TypeError(`failTokenEndpoint: ${name} should be a number of milliseconds, 0 or more`)
    }
  }
  if (status !== undefined && answerDelayMs !== undefined) {
    // A refused call issues nothing, so there is nothing to lose by answering late.
    throw new TypeError('failTokenEndpoint: answerDelayMs holds back the answer of a call that was handled; status refuses the call instead. For a late refusal use { status, delayMs }')
  }
  if (times !== undefined && !(times === Infinity || (Number.isInteger(times) && times > 0))) {
    throw new TypeError('failTokenEndpoint: times should be a positive whole number (or leave it out for every call)')
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
