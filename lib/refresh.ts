// Miro rotates refresh tokens: the first refresh kills the old refresh token, and from Miro's
// answer on the new pair exists only in this process until it is stored. So refreshes for one
// user are merged inside the process (single flight) and, where the storage has a lock (Redis),
// serialized across instances under a renewed lease; a refresh outlives the request that
// started it (that request answers 504 at httpTimeout); its answer is written only over the
// state it refreshed (compare-and-set), and kept in memory until the write lands.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { channels, logRefresh, publicUserKey, traceContext, traced, type MiroTraceContext } from './diagnostics'
import { MiroNotAuthorizedError, MiroRefreshBusyError, MiroTimeoutError, MiroTokenRevokedError } from './errors'
import { Lease } from './lifecycle/lease'
import { PendingWrites } from './lifecycle/pending-writes'
import { requestToken, revokeOrWarn } from './oauth'
import type { ResolvedOptions } from './options'
import { needsRefresh, stateFromTokenResponse, type MiroTokenState } from './state'
import type { TokenStore, UserKey } from './storage/types'

type Endpoint = Pick<ResolvedOptions, 'clientId' | 'clientSecret' | 'tokenUrl' | 'revokeUrl' | 'httpTimeout'> & { customUserId?: boolean }

export type RefreshLogger = Pick<FastifyBaseLogger, 'warn' | 'error' | 'info' | 'debug'>

/**
 * How long a refresh may run before its outcome is given up as unknown. Far past httpTimeout:
 * Miro may already have rotated, and a refresh given up early logs the user out.
 */
export const refreshLimitMs = (httpTimeout: number): number => Math.max(60_000, 6 * httpTimeout)

/**
 * How long an invalid_grant waits for a newer pair to show up before it deletes the state:
 * another instance that rotated the token may be storing its answer right now.
 */
export const INVALID_GRANT_GRACE_MS = 1000
const MAX_POLL_MS = 250
const GRACE_POLL_MS = 50

/** Someone else refreshed since we read `seen` (or, forced, at least replaced its access token). */
function refreshedSince (current: MiroTokenState, seen: MiroTokenState, force: boolean): boolean {
  return current.accessToken !== seen.accessToken || (!force && !needsRefresh(current))
}

/** A refresh answer may leave out what the login answer had. */
function withLoginFields (fresh: MiroTokenState, from: MiroTokenState): MiroTokenState {
  if (fresh.userId === '') fresh.userId = from.userId
  if (fresh.teamId === undefined && from.teamId !== undefined) fresh.teamId = from.teamId
  if (fresh.scope === undefined && from.scope !== undefined) fresh.scope = from.scope
  return fresh
}

export class TokenRefresher {
  private readonly flights = new Map<string, Promise<MiroTokenState>>()
  /** The state each refresh at Miro right now replaces: a logout racing it revokes that one too. */
  private readonly rotating = new Map<string, MiroTokenState>()
  /**
   * Logouts waiting for a refresh of the user: each learns of the state that refresh rotates
   * even when it reaches Miro after the logout began (its access token stays live at Miro).
   */
  private readonly settling = new Map<string, Set<MiroTokenState[]>>()
  readonly pending: PendingWrites
  private readonly limitMs: number

  constructor (private readonly endpoint: Endpoint, private readonly log: RefreshLogger, private readonly pollMs = 25) {
    this.limitMs = refreshLimitMs(endpoint.httpTimeout)
    // revokeOrWarn never rejects: nothing to await here, the journal goes on.
    this.pending = new PendingWrites((state) => revokeOrWarn(endpoint, state.accessToken, log, 'a refreshed pair that lost to a logout or a new login', state))
  }

  /**
   * Resolves to a fresh state for `userId`, refreshing at most once per user at a time.
   * `force`: the access token was refused by Miro, refresh even though it has not expired.
   * Rejects with FST_MIRO_TIMEOUT after httpTimeout; the refresh itself goes on.
   */
  refresh (store: TokenStore, userId: UserKey, seen: MiroTokenState, force = false): Promise<MiroTokenState> {
    return this.withinRequestLimit(this.flight(store, userId, seen, force))
  }

