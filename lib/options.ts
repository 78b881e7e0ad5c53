// Options: defaults, MIRO_* environment fallbacks, and validation done once at register time
// with messages that say how to fix the problem.
import type { FastifyRequest } from 'fastify'
import type { Storage } from '@mirohq/miro-api/dist/storage'
import { MiroOptionsError } from './errors'
import { identityKey } from './identity'
import type { OnLogin } from './on-login'
import { unknownKeyMessage } from './option-keys'
import { parseEncryptionKeys, type EncryptionKey, type SealKey } from './seal'
import { DEFAULT_STORAGE_TIMEOUT_MS } from './storage/guard'
import { sessionOf } from './storage/session'
import type { UserKey } from './storage/types'

export type StorageChoice = 'session' | 'redis' | 'memory'

export interface FastifyMiroRedisOptions {
  /** The `namespace` given to @fastify/redis, when it was registered with one. */
  namespace?: string | undefined
  /** Prefix of every key; a user's token state is at `keyPrefix + '{' + userId + '}'` (the id is the Cluster hash tag). Default `'miro:token:'`. */
  keyPrefix?: string | undefined
  /**
   * Expiry of a stored state, in seconds. Default: Miro's refresh-token life (60 days) when the
   * state has a refresh token, renewed on every write; no expiry when it has none.
   */
  ttl?: number | undefined
  /**
   * Replicas that must acknowledge a refreshed pair (Redis WAIT) before the refresh counts as
   * done; for a master with replicas (Sentinel). Default: none, Redis's asynchronous
   * replication. When fewer acknowledge within `waitTimeout`, the request is not failed: the
   * pair stays in this process's memory, serves its requests, and is written again until
   * acknowledged. A login is kept either way (with a warning). Not for a Redis Cluster client.
   */
  waitReplicas?: number | undefined
  /**
   * How long one WAIT may take, in milliseconds. Default 100 (at most half of
   * `storageTimeout`). WAIT holds the connection's other commands meanwhile, so it must stay
   * well below `storageTimeout`.
   */
  waitTimeout?: number | undefined
}

export interface FastifyMiroRoutesOptions {
  /** The route that starts a login (GET). Default `'/auth/miro'`. The callback route is the path of `redirectUrl`. */
  loginPath?: string | undefined
  /** The route that logs out (POST). Default `'/auth/miro/logout'`. */
  logoutPath?: string | undefined
  /** Where a successful login goes when it has no `returnTo`. Default `'/'`. */
  successRedirect?: string | undefined
  /**
   * Where a refused callback (cancelled, bad state, no code, code rejected) goes, with
   * `?error=<FST_MIRO_* code>`. Default: none, the callback answers the 4xx error itself.
   */
  failureRedirect?: string | undefined
  /** Where logout goes. Default: none, logout answers 204. */
  logoutRedirect?: string | undefined
  /**
   * Origins (like `'https://admin.example.com'`) whose pages may post the logout. Default: none;
   * the app's own origin (that of redirectUrl, or of the request) always may. Any other page's
   * logout is refused with 403 FST_MIRO_CROSS_SITE.
   */
  trustedOrigins?: string[] | undefined
}

