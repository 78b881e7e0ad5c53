// Shared by every backend: errors become MiroStorageError (an outage, never a logout), and a
// value that is not a token state reads as "nothing stored", with a warning.
import { storageFailed } from '../diagnostics'
import { MiroNoUserIdError, MiroStorageError, describeCause } from '../errors'
import { isTokenState, type MiroTokenState } from '../state'
import type { ReplaceResult, StoreLogger, TokenStore, UserKey } from './types'

export function toStorageError (what: string, err: unknown): Error {
  if (err instanceof MiroStorageError) return err
  return new MiroStorageError(`${what}: ${describeCause(err)}`, { cause: err })
}

/** Default of `options.storageTimeout`: how long one storage command may take, in milliseconds. */
export const DEFAULT_STORAGE_TIMEOUT_MS = 1500

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === 'function'

/**
 * Runs one storage call, its errors as MiroStorageError. With `timeoutMs`, a call that has not
 * settled by then rejects with MiroStorageError (its late outcome is ignored). A synchronous
 * answer needs no timer. The timer is not unref'd: it lasts at most `timeoutMs` and makes sure
 * the caller gets an answer even when nothing else keeps the process alive.
 */
export function storageCall<T> (what: string, call: () => T | PromiseLike<T>, timeoutMs?: number): Promise<T> {
  let result: T | PromiseLike<T>
  try {
    result = call()
  } catch (err) {
    return Promise.reject(storageFailed(what, toStorageError(what, err)))
  }
  if (!isThenable(result)) return Promise.resolve(result)
  const pending = result
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined
      ? undefined
      : setTimeout(() => { reject(storageFailed(what, new MiroStorageError(`${what} did not answer within ${timeoutMs} ms`))) }, timeoutMs)
    pending.then((value) => {
      clearTimeout(timer)
      resolve(value)
    }, (err: unknown) => {
      clearTimeout(timer)
      reject(storageFailed(what, toStorageError(what, err)))
    })
  })
}

/**
 * A custom Storage's optional method `name`, called through storageCall (as 'storage <name>',
 * with `this` the storage); undefined when the storage has no such method.
 */
export function optionalStorageMethod<A extends unknown[]> (storage: object, name: string, timeoutMs: number): ((...args: A) => Promise<unknown>) | undefined {
  const method = (storage as Record<string, unknown>)[name]
  if (typeof method !== 'function') return undefined
  const what = 'storage ' + name
  return (...args) => storageCall(what, () => method.apply(storage, args) as unknown, timeoutMs)
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
