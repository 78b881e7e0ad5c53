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
  let deleted = false
  for (let round = 0; round < DELETE_ROUNDS && !deleted; round++) {
    const current = await store.get(userId)
    if (current === undefined) {
      deleted = true
      break
    }
    seen.push(current)
    deleted = (await store.replace(userId, current.accessToken, undefined)).replaced
  }
  if (!deleted) await store.set(userId, undefined)
  const tokens = new Set<string>()
  await Promise.all(seen.filter((state) => !tokens.has(state.accessToken) && tokens.add(state.accessToken)).map(revoke))
}