export interface FastifyMiroOptions {
  /** Miro app client id. Default: `MIRO_CLIENT_ID`. */
  clientId?: string | undefined
  /** Miro app client secret. Default: `MIRO_CLIENT_SECRET`. Never logged. */
  clientSecret?: string | undefined
  /** The app's OAuth redirect URL, as registered with Miro. Default: `MIRO_REDIRECT_URL`. */
  redirectUrl?: string | undefined
  /**
   * Where users' tokens live: `'session'` (default, needs @fastify/session), `'redis'` (needs
   * @fastify/redis), `'memory'` (tests and demos only) or your own SDK `Storage` object.
   */
  storage?: StorageChoice | Storage | undefined
  /** Settings of the `'redis'` storage. */
  redis?: FastifyMiroRedisOptions | undefined
  /** Key of the token state inside `request.session`. Default `'miro'`. */
  sessionKey?: string | undefined
  /** Who the request is for. Default: `request.session.sessionId`. */
  userId?: ((request: FastifyRequest) => UserKey | undefined | null) | undefined
  /** Miro's API origin; every Miro HTTP call follows it, token calls included. Default `'https://api.miro.com'`. */
  basePath?: string | undefined
  /**
   * Miro's consent page. Default: derived from `basePath` by dropping a first host label `api`
   * (`https://api.miro.com` → `https://miro.com/oauth/authorize`); required when basePath has
   * another host. `response_type`, `client_id` and `redirect_uri` are added to its query.
   */
  authorizeUrl?: string | undefined
  /**
   * How long a request waits for a token call (code exchange, refresh, revoke), in milliseconds.
   * Default 10000. A refresh goes on past it (the request answers 504), so its answer is not lost.
   */
  httpTimeout?: number | undefined
  /**
   * Time limit of one storage command (Redis, the session store, a custom Storage), in
   * milliseconds. Default 1500.
   * A stalled or half-open connection then answers 503 FST_MIRO_STORAGE_UNAVAILABLE in about
   * that time instead of holding requests for as long as the stall lasts.
   */
  storageTimeout?: number | undefined
  /**
   * How a request says whom it is for. Default: `userId(request)` (the session id). `'idToken'`:
   * for apps inside a Miro board, the Web SDK's id token sent as `Authorization: Bearer <token>`,
   * verified with the client secret; tokens are then stored per Miro team and user.
   */
  identity?: 'idToken' | undefined
  /**
   * Encrypts stored token states (AES-256-GCM) in every backend. A 32-byte key (Buffer, or
   * base64/hex string) or a list of them: writes use the first, reads accept any, so keys can be
   * rotated without logging anyone out. A custom Storage then receives sealed strings.
   */
  encryptionKey?: EncryptionKey | Array<EncryptionKey | undefined> | undefined
  /** The login, callback and logout routes: on by default, `false` turns them off. */
  routes?: boolean | FastifyMiroRoutesOptions | undefined
  /**
   * Check the OAuth `state` on the callback (CSRF protection). Default `true`. Turn it off
   * only for Miro's "use this URI for SDK authorization" flow, which carries no state.
   */
  state?: boolean | undefined
  /**
   * Called by the callback route once a login's tokens are stored, before the redirect:
   * `login` is `{ userId (the storage key), miroUserId, teamId, scope }`. If it throws, the
   * callback fails with that error and the tokens stay stored.
   */
  onLogin?: OnLogin | undefined
  /**
   * PKCE (RFC 7636, S256) on the login routes: a code_challenge on the authorize URL, the
   * verifier (kept in the login's sealed cookie, beside the state) in the code exchange.
   * Default `false`. Needs `state` (the verifier is found by it).
   */
  pkce?: boolean | undefined
}

// The known option keys, one list per options object. Typed as a record of the interface's keys,
// so the compiler refuses an option added to an interface above and missing here (or the reverse):
// a new option is one line in its interface and one here.
const OPTION_KEYS: Record<keyof FastifyMiroOptions, true> = {
  clientId: true,
  clientSecret: true,
  redirectUrl: true,
  storage: true,
  redis: true,
  sessionKey: true,
  userId: true,
  basePath: true,
  httpTimeout: true,
  storageTimeout: true,
  identity: true,
  encryptionKey: true,
  routes: true,
  state: true,
  onLogin: true,
  pkce: true,
  authorizeUrl: true
}
const REDIS_KEYS: Record<keyof FastifyMiroRedisOptions, true> = { namespace: true, keyPrefix: true, ttl: true, waitReplicas: true, waitTimeout: true }
const ROUTES_KEYS: Record<keyof FastifyMiroRoutesOptions, true> = {
  loginPath: true, logoutPath: true, successRedirect: true, failureRedirect: true, logoutRedirect: true, trustedOrigins: true
}

function knownKeysOnly (given: object, known: object, name: string, topLevel = false): void {
  const message = unknownKeyMessage(given, Object.keys(known), name, topLevel)
  if (message) fail(message)
}

export interface ResolvedRoutes {
  loginPath: string
  logoutPath: string
  callbackPath: string
  successRedirect: string
  failureRedirect?: string
  logoutRedirect?: string
  /** Origins allowed to post the logout besides the app's own. */
  trustedOrigins: ReadonlySet<string>
}

