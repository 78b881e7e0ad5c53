// The sandbox's memory: users, authorization codes, grants, tokens and boards.
// No HTTP here, so the rules (single-use codes, rotation, revocation) read in one place.
import { randomBytes, randomInt } from 'node:crypto'
import type { BoardRole, EndpointFault, RevokeCall, SandboxUser, TokenCall, TokenFault } from './types'

export const SCOPES = ['boards:read', 'boards:write']
/** A JSON integer without sign or leading zeros: the ids numericIds can write as bare numbers. */
export const DIGITS = /^(?:0|[1-9][0-9]*)$/
const CODE_LIFE_MS = 10 * 60 * 1000 // Miro: codes live 10 minutes
const REFRESH_LIFE_MS = 60 * 24 * 3600 * 1000 // Miro: refresh tokens live 60 days
const DEFAULT_TEAM_NAME = 'Sandbox Team'

export interface AuthCode {
  clientId: string
  redirectUri: string
  userId: string
  expiresAt: number
  used: boolean
}

/** One user's consent to one app; every token pair issued from it shares it. */
export interface Grant {
  userId: string
  teamId: string
  clientId: string
  createdAt: number
}

export interface AccessToken {
  grant: Grant
  expiresAt: number | null
  revoked: boolean
}

export interface RefreshToken {
  grant: Grant
  expiresAt: number
  used: boolean
  revoked: boolean
}

export type { BoardRole } from './types'

export interface BoardRecord {
  id: string
  name: string
  description: string
  ownerId: string
  teamId: string
  projectId?: string
  /** BoardPolicy as Miro returns it (defaults filled in). */
  policy: Record<string, Record<string, unknown>>
  createdAt: number
  modifiedAt: number
  modifiedBy: string
  /** Set by opening the board's /app/board/<id>/ page, like opening it in Miro. */
  lastOpened?: { at: number, by: string }
  /** Who may read (every member) and write (editor, coowner, owner). */
  members: Map<string, BoardRole>
  /** What is on the board: items, connectors, tags (sandbox/items/). */
  content: BoardContent
}

export interface ItemRecord {
  id: string
  type: ItemType
  data: Record<string, unknown>
  style?: Record<string, unknown>
  /** Centre point; relative to the parent frame's top left when parentId is set. */
  position: { x: number, y: number }
  geometry: { width?: number, height?: number, rotation?: number }
  parentId?: string
  tagIds: string[]
  createdAt: number
  createdBy: string
  modifiedAt: number
  modifiedBy: string
}

export type ItemType = 'sticky_note' | 'shape' | 'text' | 'card' | 'app_card' | 'frame' | 'image' | 'document' | 'embed'

export interface ConnectorRecord {
  id: string
  startItem: { id: string, position?: Record<string, unknown>, snapTo?: string }
  endItem: { id: string, position?: Record<string, unknown>, snapTo?: string }
  shape: string
  captions: Array<Record<string, unknown>>
  style: Record<string, unknown>
  createdAt: number
  createdBy: string
  modifiedAt: number
  modifiedBy: string
}

export interface TagRecord {
  id: string
  title: string
  fillColor: string
}

export interface BoardContent {
  /** In creation order, which is the order lists and cursors follow. */
  items: Map<string, ItemRecord>
  connectors: Map<string, ConnectorRecord>
  tags: Map<string, TagRecord>
}

const DEFAULT_POLICY = (): BoardRecord['policy'] => ({
  permissionsPolicy: { collaborationToolsStartAccess: 'all_editors', copyAccess: 'anyone', sharingAccess: 'team_members_with_editing_rights' },
  sharingPolicy: { access: 'private', inviteToAccountAndBoardLinkAccess: 'no_access', organizationAccess: 'private', teamAccess: 'private' }
})

export interface IssuedTokens {
  accessToken: string
  refreshToken?: string
}

export class Store {
  readonly users: SandboxUser[] = []
  readonly codes = new Map<string, AuthCode>()
  readonly accessTokens = new Map<string, AccessToken>()
  readonly refreshTokens = new Map<string, RefreshToken>()
  readonly boards = new Map<string, BoardRecord>()
  readonly defaultTeam: { id: string, name: string }
  /** Every sandbox team belongs to one organization (GET /v1/oauth-token names it). */
  readonly organization: { id: string, name: string }
  private readonly usedIds = new Set<string>()

