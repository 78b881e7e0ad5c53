// Web SDK id tokens (what miro.board.getIdToken() hands an app's frontend): HS256 JWTs
// signed with the app's client secret.
import { createSigner } from 'fast-jwt'
import type { Store } from './state'
import type { IdTokenOptions } from './types'

const DEFAULT_LIFE_S = 3600

export function mintIdToken (store: Store, clientId: string, clientSecret: string, opts: IdTokenOptions = {}): string {
  const user = opts.userId === undefined ? store.users[0] : store.findUser(opts.userId)
  const userId = opts.userId ?? user?.id
  if (userId === undefined) throw new Error('mintIdToken: the sandbox has no users; pass opts.userId')
  const iat = opts.iat ?? Math.floor(store.now() / 1000)
  const payload = {
    sub: opts.clientId ?? clientId,
    iss: 'miro',
    team: opts.teamId ?? user?.teamId ?? store.defaultTeam.id,
    user: userId,
    iat,
    exp: iat + (opts.expiresIn ?? DEFAULT_LIFE_S),
    ...(opts.notBefore === undefined ? {} : { nbf: opts.notBefore })
  }
  // fast-jwt keeps the iat given in the payload (from the sandbox clock), so tests control it.
  const sign = createSigner({ key: opts.clientSecret ?? clientSecret, algorithm: 'HS256' })
  return sign(payload)
}