export interface ResolvedOptions {
  clientId: string
  clientSecret: string
  redirectUrl: string
  basePath: string
  tokenUrl: string
  revokeUrl: string
  /** The authorize URL with response_type, client_id and redirect_uri already in its query. */
  authorizeUrl: string
  httpTimeout: number
  /** Milliseconds one storage command may take. */
  storageTimeout: number
  storage: StorageChoice | Storage
  redis: { namespace?: string, keyPrefix: string, ttl?: number, waitReplicas?: number, waitTimeout?: number }
  sessionKey: string
  userId: (request: FastifyRequest) => UserKey | undefined | null
  /** False when `userId` is the default (the session id). */
  customUserId: boolean
  /** `'idToken'`: the Web SDK's id token names the user; otherwise `userId(request)`. */
  identity: 'idToken' | 'userId'
  routes: ResolvedRoutes | false
  checkState: boolean
  pkce: boolean
  /** Set when stored states are encrypted. */
  encryptionKeys?: SealKey[]
  onLogin?: OnLogin
}

const STORAGE_CHOICES: readonly string[] = ['session', 'redis', 'memory']

const fail = (message: string): never => { throw new MiroOptionsError(message) }

function optionalString (value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') fail(`options.${name} should be a string`)
  return value as string
}

function credential (value: unknown, name: string, envName: string): string {
  const given = optionalString(value, name) || process.env[envName]
  if (!given) fail(`options.${name} is required: pass ${name} or set the ${envName} environment variable`)
  return given as string
}

function httpUrl (value: string, name: string, example: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail(`options.${name} should be an absolute http(s) URL, like '${example}'`)
  }
  return url as URL
}

function positiveNumber (value: unknown, name: string, fallback: number | undefined, integer = false): number | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    fail(`options.${name} should be a positive ${integer ? 'integer' : 'number'}`)
  }
  return value as number
}

/** Node's timers fire at once (with a warning) for delays of 2^31 ms or more. */
const MAX_TIMER_MS = 2 ** 31 - 1

function timerDelay (value: unknown, name: string, fallback: number): number {
  const ms = positiveNumber(value, name, fallback) as number
  if (ms > MAX_TIMER_MS) fail(`options.${name} should be at most ${MAX_TIMER_MS} milliseconds (about 24 days)`)
  return ms
}

function booleanOption (value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(`options.${name} should be true or false`)
  return value as boolean
}

function identityOption (value: unknown): ResolvedOptions['identity'] {
  if (value === undefined) return 'userId'
  if (value !== 'idToken') fail("options.identity should be 'idToken' (or left out to use options.userId)")
  return 'idToken'
}

function isStorageObject (value: unknown): value is Storage {
  const s = value as Storage | null
  return typeof s === 'object' && s !== null && typeof s.get === 'function' && typeof s.set === 'function'
}

function storageOption (value: unknown): StorageChoice | Storage {
  if (value === undefined) return 'session'
  if (typeof value === 'string') {
    if (STORAGE_CHOICES.includes(value)) return value as StorageChoice
    return fail(`options.storage '${value}' is unknown: use 'session', 'redis', 'memory' or an object with get() and set()`)
  }
  if (isStorageObject(value)) return value
  return fail("options.storage should be 'session', 'redis', 'memory' or an object with get(userId) and set(userId, state) methods")
}