  /**
   * Refresh ahead: `seen` needs a refresh but Miro still accepts its token (stillAccepted), so
   * the refresh starts, or joins the one in flight, and nobody waits for it. Same single
   * flight, lock, commit and journal as refresh(). A failure is logged (its code only: no
   * token, no URL) and never rejects; past the margin the next request refreshes in the
   * foreground as usual.
   */
  refreshAhead (store: TokenStore, userId: UserKey, seen: MiroTokenState): void {
    const key = store.flightKey(userId)
    if (this.flights.has(key)) return
    this.flight(store, userId, seen, false).catch((err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code
      this.log.warn({ code: typeof code === 'string' ? code : 'unknown' }, 'fastify-miro: a refresh ahead of expiry failed; the current token is used until it expires')
    })
  }

  private flight (store: TokenStore, userId: UserKey, seen: MiroTokenState, force: boolean): Promise<MiroTokenState> {
    const key = store.flightKey(userId)
    let flight = this.flights.get(key)
    if (flight === undefined) {
      // Traced and logged (lib/diagnostics.ts) once per refresh, not per request joining it.
      const trace = traceContext('refresh', seen, publicUserKey(userId, this.endpoint.customUserId))
      flight = traced(channels.refresh, trace, () => this.lead(store, userId, seen, force, trace), (done) => { logRefresh(this.log, done) })
        .finally(() => this.flights.delete(key))
      flight.catch(() => {}) // its requests may all have timed out: nobody else awaits it
      this.flights.set(key, flight)
    }
    return flight
  }

  /** The state to use for one read back from the store (this process may hold a newer pair). */
  upgrade (store: TokenStore, userId: UserKey, stored: MiroTokenState | undefined): MiroTokenState | undefined {
    return this.pending.size === 0 ? stored : this.pending.upgrade(store, userId, stored)
  }

