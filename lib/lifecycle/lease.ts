// A refresh lock held as a short lease, renewed while its holder works. A holder that dies
// (or a lock brought back by an AOF restart) stops renewing, so the others wait one lease at
// most, not the whole length of a token call.
import type { RefreshLock, UserKey } from '../storage/types'

/** How long a lock lives without renewal: what a dead holder costs the others, at most. */
export const LEASE_MS = 3000
/** Renewed well before it runs out, so one slow or failed renewal does not lose it. */
const RENEW_EVERY_MS = 1000

export class Lease {
  private timer: NodeJS.Timeout | undefined
  private released = false

  private constructor (private readonly lock: RefreshLock, private readonly userId: UserKey, private readonly token: string) {
    this.timer = setInterval(() => { this.renew() }, RENEW_EVERY_MS)
    this.timer.unref()
  }

  /** The lease, or null when someone else holds the lock. */
  static async acquire (lock: RefreshLock, userId: UserKey): Promise<Lease | null> {
    const token = await lock.acquire(userId, LEASE_MS)
    return token === null ? null : new Lease(lock, userId, token)
  }

  private renew (): void {
    this.lock.renew(this.userId, this.token, LEASE_MS).then((ours) => {
      // Lost (expired during a storage outage, taken over): renewing further cannot win it back.
      if (!ours) this.stop()
    }, () => {}) // a failed renewal is retried on the next tick; the lease covers two more
  }

  private stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Gives the lock up; should that fail, the lease runs out by itself. */
  async release (): Promise<void> {
    if (this.released) return
    this.released = true
    this.stop()
    await this.lock.release(this.userId, this.token).catch(() => {})
  }
}
