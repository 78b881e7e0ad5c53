// `options.onLogin(request, login)`: the app's hook to link a Miro login to its own user. Runs
// in the callback once the tokens are stored (and the session saved), before the redirect. If it
// throws, the callback fails with that error; the tokens stay stored: the login happened.
import type { FastifyRequest } from 'fastify'
import type { ResolvedOptions } from './options'
import type { MiroTokenState } from './state'
import type { UserKey } from './storage/types'

/** What `onLogin` is told of a login. */
export interface MiroLogin {
  /** The key the tokens are stored under (what app.miro.as() and request.miro.as() take). */
  userId: UserKey
  /** Miro's user id. */
  miroUserId: string
  /** Miro's team id of the grant. */
  teamId?: string
  /** Space-separated scopes Miro granted. */
  scope?: string
}

export type OnLogin = (request: FastifyRequest, login: MiroLogin) => void | Promise<void>

export async function runOnLogin (options: Pick<ResolvedOptions, 'onLogin'>, request: FastifyRequest, userId: UserKey, state: MiroTokenState): Promise<void> {
  if (options.onLogin === undefined) return
  const login: MiroLogin = { userId, miroUserId: String(state.userId) }
  if (state.teamId !== undefined) login.teamId = state.teamId
  if (state.scope !== undefined) login.scope = state.scope
  await options.onLogin(request, login)
}