  /**
   * For a logout: waits (up to httpTimeout) for a refresh of this user in flight here, then
   * hands over every pair this process holds for them, so they can be revoked.
   */
  async settle (store: TokenStore, userId: UserKey): Promise<MiroTokenState[]> {
    const key = store.flightKey(userId)
    const replaced: MiroTokenState[] = []
    const rotating = this.rotating.get(key)
    if (rotating !== undefined) replaced.push(rotating)
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      let waiting = this.settling.get(key)
      if (waiting === undefined) this.settling.set(key, waiting = new Set())
      waiting.add(replaced)
      try {
        await this.withinRequestLimit(flight).catch(() => {})
      } finally {
        waiting.delete(replaced)
        if (waiting.size === 0 && this.settling.get(key) === waiting) this.settling.delete(key)
      }
    }
    return [...this.pending.take(store, userId), ...replaced]
  }

  /** App close: refreshes in flight get httpTimeout to finish, pending writes one last try. */
  async close (): Promise<void> {
    await Promise.all([...this.flights.values()].map((flight) => this.withinRequestLimit(flight).catch(() => {})))
    const lost = await this.pending.drain()
    if (lost > 0) this.log.error({ users: lost }, 'fastify-miro: the app closed with refreshed Miro tokens it could not store: these users will have to log in again')
  }

  /** The stored state, or the newer pair this process holds for it. */
  private async current (store: TokenStore, userId: UserKey): Promise<MiroTokenState | undefined> {
    return this.upgrade(store, userId, await store.get(userId))
  }

  private withinRequestLimit<T> (flight: Promise<T>): Promise<T> {
    const ms = this.endpoint.httpTimeout
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new MiroTimeoutError('token refresh', ms)), ms)
      flight.then((value) => { clearTimeout(timer); resolve(value) }, (err: unknown) => { clearTimeout(timer); reject(err) })
    })
  }

  private async lead (store: TokenStore, userId: UserKey, seen: MiroTokenState, force: boolean, trace: MiroTraceContext): Promise<MiroTokenState> {
    trace.result = 'refreshed'
    const lock = store.lock
    if (lock === undefined) return this.refreshFrom(store, userId, seen)
    // A live holder renews its lease for as long as its refresh may run, a dead one's lease runs
    // out within LEASE_MS: wait for it that long (the requests themselves answer 504 at
    // httpTimeout and later ones join this wait), polling less often as it drags on.
    const deadline = Date.now() + this.limitMs
    for (let attempt = 0; ; attempt++) {
      const lease = await Lease.acquire(lock, userId)
      if (lease !== null) {
        try {
          // Re-read under the lock: another instance may have refreshed since `seen`.
          const current = await this.current(store, userId)
          if (current === undefined) throw new MiroNotAuthorizedError()
          if (refreshedSince(current, seen, force)) {
            trace.result = 'refreshed elsewhere'
            return current
          }
          return await this.refreshFrom(store, userId, current)
        } finally {
          // An unstored pair keeps the lock (renewed) until it lands: nobody may refresh meanwhile.
          // Not awaited: a stalled store must not hold the request, and the lease runs out anyway.
          const pending = this.pending.settled(store, userId)
          if (pending === undefined) lease.release().catch(() => {})
          else pending.then(() => lease.release(), () => {})
        }
      }
      if (Date.now() >= deadline) throw new MiroRefreshBusyError(this.limitMs)
      trace.waitedForLock = true
      await sleep(Math.min(MAX_POLL_MS, this.pollMs * 2 ** Math.floor(attempt / 16)))
      const current = await this.current(store, userId)
      if (current === undefined) throw new MiroNotAuthorizedError()
      if (refreshedSince(current, seen, force)) {
        trace.result = 'refreshed elsewhere'
        return current
      }
    }
  }

  private async refreshFrom (store: TokenStore, userId: UserKey, from: MiroTokenState): Promise<MiroTokenState> {
    let fresh: MiroTokenState
    const key = store.flightKey(userId)
    this.rotating.set(key, from)
    for (const seen of this.settling.get(key) ?? []) seen.push(from)
    try {
      const body = await requestToken(this.endpoint, 'token refresh', {
        grant_type: 'refresh_token',
        refresh_token: from.refreshToken ?? ''
      }, this.limitMs)
      fresh = withLoginFields(stateFromTokenResponse(body), from)
    } catch (err) {
      if (err instanceof MiroTokenRevokedError) return this.afterInvalidGrant(store, userId, from, err)
      throw err
    } finally {
      this.rotating.delete(key)
    }
    const committed = await this.pending.commit(store, userId, from, fresh)
    if (committed === undefined) throw new MiroNotAuthorizedError()
    return committed
  }

  /**
   * Miro refused the refresh token. Either it is dead for good (revoked, expired), or another
   * instance rotated it and is storing the new pair right now: give that pair a moment to
   * show up, and delete only the very state that was refreshed (a newer one wins).
   */
  private async afterInvalidGrant (store: TokenStore, userId: UserKey, from: MiroTokenState, err: Error): Promise<MiroTokenState> {
    // Within the request's own time limit, so a real revocation answers 401, not 504.
    const deadline = Date.now() + Math.min(INVALID_GRANT_GRACE_MS, this.endpoint.httpTimeout / 2)
    for (;;) {
      const current = await this.current(store, userId)
      if (current === undefined) throw new MiroNotAuthorizedError()
      if (current.accessToken !== from.accessToken) return current
      if (Date.now() >= deadline) break
      await sleep(GRACE_POLL_MS)
    }
    const result = await store.replace(userId, from.accessToken, undefined)
    if (result.replaced) throw err
    if (result.current === undefined) throw new MiroNotAuthorizedError()
    return result.current
  }
}
