// A read whose answer goes straight on. Every `await` between Redis's answer and the route
// is a promise and a microtask more per request; on bench goal G2's path one of them cost
// ~3 % of req/s (bench/FINDINGS.md), so the Redis backend runs `next` in its own callback.
import type { MiroTokenState } from '../state'
import type { TokenStore, UserKey } from './types'

/** `store.get(userId).then(next, recover)`; `recover` gets the read's errors, never those of `next`. */
export function readThen<R> (
  store: TokenStore, userId: UserKey,
  next: (state: MiroTokenState | undefined) => R | PromiseLike<R>, recover: (err: unknown) => R | PromiseLike<R>
): Promise<R> {
  if (store.readThen !== undefined) return store.readThen(userId, next, recover)
  return store.get(userId).then(next, recover)
}