function redisOption (value: unknown, storageTimeout: number): ResolvedOptions['redis'] {
  if (value === undefined) return { keyPrefix: 'miro:token:' }
  if (typeof value !== 'object' || value === null) return fail('options.redis should be an object: { namespace, keyPrefix, ttl, waitReplicas, waitTimeout }')
  const r = value as Record<string, unknown>
  knownKeysOnly(r, REDIS_KEYS, 'options.redis')
  const keyPrefix = optionalString(r.keyPrefix, 'redis.keyPrefix') ?? 'miro:token:'
  const resolved: ResolvedOptions['redis'] = { keyPrefix }
  const namespace = optionalString(r.namespace, 'redis.namespace')
  if (namespace !== undefined) resolved.namespace = namespace
  const ttl = positiveNumber(r.ttl, 'redis.ttl', undefined, true)
  if (ttl !== undefined) resolved.ttl = ttl
  const waitReplicas = positiveNumber(r.waitReplicas, 'redis.waitReplicas', undefined, true)
  if (waitReplicas !== undefined) resolved.waitReplicas = waitReplicas
  const waitTimeout = positiveNumber(r.waitTimeout, 'redis.waitTimeout', undefined, true)
  if (waitTimeout !== undefined) {
    if (waitReplicas === undefined) fail('options.redis.waitTimeout needs options.redis.waitReplicas: set how many replicas must acknowledge, or remove waitTimeout')
    // Redis's WAIT 0 waits forever; one as long as storageTimeout fails every command queued behind it.
    if (waitTimeout * 2 > storageTimeout) fail(`options.redis.waitTimeout should be at most half of options.storageTimeout (${storageTimeout} ms): WAIT holds the connection's other commands`)
    resolved.waitTimeout = waitTimeout
  }
  return resolved
}

function path (value: unknown, name: string, fallback: string): string {
  const given = optionalString(value, name) ?? fallback
  if (given[0] !== '/') fail(`options.${name} should be a path starting with '/', like '${fallback}'`)
  return given
}

function originList (value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set()
  const example = "like ['https://admin.example.com']"
  if (!Array.isArray(value)) return fail(`options.routes.trustedOrigins should be a list of origins, ${example}`)
  return new Set(value.map((entry: unknown, i) => {
    const name = `routes.trustedOrigins[${i}]`
    const url = httpUrl(optionalString(entry, name) ?? '', name, 'https://admin.example.com')
    // An origin is compared whole with the Origin header: a path or a slash would never match.
    if (url.origin !== String(entry).toLowerCase()) fail(`options.${name} should be an origin (scheme, host and port only), ${example}, not '${String(entry)}'`)
    return url.origin
  }))
}

function routesOption (value: unknown, callbackPath: string): ResolvedRoutes | false {
  if (value === false) return false
  if (value !== undefined && value !== true && (typeof value !== 'object' || value === null)) {
    return fail('options.routes should be false, true or an object: { loginPath, logoutPath, successRedirect, failureRedirect, logoutRedirect, trustedOrigins }')
  }
  const r = (typeof value === 'object' ? value : {}) as Record<string, unknown>
  knownKeysOnly(r, ROUTES_KEYS, 'options.routes')
  const routes: ResolvedRoutes = {
    loginPath: path(r.loginPath, 'routes.loginPath', '/auth/miro'),
    logoutPath: path(r.logoutPath, 'routes.logoutPath', '/auth/miro/logout'),
    callbackPath,
    successRedirect: optionalString(r.successRedirect, 'routes.successRedirect') ?? '/',
    trustedOrigins: originList(r.trustedOrigins)
  }
  const failureRedirect = optionalString(r.failureRedirect, 'routes.failureRedirect')
  if (failureRedirect !== undefined) routes.failureRedirect = failureRedirect
  const logoutRedirect = optionalString(r.logoutRedirect, 'routes.logoutRedirect')
  if (logoutRedirect !== undefined) routes.logoutRedirect = logoutRedirect
  if (routes.loginPath === callbackPath || routes.logoutPath === callbackPath) {
    fail(`options.routes: the login and logout paths must differ from the callback path '${callbackPath}' (the path of redirectUrl)`)
  }
  return routes
}

const IP_HOST = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i

/**
 * Miro's consent page: `options.authorizeUrl`, or derived from basePath. Miro serves it on the
 * site's host (miro.com), the API on api.miro.com: only a first label `api` is dropped, so no
 * other host is ever made up from a basePath (`miro-api.example.com` is not `miro-example.com`).
 * A local stand-in (an IP address or a one-label host such as localhost) serves both itself.
 */
