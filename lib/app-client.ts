// `app.miro.as/getState/revoke/revokeAll`: Miro outside a request (jobs, workers, webhook
// handlers, scripts). One MiroClient on the shared store, so it refreshes, locks, stores and
// fails exactly as `request.miro` does. The session backend has no shared store: a user's
// tokens are only in that user's session, so every method refuses at once.
import type { FastifyBaseLogger } from 'fastify'
import type { ExternalUserId, MiroApi } from '@mirohq/miro-api'
import { MiroClient, type ClientContext } from './client'
import { MiroNotSupportedError, MiroOptionsError, MiroSharedStorageRequiredError } from './errors'
import type { MiroTokenState } from './state'
import type { StoreFor } from './storage'
import type { TokenStore, UserKey } from './storage/types'

export interface RevokeAllQuery {
  /** Miro's user id (as in `MiroTokenState.userId` and onLogin's `login.miroUserId`). */
  miroUserId: string
  /** Only that user's logins in this Miro team. */
  teamId?: string
}

export interface AppMiro {
  /** The Miro API as `userId` (a storage key): same refresh, lock, storage and errors as request.miro. */
  as (userId: ExternalUserId): MiroApi
  /** The stored state of `userId`, `undefined` when logged out. */
  getState (userId: ExternalUserId): Promise<MiroTokenState | undefined>
  /** Logs `userId` out as the logout route does: the state is deleted, the tokens revoked at Miro. */
  revoke (userId: ExternalUserId): Promise<void>
  /** Logs a Miro user out everywhere (every browser, every instance); resolves to how many logins it ended. */
  revokeAll (query: RevokeAllQuery): Promise<number>
}

function refusing (what: string): never {
  throw new MiroSharedStorageRequiredError(what)
}

/** For `storage: 'session'`: everything refuses, `as` at once, the others with a rejected promise. */
const sessionAppMiro: AppMiro = {
  as: () => refusing('app.miro.as()'),
  getState: async () => refusing('app.miro.getState()'),
  revoke: async () => refusing('app.miro.revoke()'),
  revokeAll: async () => refusing('app.miro.revokeAll()')
}

function miroUserIdOf (query: RevokeAllQuery | undefined): string {
  const id = query?.miroUserId as unknown
  if ((typeof id !== 'string' || id === '') && typeof id !== 'number') {
    throw new MiroOptionsError('app.miro.revokeAll({ miroUserId, teamId }) needs the Miro user id (miroUserId)')
  }
  return String(id)
}

/** How long the app-level client trusts a state it read (ms). */
const APP_CLIENT_REMEMBER_MS = 1000

export function createAppMiro (context: ClientContext, storeFor: StoreFor, log: FastifyBaseLogger): AppMiro {
  const store = storeFor.shared
  if (store === undefined) return sessionAppMiro
  // One client for the app's lifetime: it remembers a state for a second at most (a request's
  // client does for the whole request), so jobs see other instances' logouts and refreshes soon.
  const client = new MiroClient(context, store, log, undefined, APP_CLIENT_REMEMBER_MS)
  return {
    as: (userId) => client.as(userId),
    getState: (userId) => client.getState(userId),
    revoke: (userId) => client.revokeToken(userId),
    revokeAll: (query) => revokeAll(client, store, query, log)
  }
}

async function revokeAll (client: MiroClient, store: TokenStore, query: RevokeAllQuery, log: FastifyBaseLogger): Promise<number> {
  const miroUserId = miroUserIdOf(query)
  const teamId = query.teamId === undefined ? undefined : String(query.teamId)
  const index = store.logins
  if (index === undefined) throw new MiroNotSupportedError('app.miro.revokeAll()', 'give your Storage a loginsOf(miroUserId, teamId) method')
  const keys = await index.list(miroUserId, teamId)
  // Each listed key is read: only a state of this Miro user (in this team) is logged out; a key
  // whose state is gone (expired, deleted) or now another user's leaves the index.
  const stale: UserKey[] = []
  const ended = await Promise.all(keys.map(async (key) => {
    const state = await client.getState(key)
    if (state === undefined || String(state.userId) !== miroUserId) {
      stale.push(key)
      return false
    }
    if (teamId !== undefined && state.teamId !== teamId) return false
    await client.revokeToken(key)
    return true
  }))
  if (stale.length > 0) await index.remove?.(miroUserId, stale)
  const count = ended.filter(Boolean).length
  log.info({ miroUserId, teamId, logins: count }, 'fastify-miro: a Miro user was logged out everywhere')
  return count
}
