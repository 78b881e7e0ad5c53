// fastify-miro: a ready Miro REST client on every request (`request.miro`), with the users'
// OAuth tokens in Redis (@fastify/redis) or the session (@fastify/session).
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { MiroApi } from '@mirohq/miro-api'
import { createAppMiro, type AppMiro } from './lib/app-client'
import { createSdkLogger, type MiroClient } from './lib/client'
import { createIdTokenReader, decorateIdentity, type MiroIdentity } from './lib/identity'
import { resolveOptions, type FastifyMiroOptions } from './lib/options'
import { TokenRefresher } from './lib/refresh'
import { assertNotRegistered, decorateRequest } from './lib/request'
import { createGuard, registerRoutes, type Guard } from './lib/routes'
import { createStoreFactory } from './lib/storage'

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's Miro client (a `Miro` from @mirohq/miro-api), built on first read. */
    miro: MiroClient
    /** `request.miro.as(<this request's user>)`: the Miro API as the user this request is for. */
    miroApi: () => MiroApi
    /**
     * With `identity: 'idToken'`: the Miro user and team of the request's verified Web SDK id
     * token. Reading it throws FST_MIRO_INVALID_ID_TOKEN (401) when the token is refused.
     */
    miroIdentity: MiroIdentity
  }
  interface FastifyInstance {
    /** The guard, and Miro outside a request: `as`, `getState`, `revoke`, `revokeAll` (shared storage only). */
    miro: AppMiro & {
      /** preHandler for routes that need a Miro login: redirects browsers to the login route, 401 JSON for API callers. */
      requireAuth: Guard
      /** Who a request is for, as `options.userId` says (default: the session id). */
      userIdOf: (request: FastifyRequest) => string | number | undefined | null
    }
  }
}

const plugin: FastifyPluginAsync<FastifyMiroOptions> = async (fastify, rawOptions) => {
  // 1. Options, checked once: a wrong one (or a second registration here) fails app.ready() with the fix in the message.
  assertNotRegistered(fastify)
  const options = resolveOptions(rawOptions)
  // 2. Where tokens live; fails when the plugin the backend needs is not registered.
  const storeFor = createStoreFactory(fastify, options)
  // 3. What all clients share: options, the refresh coordinator, a secret-free SDK logger.
  const refresher = new TokenRefresher(options, fastify.log)
  const context = { options, refresher, sdkLogger: createSdkLogger(fastify.log) }
  // Refreshes in flight finish, and pairs not stored yet get a last write, before the app stops.
  fastify.addHook('onClose', () => refresher.close())
  // 4. request.miro and request.miroApi(), lazily; inside a board, request.miroIdentity.
  decorateRequest(fastify, context, storeFor)
  if (options.identity === 'idToken') decorateIdentity(fastify, createIdTokenReader(options.clientId, options.clientSecret))
  // 5. app.miro: the guard, and Miro outside a request (jobs, webhooks) on the shared storage.
  fastify.decorate('miro', { requireAuth: createGuard(options, fastify.prefix), userIdOf: options.userId, ...createAppMiro(context, storeFor, fastify.log) })
  // 6. The login, callback and logout routes unless turned off; a shared store makes login states single-use across instances.
  if (options.routes !== false) registerRoutes(fastify, options, options.routes, storeFor.shared?.usedLogins)
}

export const fastifyMiro = fp(plugin, { fastify: '5.x', name: 'fastify-miro' })
export default fastifyMiro

export { MiroClient } from './lib/client'
export type { FastifyMiroOptions, FastifyMiroRedisOptions, FastifyMiroRoutesOptions, StorageChoice } from './lib/options'
export type { Guard } from './lib/routes'
export type { MiroTokenState } from './lib/state'
export type { MiroIdentity } from './lib/identity'
export type { AppMiro, RevokeAllQuery } from './lib/app-client'
export type { MiroLogin, OnLogin } from './lib/on-login'
export type { MiroTraceContext, MiroStorageErrorContext, MiroOperation } from './lib/diagnostics'
export type { EncryptionKey } from './lib/seal'
export { mapSessionStoreErrors, type SessionStoreLike } from './lib/session-store'
export {
  MiroOptionsError, MiroNotAuthorizedError, MiroTokenRevokedError, MiroCodeRejectedError, MiroMissingCodeError,
  MiroUnavailableError, MiroTokenRequestError, MiroTimeoutError, MiroStorageError, MiroRefreshBusyError,
  MiroNoUserIdError, MiroInvalidStateError, MiroAccessDeniedError, MiroInvalidIdTokenError, MiroInvalidReturnToError, MiroCrossSiteError,
  MiroSharedStorageRequiredError, MiroNotSupportedError, isLoggedOutError, type MiroError
} from './lib/errors'

// CommonJS: `require('fastify-miro')` is the plugin itself, with the named exports on it.
module.exports = Object.assign(fastifyMiro, module.exports)
