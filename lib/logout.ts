// Logout wins: once it resolves, no state of the user is stored, and every pair Miro issued
// to them that this process knows of, a racing refresh's included, is revoked. A refresh on
// another instance finds the state gone and revokes its own pair (lib/lifecycle/pending-writes.ts).
import type { MiroTokenState } from './state'
import type { TokenStore, UserKey } from './storage/types'
import type { TokenRefresher } from './refresh'

// Each round deletes what it read; a pair written in between is read, deleted and revoked in
// the next. Refreshes are serialized per user, so two rounds suffice; the rest is a margin.
const DELETE_ROUNDS = 5

export async function logOut (
  store: TokenStore, userId: UserKey, refresher: TokenRefresher, revoke: (state: MiroTokenState) => Promise<void>
): Promise<void> {
  const seen = await refresher.settle(store, userId)
  let gone = false
  for (let round = 0; round < DELETE_ROUNDS && !gone; round++) {
    const current = await store.get(userId)
    if (current === undefined) {
      gone = true
    } else {
      seen.push(current)
      gone = (await store.replace(userId, current.accessToken, undefined)).replaced
    }
  }
  if (!gone) await store.set(userId, undefined)
  await forgetLogins(store, userId, seen)
  // Each access token once, however often it was seen.
  const byToken = new Map(seen.map((state) => [state.accessToken, state]))
  await Promise.all([...byToken.values()].map(revoke))
}

/** The login index forgets the key (best effort: revokeAll drops a key whose state is gone anyway). */
async function forgetLogins (store: TokenStore, userId: UserKey, seen: MiroTokenState[]): Promise<void> {
  const remove = store.logins?.remove
  if (remove === undefined) return
  const miroUsers = new Set(seen.map((state) => String(state.userId)).filter((id) => id !== ''))
  await Promise.all([...miroUsers].map((miroUserId) => remove(miroUserId, [userId]).catch(() => {})))
}
