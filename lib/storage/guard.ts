// Shared by every backend: errors become MiroStorageError (an outage, never a logout), and a
// value that is not a token state reads as "nothing stored", with a warning.
import { MiroNoUserIdError, MiroStorageError, describeCause } from '../errors'
import { isTokenState, type MiroTokenState } from '../state'
import type { ReplaceResult, StoreLogger, TokenStore, UserKey } from './types'

export function toStorageError (what: string, err: unknown): Error {
  if (err instanceof MiroStorageError) return err
  return new MiroStorageError(`${what}: ${describeCause(err)}`, { cause: err })
}

export async function storageCall<T> (what: string, call: () => T | PromiseLike<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw toStorageError(what, err)
  }
}

export function checkedState (value: unknown, where: string, log: StoreLogger): MiroTokenState | undefined {
  if (value === undefined || value === null) return undefined
  if (isTokenState(value)) return value
  log.warn({ where }, 'fastify-miro: the stored Miro token state is not valid; treating the user as logged out')
  return undefined
}

/** A user id that can key a stored state: reading without one finds nothing, writing fails. */
export function hasUserId (userId: UserKey | null | undefined): userId is UserKey {
  return userId !== undefined && userId !== null && userId !== ''
}

export function requireUserId (userId: UserKey | null | undefined): UserKey {
  if (!hasUserId(userId)) throw new MiroNoUserIdError()
  return userId
}

/**
 * Compare-and-set for a backend without an atomic primitive (a custom Storage): read, compare
 * the access token, write. Two instances can interleave between the read and the write.
 */
export async function replaceByReadThenWrite (
  store: Pick<TokenStore, 'get' | 'set'>, userId: UserKey, expectedAccessToken: string, next: MiroTokenState | undefined
): Promise<ReplaceResult> {
  const current = await store.get(userId)
  if (current?.accessToken !== expectedAccessToken) return { replaced: false, current }
  await store.set(userId, next)
  return { replaced: true }
}
