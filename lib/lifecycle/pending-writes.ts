// The pending-write journal. Miro rotates refresh tokens, so a refreshed pair exists only in
// this process until it is stored. A write that fails keeps the pair here: it serves this
// process's reads of the stale state, and is written again until it lands or the store shows
// it was superseded (a logout or a new login: the pair is then revoked, never written back).
import type { MiroTokenState } from '../state'
import type { ReplaceResult, TokenStore, UserKey } from '../storage/types'

interface PendingWrite {
  store: TokenStore
  userId: UserKey
  /** What the store still holds: the write lands only over it. */
  from: MiroTokenState
  fresh: MiroTokenState
  attempts: number
  timer: NodeJS.Timeout | undefined
  /** Resolves once the pair is stored or given up. */
  settled: Promise<void>
  settle: () => void
}

// Retries are cheap against a store that is down (refused at once), and must come back well
// within the grace another instance gives an invalid_grant before deleting (refresh.ts).
const FIRST_RETRY_MS = 25
const RETRY_CAP_MS = 250

export class PendingWrites {
  private readonly entries = new Map<string, PendingWrite>()

  /** `revoke` is told of pairs that lost to a logout or a newer login (best effort). */
  constructor (private readonly revoke: (state: MiroTokenState) => unknown) {}

  /** Pairs this process holds and could not store yet. */
  get size (): number {
    return this.entries.size
  }

  /**
   * Stores `fresh`, the refresh of `from`, unless the user logged out or in again meanwhile.
   * Resolves to the state to use now: undefined when the user was logged out meanwhile.
   */
  async commit (store: TokenStore, userId: UserKey, from: MiroTokenState, fresh: MiroTokenState): Promise<MiroTokenState | undefined> {
    const key = store.flightKey(userId)
    // A refresh of a pair that is itself still pending: the store holds that pair's origin.
    const earlier = this.entries.get(key)
    const stored = earlier !== undefined && earlier.fresh.accessToken === from.accessToken ? earlier.from : from
    let result: ReplaceResult
    try {
      result = await store.replace(userId, stored.accessToken, fresh)
    } catch {
      this.keep(key, store, userId, stored, fresh)
      return fresh
    }
    if (earlier !== undefined && this.entries.get(key) === earlier) this.remove(key, earlier)
    return this.outcome(result, fresh)
  }

  /** The pair to use for a state read back from the store: this process's newer one, if it holds it. */
  upgrade (store: TokenStore, userId: UserKey, stored: MiroTokenState | undefined): MiroTokenState | undefined {
    if (this.entries.size === 0 || stored === undefined) return stored
    const entry = this.entries.get(store.flightKey(userId))
    if (entry === undefined || entry.from.accessToken !== stored.accessToken) return stored
    this.schedule(entry, 0) // the store answers again: write now
    return entry.fresh
  }

  /** The pair held for the user, if any: it serves while the store is unreachable. */
  held (store: TokenStore, userId: UserKey): MiroTokenState | undefined {
    return this.entries.size === 0 ? undefined : this.entries.get(store.flightKey(userId))?.fresh
  }

  /** Logout: forgets the user's pending pair and hands it over (to be revoked). */
  take (store: TokenStore, userId: UserKey): MiroTokenState[] {
    const key = store.flightKey(userId)
    const entry = this.entries.get(key)
    if (entry === undefined) return []
    this.remove(key, entry)
    return [entry.fresh, entry.from]
  }

  /** One last attempt for every pending pair (app close); resolves to how many stay unstored. */
  async drain (): Promise<number> {
    await Promise.all([...this.entries].map(([key, entry]) => this.attempt(key, entry)))
    const left = this.entries.size
    for (const [key, entry] of this.entries) this.remove(key, entry)
    return left
  }

  private outcome (result: ReplaceResult, fresh: MiroTokenState): MiroTokenState | undefined {
    if (result.replaced || result.current?.accessToken === fresh.accessToken) return fresh
    // Logged out (nothing stored) or in again (another pair): this pair must not stay live.
    this.revoke(fresh)
    return result.current
  }

  /** Resolves once the user's pending pair (if any) is stored or given up. */
  settled (store: TokenStore, userId: UserKey): Promise<void> | undefined {
    return this.entries.size === 0 ? undefined : this.entries.get(store.flightKey(userId))?.settled
  }

  private keep (key: string, store: TokenStore, userId: UserKey, from: MiroTokenState, fresh: MiroTokenState): void {
    const earlier = this.entries.get(key)
    if (earlier !== undefined) this.remove(key, earlier)
    let settle!: () => void
    const settled = new Promise<void>((resolve) => { settle = resolve })
    const entry: PendingWrite = { store, userId, from, fresh, attempts: 0, timer: undefined, settled, settle }
    this.entries.set(key, entry)
    this.schedule(entry, FIRST_RETRY_MS)
  }

  private schedule (entry: PendingWrite, delayMs: number): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    const key = entry.store.flightKey(entry.userId)
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      this.attempt(key, entry).then((done) => {
        if (!done && this.entries.get(key) === entry) {
          this.schedule(entry, Math.min(RETRY_CAP_MS, FIRST_RETRY_MS * 2 ** entry.attempts))
        }
      }, () => {})
    }, delayMs)
    // Retries never hold the process open; app close drains them (refresh.ts).
    entry.timer.unref()
  }

  /** True once the entry is settled (stored or superseded). */
  private async attempt (key: string, entry: PendingWrite): Promise<boolean> {
    entry.attempts++
    let result: ReplaceResult
    try {
      result = await entry.store.replace(entry.userId, entry.from.accessToken, entry.fresh)
    } catch {
      return false
    }
    if (this.entries.get(key) !== entry) return true // taken by a logout meanwhile
    this.remove(key, entry)
    this.outcome(result, entry.fresh)
    return true
  }

  private remove (key: string, entry: PendingWrite): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    entry.timer = undefined
    if (this.entries.get(key) === entry) this.entries.delete(key)
    entry.settle()
  }
}
