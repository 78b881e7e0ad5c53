// `request.miro.as(id)`: Miro answers 401 once an access token is no longer accepted (the user
// removed the app, an admin revoked it, a logout elsewhere). Left alone, every call of that
// user would fail forever while isAuthorized still says true. So a 401 refreshes once, when
// there is a refresh token, and the call is retried once; when that cannot help, the stored
// state is deleted and the call throws FST_MIRO_NOT_AUTHORIZED.
import { HttpError } from '@mirohq/miro-api/dist/api/apis'

/**
 * Told which access token Miro refused. Resolves when a retry may succeed (the token was
 * replaced or refreshed); otherwise deletes the state and throws FST_MIRO_NOT_AUTHORIZED.
 * `final`: the retry was refused too.
 */
export type RecoverFrom401 = (refusedToken: string, final: boolean) => Promise<void>

const isUnauthorized = (err: unknown): boolean => err instanceof HttpError && err.statusCode === 401

interface Call { used: string | undefined, result: unknown }

/**
 * The fields the SDK's low-level API keeps besides `accessToken`, the only ones its methods read
 * (test/api-401.test.ts checks that list against the SDK, so an upgrade that adds one fails there).
 */
export const API_FIELDS = ['accessToken', 'basePath', 'logger', 'httpTimeout'] as const
interface ApiFields { basePath: unknown, logger: unknown, httpTimeout: unknown }

/**
 * The SDK's low-level API object with every method retried once after a 401. The high-level
 * objects (Board, Item…) all call through the `_api` they are given, so wrapping that one
 * covers them all.
 */
export function retryingOn401<T extends object> (api: T, tokenOf: () => Promise<string>, recover: RecoverFrom401): T {
  // Each call sees its own accessToken, so we know which token a 401 refused. The call's `this`
  // has the API's class as prototype and copies of its fields: made from the API object itself
  // (Object.create(api)), every request's API would become a prototype, which V8 pays for in
  // maps and GC (bench/FINDINGS.md, issue 17: 7 % of the server's CPU in GC against 2.5 %).
  const proto = Object.getPrototypeOf(api) as object
  const fields = api as unknown as ApiFields
  const callWith = (method: (...args: unknown[]) => unknown, args: unknown[]): Call => {
    const call: Call = { used: undefined, result: undefined }
    const self = {
      __proto__: proto,
      accessToken: async () => (call.used = await tokenOf()),
      basePath: fields.basePath,
      logger: fields.logger,
      httpTimeout: fields.httpTimeout
    }
    call.result = method.apply(self, args)
    return call
  }
  const wrap = (method: (...args: unknown[]) => unknown) => async (...args: unknown[]): Promise<unknown> => {
    const first = callWith(method, args)
    try {
      return await first.result
    } catch (err) {
      if (!isUnauthorized(err) || first.used === undefined) throw err
      await recover(first.used, false)
    }
    const retry = callWith(method, args)
    try {
      return await retry.result
    } catch (err) {
      if (isUnauthorized(err) && retry.used !== undefined) await recover(retry.used, true)
      throw err
    }
  }
  const wrapped = new Map<string | symbol, unknown>()
  return new Proxy(api, {
    get (target, name) {
      const value: unknown = Reflect.get(target, name)
      if (typeof value !== 'function' || name === 'accessToken' || name === 'constructor') return value
      let fn = wrapped.get(name)
      if (fn === undefined) wrapped.set(name, fn = wrap(value as (...args: unknown[]) => unknown))
      return fn
    }
  })
}
