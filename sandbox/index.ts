// fastify-miro/sandbox: a local stand-in for the parts of Miro an app touches (OAuth consent,
// token endpoint, revoke, token info, boards and what is on them, a board page). Start one per
// test.
//
// Its HTTP side is a Fastify app (app.ts), not a hand router over node:http: with some sixty
// Miro operations, route schemas taken from Miro's own OpenAPI document (spec/) give request
// validation and Miro-shaped 400s from one source, and Fastify is a peer dependency already.
import { buildApp } from './app'
import { submitConsent } from './client'
import { checkEndpointFault, routeKey } from './faults'
import { mintIdToken } from './idtoken'
import { DIGITS, Store, type BoardRecord, type Context } from './state'
import type { Sandbox, SandboxBoard, SandboxItem, SandboxOptions, TokenFault } from './types'

export type {
  BoardRole,
  ConsentOptions,
  EndpointFault,
  IdTokenOptions,
  RevokeCall,
  Sandbox,
  SandboxBoard,
  SandboxItem,
  SandboxOptions,
  SandboxUser,
  TokenCall,
  TokenFault
} from './types'

export async function startSandbox (opts: SandboxOptions = {}): Promise<Sandbox> {
  const ctx = createContext(opts)
  const app = buildApp(ctx)
  const url = await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 0)
  let closing: Promise<void> | undefined
  const boardOf = (boardId: string): BoardRecord => {
    const board = ctx.store.boards.get(boardId)
    if (!board) throw new Error(`The sandbox has no board ${boardId}`)
    return board
  }

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
    failEndpoint (endpoint, mode) {
      const key = routeKey(endpoint)
      if (mode === null) {
        ctx.endpointFaults.delete(key)
        return
      }
      checkEndpointFault(key, mode, ctx.routes)
      ctx.endpointFaults.set(key, { ...mode, remaining: mode.times ?? Infinity })
    },
    boards: (userId) => ctx.store.boardsOf(userId).map(boardView),
    items: (boardId) => [...boardOf(boardId).content.items.values()].map(itemView),
    connectors: (boardId) => [...boardOf(boardId).content.connectors.values()].map((c) => ({ id: c.id, startItem: c.startItem.id, endItem: c.endItem.id, shape: c.shape })),
    tags: (boardId) => [...boardOf(boardId).content.tags.values()].map((t) => ({ ...t })),
    shareBoard (boardId, userId, role) {
      if (!ctx.store.findUser(userId)) throw new Error(`The sandbox has no user ${userId}`)
      const board = boardOf(boardId)
      if (board.ownerId === userId) throw new Error('shareBoard: that user owns the board')
      board.members.set(userId, role)
    },
    close () {
      closing ??= (async () => {
        for (const timer of ctx.timers) clearTimeout(timer)
        ctx.timers.clear()
        await app.close()
      })()
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
    timers: new Set(),
    endpointFaults: new Map(),
    routes: new Set(),
    uploads: new Map()
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

function boardView (b: BoardRecord): SandboxBoard {
  return {
    id: b.id,
    name: b.name,
    description: b.description,
    ownerId: b.ownerId,
    teamId: b.teamId,
    ...(b.projectId === undefined ? {} : { projectId: b.projectId }),
    members: Object.fromEntries(b.members)
  }
}

function itemView (i: BoardRecord['content']['items'] extends Map<string, infer T> ? T : never): SandboxItem {
  return structuredClone({
    id: i.id,
    type: i.type,
    data: i.data,
    ...(i.style ? { style: i.style } : {}),
    position: i.position,
    geometry: i.geometry,
    ...(i.parentId === undefined ? {} : { parentId: i.parentId }),
    tagIds: i.tagIds,
    createdBy: i.createdBy
  })
}

async function listen (app: ReturnType<typeof buildApp>, host: string, port: number): Promise<string> {
  await app.listen({ host, port })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('Sandbox server has no TCP address')
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${hostPart}:${address.port}`
}
