// Observability: every token call (exchange, refresh, revoke) is traced on a
// `node:diagnostics_channel` tracing channel `fastify-miro:<operation>`, the way undici and
// Fastify trace theirs, and storage failures are published on `fastify-miro:storage`'s error
// channel. The context objects are built here, field by field, so they never carry a token, a
// code, the client secret or a session id (a session id is a credential: it is hashed).
import { createHash } from 'node:crypto'
import { tracingChannel } from 'node:diagnostics_channel'
import type { FastifyBaseLogger } from 'fastify'
import type { MiroTokenState } from './state'
import type { UserKey } from './storage/types'

export type MiroOperation = 'exchange' | 'refresh' | 'revoke'

/** What every event of one traced operation carries (the same object from start to end). */
export interface MiroTraceContext {
  operation: MiroOperation
  /** The storage key, or `'sha256:<16 hex>'` of it when it is the session id (the default `userId`). */
  userKey?: string
  /** Miro's user and team ids of the tokens (for an exchange: once Miro answered). */
  miroUserId?: string
  teamId?: string
  /** Revoke: why the tokens are revoked (logout, replaced by a new login…). */
  reason?: string
  /** Refresh: it waited for another instance holding this user's refresh lock. */
  waitedForLock?: boolean
  /** Refresh: 'refreshed' (this process called Miro) or 'refreshed elsewhere' (another instance did). */
  result?: 'refreshed' | 'refreshed elsewhere'
  /** Set when the operation ends. */
  outcome?: 'ok' | 'error'
  durationMs?: number
  /** The FST_MIRO_* code of the failure. */
  errorCode?: string
  /** The failure, on the `error` event (without a `cause`: a driver's error may hold command arguments). */
  error?: Error
}

/** `fastify-miro:storage` error events. */
export interface MiroStorageErrorContext {
  operation: string
  errorCode: string
  /** The storage error's message: says what failed (a command, a time limit), never a value. */
  message: string
}

export const channels = {
  exchange: tracingChannel<unknown, MiroTraceContext>('fastify-miro:exchange'),
  refresh: tracingChannel<unknown, MiroTraceContext>('fastify-miro:refresh'),
  revoke: tracingChannel<unknown, MiroTraceContext>('fastify-miro:revoke'),
  storage: tracingChannel<unknown, MiroStorageErrorContext>('fastify-miro:storage')
}

/** The user key as diagnostics show it: the session id (default `userId`) only as a hash. */
export function publicUserKey (userId: UserKey, customUserId: boolean | undefined): string {
  const key = String(userId)
  if (customUserId === true) return key
  return 'sha256:' + createHash('sha256').update(key).digest('hex').slice(0, 16)
}

/** A context for an operation on the tokens of `state`. */
export function traceContext (operation: MiroOperation, state?: MiroTokenState, userKey?: string): MiroTraceContext {
  const context: MiroTraceContext = { operation }
  if (userKey !== undefined) context.userKey = userKey
  if (state !== undefined) describeState(context, state)
  return context
}

export function describeState (context: MiroTraceContext, state: MiroTokenState): void {
  if (state.userId !== '') context.miroUserId = String(state.userId)
  if (state.teamId !== undefined) context.teamId = state.teamId
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** The error as subscribers see it: ours as thrown, unless it holds a `cause` (then a copy without). */
function publicError (err: unknown): Error {
  if (err instanceof Error && (err as { cause?: unknown }).cause === undefined) return err
  const copy = new Error(err instanceof Error ? err.message : 'unknown error')
  Object.assign(copy, { name: err instanceof Error ? err.name : 'Error', code: codeOf(err), statusCode: (err as { statusCode?: unknown } | null)?.statusCode })
  return copy
}

type Channel = typeof channels.exchange

/**
 * Runs `operation` as a traced one: start and end around the call (subscribers' stores bound,
 * as tracePromise does), asyncStart and asyncEnd (and error) when it settles. Unlike
 * tracePromise, the context never gets the result (it would hold the tokens). `done` runs once
 * it settled, with duration and outcome set: for the log line.
 */
export function traced<T> (channel: Channel, context: MiroTraceContext, operation: () => Promise<T>, done?: (context: MiroTraceContext) => void): Promise<T> {
  const started = performance.now()
  const finish = (error: unknown, failed: boolean): void => {
    context.durationMs = Math.round((performance.now() - started) * 10) / 10
    context.outcome = failed ? 'error' : 'ok'
    if (failed) {
      const code = codeOf(error)
      if (code !== undefined) context.errorCode = code
      context.error = publicError(error)
    }
    done?.(context)
    if (!channel.hasSubscribers) return
    if (failed) channel.error.publish(context)
    channel.asyncStart.publish(context)
    channel.asyncEnd.publish(context)
  }
  const run = (): Promise<T> => {
    let promise: Promise<T>
    try {
      promise = operation()
    } catch (err) {
      promise = Promise.reject(err)
    }
    return promise.then((value) => { finish(undefined, false); return value }, (err: unknown) => { finish(err, true); throw err })
  }
  if (!channel.hasSubscribers) return run()
  return channel.start.runStores(context, () => {
    try {
      return run()
    } finally {
      channel.end.publish(context)
    }
  })
}

/** A storage failure, for `fastify-miro:storage` subscribers. Returns the error, unchanged. */
export function storageFailed<E> (operation: string, err: E): E {
  const errors = channels.storage.error
  if (errors.hasSubscribers) {
    errors.publish({ operation, errorCode: codeOf(err) ?? 'unknown', message: (err as Error | null)?.message ?? '' })
  }
  return err
}

export type TraceLogger = Pick<FastifyBaseLogger, 'debug' | 'info'>

/** What a log line says of an operation: the context without the error object. */
export function logFields (context: MiroTraceContext): Record<string, unknown> {
  const { error: _error, ...fields } = context
  return fields
}

/** The log line of a refresh: debug, or info when it waited for another instance or failed. */
export function logRefresh (log: TraceLogger, context: MiroTraceContext): void {
  if (context.outcome === 'error') log.info(logFields(context), 'fastify-miro: a Miro token refresh failed')
  else if (context.waitedForLock === true) log.info(logFields(context), 'fastify-miro: Miro tokens refreshed after waiting for another instance')
  else log.debug(logFields(context), 'fastify-miro: Miro tokens refreshed')
}
