// MiroClient: the SDK's `Miro`, with the sharp edges filed down. Token calls follow
// `basePath`, send credentials in the body and are awaited until the state is stored;
// refreshes are merged per user; an outage is an error, never a silent logout.
import { Miro, type ExternalUserId, type MiroApi } from '@mirohq/miro-api'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { retryingOn401 } from './api-auth'
import { channels, describeState, publicUserKey, traceContext, traced } from './diagnostics'
import { MiroMissingCodeError, MiroNotAuthorizedError, MiroSharedStorageRequiredError, isLoggedOutError } from './errors'
import { logOut } from './logout'
import { requestToken, revokeOrWarn, revokeReplaced } from './oauth'
import type { ResolvedOptions } from './options'
import type { TokenRefresher } from './refresh'
import { needsRefresh, stateFromTokenResponse, stillAccepted, type MiroTokenState } from './state'
import { StateMemo } from './state-memo'
import type { TokenStore } from './storage/types'

/** What every client of one app shares; built once at register time. */
export interface ClientContext {
  options: ResolvedOptions
  refresher: TokenRefresher
  /** Given to the SDK as its logger: method and URL only, never headers (they hold the bearer token). */
  sdkLogger: (kind: string, detail?: unknown) => void
}

export function createSdkLogger (log: FastifyBaseLogger): ClientContext['sdkLogger'] {
  return (kind, detail) => {
    if (kind === 'FETCH' && typeof detail === 'string') log.debug({ url: detail }, 'fastify-miro: Miro API call')
  }
}

/** The code of a callback URL, or the code itself; '' when there is none. */
function codeOf (urlOrCode: unknown): string {
  if (typeof urlOrCode !== 'string') return ''
  const query = urlOrCode.indexOf('?')
  if (query === -1) return urlOrCode
  return new URLSearchParams(urlOrCode.slice(query + 1)).get('code') ?? ''
}

export class MiroClient extends Miro {
  private readonly context: ClientContext
  private readonly store: TokenStore
  private readonly log: FastifyBaseLogger
  /** Set for a client on the session backend: the request whose session it reads. */
  private readonly owner: FastifyRequest | undefined

  /** Each user's state as last read or written by this client, used while its token is fresh. */
  private readonly memo: StateMemo
  /** A read of storage under way per user: parallel calls of one route share it (made on first use). */
  private reads: Map<ExternalUserId, Promise<MiroTokenState | undefined>> | undefined
  /** Counts this client's writes and logouts: a read that started before one is not remembered. */
  private writes = 0

  /**
   * `rememberMs`: how long a state read from storage serves later calls without a new read
   * (always at most until its token needs a refresh). A request's client keeps it for the
   * request; a client that lives longer should pass a few seconds (or 0 to read every time).
   */
  constructor (context: ClientContext, store: TokenStore, log: FastifyBaseLogger, owner?: FastifyRequest, rememberMs = Infinity) {
    const { clientId, clientSecret, redirectUrl, basePath, httpTimeout } = context.options
    super({ clientId, clientSecret, redirectUrl, basePath, httpTimeout, storage: store, logger: context.sdkLogger as (l: unknown) => void })
    this.context = context
    this.store = store
    this.log = log
    this.owner = owner
    this.memo = new StateMemo(rememberMs)
  }

  /** The authorize URL; `state` and `teamId` are only added when given. */
  override getAuthUrl (state?: string, teamId?: string): string {
    let url = this.context.options.authorizeUrl
    if (teamId) url += '&team_id=' + encodeURIComponent(teamId)
    if (state) url += '&state=' + encodeURIComponent(state)
    return url
  }

  /**
   * Exchanges a login's code (or the callback URL holding it); resolves once the state is
   * stored. Tokens stored before for `userId` are replaced and revoked at Miro.
   */
  override async exchangeCodeForAccessToken (userId: ExternalUserId, urlOrCode: string): Promise<string> {
    const code = codeOf(urlOrCode)
    const earlier = code === '' ? undefined : await this.getState(userId)
    const state = await this.exchangeCode(code)
    await this.setState(userId, state)
    await revokeReplaced(this.context.options, earlier, state, this.log)
    return state.accessToken
  }

