// Web SDK id tokens (what miro.board.getIdToken() hands an app's frontend): HS256 JWTs
// signed with the app's client secret.
import { createHmac } from 'node:crypto'
import { DIGITS, type Store } from './state'
import type { IdTokenOptions } from './types'

const DEFAULT_LIFE_S = 3600
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')

export function mintIdToken (store: Store, clientId: string, clientSecret: string, numericIds: boolean, opts: IdTokenOptions = {}): string {
  const user = opts.userId === undefined ? store.users[0] : store.findUser(opts.userId)
  const userId = opts.userId ?? user?.id
  if (userId === undefined) throw new Error('mintIdToken: the sandbox has no users; pass opts.userId')
  const teamId = opts.teamId ?? user?.teamId ?? store.defaultTeam.id
  const iat = opts.iat ?? Math.floor(store.now() / 1000)
  const id = (name: string, value: string): string => {
    if (!numericIds) return JSON.stringify(value)
    if (!DIGITS.test(value)) throw new TypeError(`mintIdToken: with numericIds, the ${name} id must be a string of digits, got ${JSON.stringify(value)}`)
    return value
  }
  // The payload text is written by hand: with numericIds, team and user are bare numbers with
  // their exact digits (a JSON.stringify'd Number would round 19-digit ids).
  const payload = `{"sub":${JSON.stringify(opts.clientId ?? clientId)},"iss":"miro",` +
    `"team":${id('team', teamId)},"user":${id('user', userId)},` +
    `"iat":${JSON.stringify(iat)},"exp":${JSON.stringify(iat + (opts.expiresIn ?? DEFAULT_LIFE_S))}` +
    (opts.notBefore === undefined ? '' : `,"nbf":${JSON.stringify(opts.notBefore)}`) + '}'
  // Signed by hand so the signature covers exactly this text (the sandbox clock's iat included).
  const input = `${HEADER}.${Buffer.from(payload).toString('base64url')}`
  const signature = createHmac('sha256', opts.clientSecret ?? clientSecret).update(input).digest('base64url')
  return `${input}.${signature}`
}
