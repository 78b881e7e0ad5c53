// The server's side of "a state works once": the states of logins that came back, until they
// expire, so a copy of a pending-login cookie cannot be replayed. A login that never comes
// back leaves nothing here. Kept in this process's memory, and claimed in the shared store
// when there is one (Redis, a custom Storage with claimLoginState): a replay reaching another
// instance within the login's life finds its state used there too. Memory and session storage
// have no store shared by the instances: there a state is single-use per process.
// It also lets a doubled callback (a reload while the first is in flight, whose answer the
// browser then drops) end logged in: the second request proves the same state with the same
// cookie, waits for the first and answers as it did, with its session. (On another instance,
// the state is used: FST_MIRO_INVALID_STATE.)
import { createHash } from 'node:crypto'
import { safeEqual } from './crypto'
import { MiroStorageError } from './errors'
import { LOGIN_LIFE_MS, type PendingLogin } from './pending-login'
import type { UsedLoginStates } from './storage/types'

/** What a callback answered: where it redirected, and the session it logged in (if any). */
export interface LoginOutcome {
  location: string
  session?: unknown
}

/** How long a completed login's outcome is given to a doubled callback of it. */
const OUTCOME_LIFE_MS = 60_000
/** A bound on memory: used states of 10 minutes of logins. Beyond it, callbacks answer 503. */
const MAX_USED = 100_000

// Also the id in the shared store's key: a hash, so no key gives a state away.
const idOf = (value: string): string => createHash('sha256').update('fastify-miro login state\0').update(value).digest('base64url')

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
  private readonly outcomes = new Map<string, { until: number, code: string, outcome: Promise<LoginOutcome | undefined> }>()
  /** Errors after which the login is still unused (nothing claimed, nothing exchanged). */
  private readonly unusedBy = new WeakSet<object>()

  /** `shared`: the store's used states, for every instance; undefined: this process only. */
  constructor (private readonly shared?: UsedLoginStates) {}

  /**
   * Runs `complete` for the first callback of `login` anywhere. A later callback of the same
   * login with the same code (the same URL: a reload) in this process gets the first's outcome
   * while it is fresh, the same error if it failed; any other gets `undefined`: the state was
   * used. A storage error while claiming leaves the login unused (see `leftUnused`).
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
    if (this.used.size >= MAX_USED) throw this.unused(new MiroStorageError('too many logins came back in the last 10 minutes to remember them all'))
    this.used.set(id, now)
    // Claimed before the code is spent: a state used on another instance exchanges nothing.
    const outcome = this.claim(id).then((first) => first ? complete() : undefined, (err: unknown) => {
      // Nothing was used: forgotten here too, so the same callback works once storage is back.
      this.used.delete(id)
      this.outcomes.delete(id)
      throw this.unused(err)
    })
    this.outcomes.set(id, { until: now + OUTCOME_LIFE_MS, code: codeId, outcome })
    // Kept for doubled callbacks, which see the rejection themselves: not an unhandled one.
    outcome.catch(() => {})
    return outcome
  }

  /** Whether `once` failed with `err` before the login was used: its cookie may stay for a retry. */
  leftUnused (err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.unusedBy.has(err)
  }

  // The lifetime is the whole login's: the claim is made after the login began, so it outlives it.
  private async claim (id: string): Promise<boolean> {
    return this.shared === undefined ? true : await this.shared.claim(id, LOGIN_LIFE_MS)
  }

  private unused<E> (err: E): E {
    if (typeof err === 'object' && err !== null) this.unusedBy.add(err)
    return err
  }
}