function consentUrl (value: unknown, base: URL): URL {
  const given = optionalString(value, 'authorizeUrl')
  if (given !== undefined) {
    const url = httpUrl(given, 'authorizeUrl', 'https://miro.com/oauth/authorize')
    if (url.hash) fail("options.authorizeUrl should have no #fragment, like 'https://miro.com/oauth/authorize'")
    return url
  }
  const labels = base.hostname.split('.')
  if (labels.length > 2 && labels[0] === 'api') return new URL('/oauth/authorize', `${base.protocol}//${labels.slice(1).join('.')}${base.port ? ':' + base.port : ''}`)
  if (labels.length === 1 || IP_HOST.test(base.hostname)) return new URL('/oauth/authorize', base.origin)
  return fail(`options.authorizeUrl is required with basePath '${base.origin}': the consent page's host cannot be derived from it (only a first label 'api.' is dropped, as in api.miro.com → miro.com). Pass authorizeUrl, like 'https://miro.com/oauth/authorize'`)
}

function sessionUserId (request: FastifyRequest): UserKey | undefined {
  return sessionOf(request)?.sessionId
}

// Throws FST_MIRO_INVALID_ID_TOKEN (401) when the request's id token is refused.
const idTokenUserId = (request: FastifyRequest): UserKey => identityKey(request.miroIdentity)

export function resolveOptions (raw: FastifyMiroOptions | undefined): ResolvedOptions {
  const opts = (raw ?? {}) as Record<string, unknown>
  knownKeysOnly(opts, OPTION_KEYS, 'options', true)
  const clientId = credential(opts.clientId, 'clientId', 'MIRO_CLIENT_ID')
  const clientSecret = credential(opts.clientSecret, 'clientSecret', 'MIRO_CLIENT_SECRET')
  const redirectUrl = credential(opts.redirectUrl, 'redirectUrl', 'MIRO_REDIRECT_URL')
  const callbackPath = httpUrl(redirectUrl, 'redirectUrl', 'https://example.com/auth/miro/callback').pathname
  const base = httpUrl(optionalString(opts.basePath, 'basePath') ?? 'https://api.miro.com', 'basePath', 'https://api.miro.com')
  // The SDK resolves every API path against the origin alone, so a path here would be ignored.
  if (base.pathname !== '/' || base.search || base.hash) fail("options.basePath should be an origin without a path, like 'https://api.miro.com'")
  const basePath = base.origin

  if (opts.userId !== undefined && typeof opts.userId !== 'function') {
    fail('options.userId should be a function (request) => id')
  }
  if (opts.onLogin !== undefined && typeof opts.onLogin !== 'function') {
    fail('options.onLogin should be a function (request, login) => void, called after a login\'s tokens are stored')
  }

  const authorize = consentUrl(opts.authorizeUrl, base)
  for (const [key, value] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: redirectUrl })) {
    authorize.searchParams.set(key, value)
  }

  const identity = identityOption(opts.identity)
  const checkState = booleanOption(opts.state, 'state', true)
  const pkce = booleanOption(opts.pkce, 'pkce', false)
  if (pkce && !checkState) fail('options.pkce needs options.state: the PKCE verifier is kept with the login\'s state (set state: true, or pkce: false)')
  const encryptionKeys = parseEncryptionKeys(opts.encryptionKey)
  const storageTimeout = timerDelay(opts.storageTimeout, 'storageTimeout', DEFAULT_STORAGE_TIMEOUT_MS)
  return {
    clientId,
    clientSecret,
    redirectUrl,
    basePath,
    tokenUrl: basePath + '/v1/oauth/token',
    revokeUrl: basePath + '/v2/oauth/revoke',
    authorizeUrl: authorize.toString(),
    httpTimeout: positiveNumber(opts.httpTimeout, 'httpTimeout', 10_000) as number,
    storageTimeout,
    storage: storageOption(opts.storage),
    redis: redisOption(opts.redis, storageTimeout),
    sessionKey: optionalString(opts.sessionKey, 'sessionKey') || 'miro',
    userId: (opts.userId as ResolvedOptions['userId'] | undefined) ?? (identity === 'idToken' ? idTokenUserId : sessionUserId),
    customUserId: opts.userId !== undefined || identity === 'idToken',
    identity,
    routes: routesOption(opts.routes, callbackPath),
    checkState,
    pkce,
    ...(encryptionKeys ? { encryptionKeys } : {}),
    ...(opts.onLogin !== undefined ? { onLogin: opts.onLogin as OnLogin } : {})
  }
}
