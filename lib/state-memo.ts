// The states a client has read, per user. Every API call asks for a token, and the SDK reads
// storage for each: a route paging through boards would make a Redis round trip per page.
// A remembered state is used only while its token is fresh (needsRefresh), and only for a
// handful of users, so a client kept longer than a request (an app-level one) neither serves
// a state past its expiry nor grows; `maxAgeMs` bounds how long a read is trusted at all.
import { needsRefresh, type MiroTokenState } from './state'
import type { UserKey } from './storage/types'

/** Users remembered per client: a request acts for one, rarely a few. */
export const MEMO_USERS = 8

interface Entry { state: MiroTokenState, readAt: number }

export class StateMemo {
  // Made on first use: a request's client is built per request (bench goal G2 measures that path).
  private entries: Map<UserKey, Entry> | undefined

  constructor (private readonly maxAgeMs = Infinity) {}

  /** The remembered state of `userId` while its token is fresh, else `undefined` (and forgotten). */
  fresh (userId: UserKey, now = Date.now()): MiroTokenState | undefined {
    const entry = this.entries?.get(userId)
    if (entry === undefined) return undefined
    if (needsRefresh(entry.state, now) || now - entry.readAt > this.maxAgeMs) {
      this.entries?.delete(userId)
      return undefined
    }
    return entry.state
  }

  /** Remembers what storage holds for `userId` now (`undefined`: nothing, forgotten). */
  remember (userId: UserKey, state: MiroTokenState | undefined): void {
    if (state === undefined) {
      this.entries?.delete(userId)
      return
    }
    const entries = (this.entries ??= new Map())
    entries.delete(userId)
    if (entries.size >= MEMO_USERS) entries.delete(entries.keys().next().value as UserKey)
    // The time of the read only matters with a finite maxAgeMs: no clock read per request otherwise.
    entries.set(userId, { state, readAt: this.maxAgeMs === Infinity ? 0 : Date.now() })
  }

  forget (userId: UserKey): void {
    this.entries?.delete(userId)
  }

  get size (): number {
    return this.entries?.size ?? 0
  }
}
