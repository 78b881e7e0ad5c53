// Miro rotates refresh tokens: the first refresh kills the old refresh token, so a second,
// concurrent refresh with it fails and could log the user out. Refreshes for one user are
// therefore merged inside the process (single flight) and, where the storage has a lock
// (Redis), serialized across instances: one refreshes, the others wait and re-read.
import { setTimeout as sleep } from 'node:timers/promises'
import { MiroNotAuthorizedError, MiroRefreshBusyError, MiroTokenRevokedError } from './errors'
import { requestToken } from './oauth'
import type { ResolvedOptions } from './options'
import { needsRefresh, stateFromTokenResponse, type MiroTokenState } from './state'
import type { TokenStore, UserKey } from './storage/types'

type Endpoint = Pick<ResolvedOptions, 'clientId' | 'clientSecret' | 'tokenUrl' | 'revokeUrl' | 'httpTimeout'>

/** Someone else refreshed since we read `seen`. */
function refreshedSince (current: MiroTokenState, seen: MiroTokenState): boolean {
  return current.accessToken !== seen.accessToken || !needsRefresh(current)
}

export class TokenRefresher {
  private readonly inflight = new Map<string, Promise<MiroTokenState>>()
  /** Longer than a token call can take, so a live holder never loses the lock. */
  private readonly lockTtlMs: number
  /** How long a waiting instance re-reads before giving up: past a crashed holder's lock. */
  private readonly waitMs: number

  constructor (private readonly endpoint: Endpoint, private readonly pollMs = 25) {
    this.lockTtlMs = endpoint.httpTimeout + 5000
    this.waitMs = this.lockTtlMs + 2000
  }

  /** Resolves to a fresh state for `userId`, refreshing at most once per user at a time. */
  async refresh (store: TokenStore, userId: UserKey, seen: MiroTokenState): Promise<MiroTokenState> {
    const key = store.flightKey(userId)
    const running = this.inflight.get(key)
    if (running === undefined) {
      const flight = this.lead(store, userId, seen).finally(() => this.inflight.delete(key))
      this.inflight.set(key, flight)
      return flight
    }
    return running
  }

  private async lead (store: TokenStore, userId: UserKey, seen: MiroTokenState): Promise<MiroTokenState> {
    const lock = store.lock
    if (lock === undefined) return this.refreshNow(store, userId, seen)
    const deadline = Date.now() + this.waitMs
    for (;;) {
      const token = await lock.acquire(userId, this.lockTtlMs)
      if (token !== null) {
        try {
          // Re-read under the lock: another instance may have refreshed since `seen`.
          const current = await store.get(userId)
          if (current === undefined) throw new MiroNotAuthorizedError()
          return refreshedSince(current, seen) ? current : await this.refreshNow(store, userId, current)
        } finally {
          // Should the release fail, the lock expires by itself after lockTtlMs.
          await lock.release(userId, token).catch(() => {})
        }
      }
      if (Date.now() >= deadline) throw new MiroRefreshBusyError(this.waitMs)
      await sleep(this.pollMs)
      const current = await store.get(userId)
      if (current === undefined) throw new MiroNotAuthorizedError()
      if (refreshedSince(current, seen)) return current
    }
  }

  private async refreshNow (store: TokenStore, userId: UserKey, state: MiroTokenState): Promise<MiroTokenState> {
    let fresh: MiroTokenState
    try {
      const body = await requestToken(this.endpoint, 'token refresh', {
        grant_type: 'refresh_token',
        refresh_token: state.refreshToken ?? ''
      })
      fresh = stateFromTokenResponse(body)
    } catch (err) {
      // Miro refused the refresh token: it is dead for good, so is the stored state.
      if (err instanceof MiroTokenRevokedError) await store.set(userId, undefined)
      throw err
    }
    // A refresh answer may leave out what the login answer had.
    if (fresh.userId === '') fresh.userId = state.userId
    if (fresh.teamId === undefined && state.teamId !== undefined) fresh.teamId = state.teamId
    if (fresh.scope === undefined && state.scope !== undefined) fresh.scope = state.scope
    await store.set(userId, fresh)
    return fresh
  }
}
