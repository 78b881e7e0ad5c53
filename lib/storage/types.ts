import type { FastifyBaseLogger } from 'fastify'
import type { MiroTokenState } from '../state'

export type UserKey = string | number

/**
 * What the Miro client needs from a backend: the SDK's `Storage` contract (get, set with
 * `undefined` deleting), with errors already turned into `MiroStorageError` and values read
 * back already checked.
 */
export interface TokenStore {
  get (userId: UserKey): Promise<MiroTokenState | undefined>
  set (userId: UserKey, state: MiroTokenState | undefined): Promise<void>
  /**
   * Compare-and-set: writes `next` (`undefined` deletes) only while the stored state is still
   * the one whose access token is `expectedAccessToken`. Atomic where the backend can be (Redis,
   * memory, the session record in a process); a read, a compare and a write elsewhere.
   * Resolves to whether it wrote, and to the state stored when it did not.
   */
  replace (userId: UserKey, expectedAccessToken: string, next: MiroTokenState | undefined): Promise<ReplaceResult>
  /** Identifies one user's state, so concurrent refreshes for it can be merged. */
  flightKey (userId: UserKey): string
  /** A lock shared by every instance of the app, when the backend has one (Redis). */
  readonly lock?: RefreshLock
  /** Which keys hold logins of a Miro user (app.miro.revokeAll), when the backend keeps that. */
  readonly logins?: LoginIndex
  /** Login states used by any instance, when the backend is shared (Redis, a custom Storage that offers it). */
  readonly usedLogins?: UsedLoginStates
}

/**
 * "This login state was used", for every instance that shares the store: a copy of a
 * pending-login cookie replayed on another instance finds its state used there too.
 */
export interface UsedLoginStates {
  /** True for the first claim of `stateId` anywhere, false once claimed; kept for `lifeMs`. */
  claim (stateId: string, lifeMs: number): Promise<boolean>
}

/**
 * Storage keys by Miro user, for "log out everywhere" without scanning the keyspace. A listed
 * key may hold no state any more, or another user's: the caller reads each one and drops those.
 */
export interface LoginIndex {
  list (miroUserId: string, teamId?: string): Promise<UserKey[]>
  /** Notes that `userId` holds `state` (a login or a refresh); absent where the backend knows by itself. */
  add? (userId: UserKey, state: MiroTokenState): Promise<void>
  remove? (miroUserId: string, userIds: UserKey[]): Promise<void>
}

export type ReplaceResult = { replaced: true } | { replaced: false, current: MiroTokenState | undefined }

export interface RefreshLock {
  /** Resolves to a token when the lock was taken for `leaseMs`, `null` when someone else holds it. */
  acquire (userId: UserKey, leaseMs: number): Promise<string | null>
  /** Extends a held lock by `leaseMs`; false when it is no longer ours (expired, taken over). */
  renew (userId: UserKey, token: string, leaseMs: number): Promise<boolean>
  release (userId: UserKey, token: string): Promise<void>
}

export type StoreLogger = Pick<FastifyBaseLogger, 'warn'>
