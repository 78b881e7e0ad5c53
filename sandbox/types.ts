// Public shapes of the sandbox. Kept apart from the code so every module can import them
// without import cycles.

export interface SandboxUser {
  id: string
  name: string
  teamId: string
  teamName: string
}

export interface SandboxOptions {
  /** Interface to bind. Default '127.0.0.1': the sandbox is for loopback only. */
  host?: string
  /** Default 0: a free port chosen by the OS. */
  port?: number
  /** Default 'sandbox-client-id'. */
  clientId?: string
  /** Default 'sandbox-client-secret'. */
  clientSecret?: string
  /**
   * Access-token life in seconds (default 3599, like Miro). `null` switches to Miro's
   * non-expiring tokens: no refresh_token and no expires_in in token responses.
   */
  expiresIn?: number | null
  /** Default one user named 'Sandbox User'. Missing ids and team are generated. */
  users?: Array<Partial<SandboxUser> & { name: string }>
  /**
   * Clock in milliseconds used for every expiry decision and timestamp (default Date.now).
   * Lets tests expire codes and tokens without waiting.
   */
  now?: () => number
  /**
   * Write `user_id` and `team_id` of token answers, and `team` and `user` of id tokens, as bare
   * JSON numbers with their exact digits, the way Miro shows `team_id` in one of its examples.
   * Sandbox ids are 19 digits, above 2^53: `JSON.parse` rounds them. Every user and team id must
   * then be a string of digits. Default false: ids are JSON strings.
   */
  numericIds?: boolean
}

export interface TokenCall {
  grantType: string
  ok: boolean
  status: number
  error?: string
  /** true when client_secret came in the query string (what the SDK does), not the body. */
  secretInQuery: boolean
  /** When the call arrived (ms, sandbox clock). */
  at: number
  /**
   * Only for calls whose answer was held back (`failTokenEndpoint({ answerDelayMs })`): 'pending'
   * while it waits, then 'sent', or 'lost' when the client had gone by then (it never got the
   * tokens the call issued).
   */
  lateAnswer?: 'pending' | 'sent' | 'lost'
}

export interface RevokeCall {
  ok: boolean
  at: number
}

export interface ConsentOptions {
  /** Approve as this existing user. */
  userId?: string
  /** Approve as the user with this name, creating them when unknown (what typing a name does). */
  userName?: string
}

export interface IdTokenOptions {
  /** Default: the first user. */
  userId?: string
  /** Default: the user's team. */
  teamId?: string
  /** Seconds from iat to exp. Default 3600. */
  expiresIn?: number
  /** Sign with this secret instead of the client secret (to test bad signatures). */
  clientSecret?: string
  /** Put this in `sub` instead of the client id (to test tokens made for another app). */
  clientId?: string
  /** `nbf` claim, in seconds since the epoch. Omitted by default. */
  notBefore?: number
  /** `iat` claim, in seconds since the epoch. Default: now. */
  iat?: number
}

export interface TokenFault {
  /** Answer with this status (400–599) and a Miro error body instead of handling the call. */
  status?: number
  /** Wait this long, then handle the call (normally, unless `status` is set too). */
  delayMs?: number
  /**
   * Handle the call at once (a code is consumed, a refresh token rotated, the new pair issued
   * and live), then hold the HTTP answer back this long. A client that gives up meanwhile has
   * lost that pair, as with real Miro. Not with `status`: a refused call issues nothing.
   */
  answerDelayMs?: number
  /** How many token calls are affected. Default Infinity. */
  times?: number
}

export interface EndpointFault {
  /** Answer with this status (400–599) and a Miro error body instead of handling the call. */
  status?: number
  /** Wait this long, then handle the call (or refuse it, with `status`). */
  delayMs?: number
  /** How many calls are affected. Default Infinity. */
  times?: number
}

export type BoardRole = 'viewer' | 'commenter' | 'editor' | 'coowner' | 'owner'

/** A board as sandbox.boards() shows it: a copy, for assertions. */
export interface SandboxBoard {
  id: string
  name: string
  description: string
  ownerId: string
  teamId: string
  projectId?: string
  members: Record<string, BoardRole>
}

/** An item, connector or tag as sandbox.items() shows it: a copy, for assertions. */
export interface SandboxItem {
  id: string
  type: string
  data: Record<string, unknown>
  style?: Record<string, unknown>
  position: { x: number, y: number }
  geometry: { width?: number, height?: number, rotation?: number }
  parentId?: string
  tagIds: string[]
  createdBy: string
}

export interface Sandbox {
  /** 'http://127.0.0.1:PORT' — the basePath for fastify-miro and MiroApi. */
  url: string
  clientId: string
  clientSecret: string
  /** Live list: users created on the consent page are appended. */
  users: SandboxUser[]
  /** Every handled POST /v1/oauth/token, in order (recorded when handled, before a held-back answer). */
  tokenCalls: TokenCall[]
  /** Every answered POST /v2/oauth/revoke, in order. */
  revokeCalls: RevokeCall[]
  /** As if the user clicked Allow; resolves to the redirect Location (redirect_uri?code=…&state=…). */
  approve (authorizeUrl: string, opts?: ConsentOptions): Promise<string>
  /** As if the user clicked Deny; resolves to the Location with error=access_denied. */
  deny (authorizeUrl: string): Promise<string>
  /** A Web SDK id token: HS256 JWT signed with the client secret. */
  mintIdToken (opts?: IdTokenOptions): string
  /** Fault injection for the token endpoint; null resets. */
  failTokenEndpoint (mode: TokenFault | null): void
  /** Access tokens of this user that still work (unexpired, unrevoked). */
  accessTokensOf (userId: string): string[]
  /** Refresh tokens of this user that still work (unused, unexpired, unrevoked). */
  refreshTokensOf (userId: string): string[]
  /**
   * As if the user removed the app or an admin revoked it: every access and refresh token of
   * this user's grants stops working (API calls answer 401, refreshes invalid_grant). A later
   * login makes a new grant that works. Returns how many live tokens it revoked.
   */
  revokeUser (userId: string): number
  /** Fault injection for one REST endpoint, named 'METHOD /path' as in the spec ('GET /v2/boards/{board_id}/items'); null resets it. */
  failEndpoint (endpoint: string, mode: EndpointFault | null): void
  /** The boards this user is a member of, in creation order. */
  boards (userId: string): SandboxBoard[]
  /** What is on a board: its items (creation order), connectors and tags. Throws for an unknown board. */
  items (boardId: string): SandboxItem[]
  connectors (boardId: string): Array<{ id: string, startItem: string, endItem: string, shape: string }>
  tags (boardId: string): Array<{ id: string, title: string, fillColor: string }>
  /** Makes a user a member of a board with this role (as if the owner shared it). */
  shareBoard (boardId: string, userId: string, role: BoardRole): void
  /** Closes the server and every socket, keep-alive ones included. */
  close (): Promise<void>
}
