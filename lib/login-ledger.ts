// The server's side of "a state works once": the states of logins that came back, until they
// expire, so a copy of a pending-login cookie cannot be replayed. A login that never comes
// back leaves nothing here. Kept in this process's memory: with several instances, a replay
// reaching another instance within the login's life finds its state unused there.
// It also lets a doubled callback (a reload while the first is in flight, whose answer the
// browser then drops) end logged in: the second request proves the same state with the same
// cookie, waits for the first and answers as it did, with its session.
import { createHash } from 'node:crypto'
import { safeEqual } from './crypto'
import { MiroStorageError } from './errors'
import { LOGIN_LIFE_MS, type PendingLogin } from './pending-login'

/** What a callback answered: where it redirected, and the session it logged in (if any). */
export interface LoginOutcome {
  location: string
  session?: unknown
}

/** How long a completed login's outcome is given to a doubled callback of it. */
const OUTCOME_LIFE_MS = 60_000
/** A bound on memory: used states of 10 minutes of logins. Beyond it, callbacks answer 503. */
const MAX_USED = 100_000

const idOf = (state: string): string => createHash('sha256').update(state).digest('base64url')

/** Drops entries from the front of a Map kept in time order while `done` says so. */
function dropFront<T> (map: Map<string, T>, done: (value: T) => boolean): void {
  for (const [id, value] of map) {
    if (!done(value)) return
    map.delete(id)
  }
}

export class LoginLedger {
  /** State id → when it was used; a pending login never outlives LOGIN_LIFE_MS. */
  private readonly used = new Map<string, number>()
  private readonly outcomes = new Map<string, { until: number, code: string, outcome: Promise<LoginOutcome> }>()

  /**
   * Runs `complete` for the first callback of `login`. A later callback of the same login with
   * the same code (the same URL: a reload) gets the first's outcome while it is fresh, the same
   * error if it failed; any other gets `undefined`: the state was used.
   */
  async once (login: PendingLogin, code: string, complete: () => Promise<LoginOutcome>): Promise<LoginOutcome | undefined> {
    const now = Date.now()
    dropFront(this.used, (at) => at + LOGIN_LIFE_MS <= now)
    dropFront(this.outcomes, (entry) => entry.until <= now)
    const id = idOf(login.state)
    const codeId = idOf(code)
    if (this.used.has(id)) {
      const first = this.outcomes.get(id)
      return first !== undefined && safeEqual(first.code, codeId) ? first.outcome : undefined
    }
    if (this.used.size >= MAX_USED) throw new MiroStorageError('too many logins came back in the last 10 minutes to remember them all')
    this.used.set(id, now)
    const outcome = complete()
    this.outcomes.set(id, { until: now + OUTCOME_LIFE_MS, code: codeId, outcome })
    // Kept for doubled callbacks, which see the rejection themselves: not an unhandled one.
    outcome.catch(() => {})
    return outcome
  }
}
