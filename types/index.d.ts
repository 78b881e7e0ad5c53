// The types of `require('fastify-miro')` as it runs: `module.exports` is the plugin, with the
// named exports on it (index.ts). `export =` plus a namespace, as the @fastify/* plugins declare
// it, so a default import, a named import, `require()` and `import x = require()` all see the
// plugin from ESM and CommonJS alike. dist/index.d.ts (emitted from index.ts) holds the rest.
import type { FastifyPluginAsync } from 'fastify'
import * as api from '../dist/index'

type FastifyMiroPlugin = FastifyPluginAsync<api.FastifyMiroOptions>

declare function fastifyMiro (...params: Parameters<FastifyMiroPlugin>): ReturnType<FastifyMiroPlugin>

declare namespace fastifyMiro {
  export type FastifyMiroOptions = api.FastifyMiroOptions
  export type FastifyMiroRedisOptions = api.FastifyMiroRedisOptions
  export type FastifyMiroRoutesOptions = api.FastifyMiroRoutesOptions
  export type StorageChoice = api.StorageChoice
  export type Guard = api.Guard
  export type MiroTokenState = api.MiroTokenState
  export type MiroIdentity = api.MiroIdentity
  export type EncryptionKey = api.EncryptionKey
  export type SessionStoreLike = api.SessionStoreLike
  export type MiroError = api.MiroError
  export type AppMiro = api.AppMiro
  export type RevokeAllQuery = api.RevokeAllQuery
  export type MiroLogin = api.MiroLogin
  export type OnLogin = api.OnLogin
  export type MiroTraceContext = api.MiroTraceContext
  export type MiroStorageErrorContext = api.MiroStorageErrorContext
  export type MiroOperation = api.MiroOperation

  export import MiroClient = api.MiroClient
  export import mapSessionStoreErrors = api.mapSessionStoreErrors
  export import isLoggedOutError = api.isLoggedOutError
  export import MiroOptionsError = api.MiroOptionsError
  export import MiroNotAuthorizedError = api.MiroNotAuthorizedError
  export import MiroTokenRevokedError = api.MiroTokenRevokedError
  export import MiroCodeRejectedError = api.MiroCodeRejectedError
  export import MiroMissingCodeError = api.MiroMissingCodeError
  export import MiroUnavailableError = api.MiroUnavailableError
  export import MiroTokenRequestError = api.MiroTokenRequestError
  export import MiroTimeoutError = api.MiroTimeoutError
  export import MiroStorageError = api.MiroStorageError
  export import MiroRefreshBusyError = api.MiroRefreshBusyError
  export import MiroNoUserIdError = api.MiroNoUserIdError
  export import MiroInvalidStateError = api.MiroInvalidStateError
  export import MiroAccessDeniedError = api.MiroAccessDeniedError
  export import MiroInvalidIdTokenError = api.MiroInvalidIdTokenError
  export import MiroInvalidReturnToError = api.MiroInvalidReturnToError
  export import MiroSharedStorageRequiredError = api.MiroSharedStorageRequiredError
  export import MiroNotSupportedError = api.MiroNotSupportedError
  export import MiroCrossSiteError = api.MiroCrossSiteError

  export const fastifyMiro: FastifyMiroPlugin
  export { fastifyMiro as default }
}

export = fastifyMiro