  constructor (readonly now: () => number, users: Array<Partial<SandboxUser> & { name: string }>) {
    const first = users[0]
    this.defaultTeam = {
      id: first?.teamId ?? this.numericId(),
      name: first?.teamName ?? DEFAULT_TEAM_NAME
    }
    this.organization = { id: this.numericId(), name: 'Sandbox Organization' }
    for (const user of users) this.addUser(user)
  }

  /** Miro ids are 19-digit numbers starting 34587645…; unique within this sandbox. */
  numericId (): string {
    let id: string
    do id = '34587645' + String(randomInt(1e10, 1e11)).slice(-11).padStart(11, '0')
    while (this.usedIds.has(id))
    this.usedIds.add(id)
    return id
  }

  addUser (input: Partial<SandboxUser> & { name: string }): SandboxUser {
    const teamId = input.teamId ?? this.defaultTeam.id
    const user: SandboxUser = {
      id: input.id ?? this.numericId(),
      name: input.name,
      teamId,
      teamName: input.teamName ?? this.teamName(teamId)
    }
    this.usedIds.add(user.id)
    this.users.push(user)
    this.createBoard(user, `${user.name}'s first board`, '')
    return user
  }

  findUser (id: string): SandboxUser | undefined {
    return this.users.find((u) => u.id === id)
  }

  /** What typing a name on the consent page does. A known teamId is joined, else the default team. */
  findOrCreateUser (name: string, teamId?: string): SandboxUser {
    const known = this.users.find((u) => u.name === name)
    if (known) return known
    const team = teamId && this.users.some((u) => u.teamId === teamId) ? teamId : this.defaultTeam.id
    return this.addUser({ name, teamId: team })
  }

  issueCode (clientId: string, redirectUri: string, userId: string): string {
    const code = secret()
    this.codes.set(code, { clientId, redirectUri, userId, expiresAt: this.now() + CODE_LIFE_MS, used: false })
    return code
  }

  /** Marks the code used and returns it, or undefined when it is unknown, used or expired. */
  consumeCode (code: string, clientId: string): AuthCode | undefined {
    const record = this.codes.get(code)
    if (!record || record.used || record.expiresAt <= this.now() || record.clientId !== clientId) return undefined
    record.used = true
    return record
  }

  createGrant (user: SandboxUser, clientId: string): Grant {
    return { userId: user.id, teamId: user.teamId, clientId, createdAt: this.now() }
  }

  /** expiresIn null = non-expiring mode: the access token never expires and there is no refresh token. */
  issueTokens (grant: Grant, expiresIn: number | null): IssuedTokens {
    const accessToken = secret()
    const now = this.now()
    this.accessTokens.set(accessToken, {
      grant,
      expiresAt: expiresIn === null ? null : now + expiresIn * 1000,
      revoked: false
    })
    if (expiresIn === null) return { accessToken }
    const refreshToken = secret()
    this.refreshTokens.set(refreshToken, { grant, expiresAt: now + REFRESH_LIFE_MS, used: false, revoked: false })
    return { accessToken, refreshToken }
  }

  /** Rotation like Miro: a refresh token works once, then it is dead. */
  consumeRefreshToken (token: string, clientId: string): RefreshToken | undefined {
    const record = this.refreshTokens.get(token)
    if (!record || !this.refreshIsLive(record) || record.grant.clientId !== clientId) return undefined
    record.used = true
    return record
  }

  private refreshIsLive (record: RefreshToken): boolean {
    return !record.used && !record.revoked && record.expiresAt > this.now()
  }

  liveAccessToken (token: string): AccessToken | undefined {
    const record = this.accessTokens.get(token)
    if (!record || record.revoked) return undefined
    if (record.expiresAt !== null && record.expiresAt <= this.now()) return undefined
    return record
  }

  /** Revokes the access token and the refresh token(s) of its grant. False when the token is unknown. */
  revoke (token: string, clientId: string): boolean {
    const record = this.accessTokens.get(token)
    if (!record || record.grant.clientId !== clientId) return false
    record.revoked = true
    for (const refresh of this.refreshTokens.values()) {
      if (refresh.grant === record.grant) refresh.revoked = true
    }
    return true
  }