  /**
   * Exchanges a login's code at Miro without storing the answer (the login route stores it after
   * regenerating the session). `codeVerifier`: the login's PKCE verifier, when it sent a challenge.
   */
  async exchangeCode (code: string, codeVerifier?: string): Promise<MiroTokenState> {
    if (typeof code !== 'string' || code === '') throw new MiroMissingCodeError()
    const params: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: this.redirectUrl }
    if (codeVerifier !== undefined) params.code_verifier = codeVerifier
    const trace = traceContext('exchange')
    return traced(channels.exchange, trace, async () => {
      const state = stateFromTokenResponse(await requestToken(this.context.options, 'code exchange', params))
      describeState(trace, state)
      return state
    })
  }

  /** One call to Miro's token endpoint, its answer stored (awaited) under `userId`. */
  override async getToken (userId: ExternalUserId, params: { [key: string]: string }): Promise<string> {
    const kind = params.grant_type === 'refresh_token' ? 'token refresh' : 'code exchange'
    const body = await requestToken(this.context.options, kind, params)
    await this.setState(userId, stateFromTokenResponse(body))
    return body.access_token
  }

  /** The stored state of `userId` (or the newer pair this process holds), `undefined` when logged out. */
  getState (userId: ExternalUserId): Promise<MiroTokenState | undefined> {
    const writes = this.writes
    return this.store.get(userId).then((stored) => this.afterRead(userId, stored, writes), (err: unknown) => this.duringOutage(userId, err))
  }

  /** A read's state, the newer pair this process holds for it if any; remembered unless a write began since `writes`. */
  private afterRead (userId: ExternalUserId, stored: MiroTokenState | undefined, writes: number): MiroTokenState | undefined {
    const state = this.context.refresher.upgrade(this.store, userId, stored)
    if (writes === this.writes) this.memo.remember(userId, state)
    return state
  }

  /** A read that failed (a storage outage): nothing is remembered, and the pair this process could not store yet still serves (else the error). */
  private duringOutage (userId: ExternalUserId, err: unknown): MiroTokenState {
    this.memo.forget(userId)
    const held = this.context.refresher.pending.held(this.store, userId)
    if (held === undefined) throw err
    return held
  }

  /** getState, shared by the calls that ask at the same time. */
  private readOnce (userId: ExternalUserId): Promise<MiroTokenState | undefined> {
    const reads = (this.reads ??= new Map())
    let read = reads.get(userId)
    if (read === undefined) {
      read = this.getState(userId).finally(() => reads.delete(userId))
      reads.set(userId, read)
    }
    return read
  }

  /** Stores (or, with `undefined`, deletes) the state of `userId`. */
  async setState (userId: ExternalUserId, state: MiroTokenState | undefined): Promise<void> {
    this.forgetState(userId) // a failed write leaves storage unknown
    await this.store.set(userId, state)
    this.memo.remember(userId, state)
  }

  private forgetState (userId: ExternalUserId): void {
    this.writes++
    this.memo.forget(userId)
  }

  /**
   * A valid access token. Storage is read once per request and user while the token is fresh
   * (the memo); in the margin before Miro's expiry the refresh runs in the background and the
   * still-accepted token is used; past it, the token is refreshed first (once per user at a time).
   */
  override async getAccessToken (userId: ExternalUserId): Promise<string> {
    const known = this.memo.fresh(userId)
    if (known !== undefined) return known.accessToken
    const state = await this.readOnce(userId)
    if (state === undefined) throw new MiroNotAuthorizedError()
    return (await this.usable(userId, state)).accessToken
  }

  /** `state`, or (expired past the margin) the refreshed one; in the margin a refresh starts in the background. */
  private async usable (userId: ExternalUserId, state: MiroTokenState): Promise<MiroTokenState> {
    if (!needsRefresh(state)) return state
    if (stillAccepted(state)) {
      this.context.refresher.refreshAhead(this.store, userId, state)
      return state
    }
    const fresh = await this.context.refresher.refresh(this.store, userId, state)
    this.memo.remember(userId, fresh)
    return fresh
  }

  /**
   * True when the user has usable tokens. Unlike the SDK, a storage or Miro outage rejects
   * (FST_MIRO_STORAGE_UNAVAILABLE, FST_MIRO_UNAVAILABLE…) instead of looking like a logout.
   */
  override isAuthorized (userId: ExternalUserId): Promise<boolean> {
    // The common case, a stored token still fresh, is decided in the read's own callback, not
    // after a getState() of its own (one promise fewer per request, bench goal G2). The state
    // read is remembered, so the route's API calls after the guard need no read of their own.
    const writes = this.writes
    return this.store.get(userId).then(
      (stored) => this.authorizedBy(userId, this.afterRead(userId, stored, writes)),
      (err: unknown) => this.authorizedBy(userId, this.duringOutage(userId, err)))
  }

  private authorizedBy (userId: ExternalUserId, state: MiroTokenState | undefined): boolean | Promise<boolean> {
    if (state === undefined) return false
    if (!needsRefresh(state)) return true
    return this.usable(userId, state).then(() => true, (err: unknown) => {
      if (isLoggedOutError(err)) return false
      throw err
    })
  }

  /**
   * The Miro API as `userId`. A call Miro answers 401 (the token was revoked) refreshes once
   * and is retried once; when that cannot help, the stored state is deleted and the call
   * throws FST_MIRO_NOT_AUTHORIZED.
   */
  override as (userId: ExternalUserId): MiroApi {
    // The session backend reads the session of this request whatever the id: another user's
    // tokens are not there, and reading this one's instead would act as the wrong user.
    if (this.owner !== undefined && String(userId) !== String(this.context.options.userId(this.owner))) {
      throw new MiroSharedStorageRequiredError('request.miro.as() for another user than the request\'s own')
    }
    const api = super.as(userId)
    const holder = api as unknown as { _api: object }
    holder._api = retryingOn401(holder._api, () => this.getAccessToken(userId), (refused, final) => this.recoverFrom401(userId, refused, final))
    return api
  }

  private async recoverFrom401 (userId: ExternalUserId, refused: string, final: boolean): Promise<void> {
    const state = await this.getState(userId)
    if (state === undefined) throw new MiroNotAuthorizedError()
    if (!final && state.accessToken !== refused) return // already replaced: retry with the new one
    if (!final && state.refreshToken !== undefined) {
      try {
        this.memo.remember(userId, await this.context.refresher.refresh(this.store, userId, state, true))
        return
      } catch (err) {
        if (isLoggedOutError(err)) throw new MiroNotAuthorizedError()
        throw err
      }
    }
    // Only the state Miro refused goes: a newer pair stored meanwhile stays.
    this.forgetState(userId)
    await this.store.replace(userId, refused, undefined)
    this.log.info('fastify-miro: Miro refuses this user\'s access token; their stored tokens are deleted')
    throw new MiroNotAuthorizedError()
  }

  /**
   * Logs the user out: deletes the stored state and revokes at Miro (v2, token in the body)
   * every pair of theirs this process knows of, a racing refresh's included. The state is
   * deleted even when Miro cannot be reached, which is logged as a warning.
   */
  override async revokeToken (userId: ExternalUserId): Promise<void> {
    this.forgetState(userId)
    const userKey = publicUserKey(userId, this.context.options.customUserId)
    await logOut(this.store, userId, this.context.refresher, (state) =>
      revokeOrWarn(this.context.options, state.accessToken, this.log, 'logout', state, userKey))
  }
}
