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
  /** Identifies one user's state, so concurrent refreshes for it can be merged. */
  flightKey (userId: UserKey): string
  /**
   * True when each request holds its own copy (the session): a request that waited for
   * another one's refresh must write the new state into its own copy too.
   */
  readonly requestLocal: boolean
  /** A lock shared by every instance of the app, when the backend has one (Redis). */
  readonly lock?: RefreshLock
}

export interface RefreshLock {
  /** Resolves to a token when the lock was taken, `null` when someone else holds it. */
  acquire (userId: UserKey, ttlMs: number): Promise<string | null>
  release (userId: UserKey, token: string): Promise<void>
}

export type StoreLogger = Pick<FastifyBaseLogger, 'warn'>
