// @fastify/session loads and saves the session in its own hooks, before and after any code of
// fastify-miro runs, and passes a failing store's raw error on (a 500). Wrapping the store
// makes such an outage a 503 FST_MIRO_STORAGE_UNAVAILABLE, like every other storage outage.
import { MiroStorageError, describeCause } from './errors'

type Callback = (err?: unknown, value?: unknown) => void

/** The callback store contract of @fastify/session (and express-session stores). */
export interface SessionStoreLike {
  get (sessionId: string, callback: Callback): void
  set (sessionId: string, session: unknown, callback: Callback): void
  destroy (sessionId: string, callback: Callback): void
}

function mapped (what: string, callback: Callback): Callback {
  return (err, value) => {
    // ENOENT is the stores' way to say "no such session": not an outage.
    if (err && (err as { code?: unknown }).code !== 'ENOENT' && !(err instanceof MiroStorageError)) {
      callback(new MiroStorageError(`session store ${what}: ${describeCause(err)}`))
      return
    }
    callback(err, value)
  }
}

function guarded (what: string, call: (callback: Callback) => void, callback: Callback): void {
  const done = mapped(what, callback)
  try {
    call(done)
  } catch (err) {
    done(err) // a store that throws instead of calling back
  }
}

/**
 * Wraps a @fastify/session store so that its failures answer 503 with code
 * FST_MIRO_STORAGE_UNAVAILABLE instead of a 500:
 * `app.register(fastifySession, { secret, store: mapSessionStoreErrors(new RedisStore(…)) })`.
 */
export function mapSessionStoreErrors<S extends SessionStoreLike> (store: S): S {
  return Object.assign(Object.create(store) as S, {
    get: (id: string, callback: Callback) => guarded('get', (cb) => store.get(id, cb), callback),
    set: (id: string, session: unknown, callback: Callback) => guarded('set', (cb) => store.set(id, session, cb), callback),
    destroy: (id: string, callback: Callback) => guarded('destroy', (cb) => store.destroy(id, cb), callback)
  })
}