  /** v1 revoke: the access token names its own grant. False when it is unknown or no longer live. */
  revokeAccessToken (token: string): boolean {
    const record = this.liveAccessToken(token)
    return record ? this.revoke(token, record.grant.clientId) : false
  }

  liveAccessTokensOf (userId: string): string[] {
    return [...this.accessTokens.keys()].filter((t) => this.liveAccessToken(t)?.grant.userId === userId)
  }

  liveRefreshTokensOf (userId: string): string[] {
    return [...this.refreshTokens].filter(([, r]) => r.grant.userId === userId && this.refreshIsLive(r)).map(([t]) => t)
  }

  /** Revokes every token of every grant of this user (all apps); returns how many were still live. */
  revokeUser (userId: string): number {
    let revoked = 0
    for (const [token, record] of this.accessTokens) {
      if (record.grant.userId !== userId) continue
      if (this.liveAccessToken(token)) revoked++
      record.revoked = true
    }
    for (const record of this.refreshTokens.values()) {
      if (record.grant.userId !== userId) continue
      if (this.refreshIsLive(record)) revoked++
      record.revoked = true
    }
    return revoked
  }

  createBoard (owner: SandboxUser, name: string, description: string, more: { teamId?: string, projectId?: string, policy?: Record<string, Record<string, unknown>> } = {}): BoardRecord {
    const now = this.now()
    const policy = DEFAULT_POLICY()
    for (const [key, value] of Object.entries(more.policy ?? {})) policy[key] = { ...policy[key], ...value }
    const board: BoardRecord = {
      id: this.boardId(),
      name,
      description,
      ownerId: owner.id,
      teamId: more.teamId ?? owner.teamId,
      ...(more.projectId === undefined ? {} : { projectId: more.projectId }),
      policy,
      createdAt: now,
      modifiedAt: now,
      modifiedBy: owner.id,
      members: new Map([[owner.id, 'owner']]),
      content: { items: new Map(), connectors: new Map(), tags: new Map() }
    }
    this.boards.set(board.id, board)
    return board
  }

  /** The boards this user is a member of (owner included), in creation order. */
  boardsOf (userId: string): BoardRecord[] {
    return [...this.boards.values()].filter((b) => b.members.has(userId))
  }

  /** Teams the sandbox knows: the default one and every user's. */
  knowsTeam (teamId: string): boolean {
    return teamId === this.defaultTeam.id || this.users.some((u) => u.teamId === teamId)
  }

  teamName (teamId: string): string {
    if (teamId === this.defaultTeam.id) return this.defaultTeam.name
    return this.users.find((u) => u.teamId === teamId)?.teamName ?? `Team ${teamId}`
  }

  /** Miro board ids look like 'uXjVOD6LSME='. */
  private boardId (): string {
    let id: string
    do id = 'uXjV' + randomBytes(6).toString('base64').replace(/[+/]/g, 'x').slice(0, 7) + '='
    while (this.boards.has(id))
    return id
  }
}

/** Everything a request handler needs; one per sandbox. */
export interface Context {
  store: Store
  clientId: string
  clientSecret: string
  expiresIn: number | null
  /** SandboxOptions.numericIds: ids go out as bare JSON numbers. */
  numericIds: boolean
  tokenCalls: TokenCall[]
  revokeCalls: RevokeCall[]
  fault: (TokenFault & { remaining: number }) | null
  /** Pending fault delays and held-back answers, cleared on close so nothing outlives the server. */
  timers: Set<NodeJS.Timeout>
  /** failEndpoint: 'METHOD /route/:pattern' → fault. */
  endpointFaults: Map<string, EndpointFault & { remaining: number }>
  /** Every 'METHOD /route/:pattern' the app serves (failEndpoint refuses others). */
  routes: Set<string>
  /** Files uploaded with multipart image creation, served at /app/uploads/<id>. */
  uploads: Map<string, { type: string, body: Buffer }>
}

/** Opaque, unguessable token text (codes, access and refresh tokens). */
function secret (): string {
  return randomBytes(32).toString('base64url')
}
