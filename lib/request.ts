// `request.miro`: built on first read and cached on the request, so a route that never
// touches it pays for one null field and nothing else. `request.miroApi()`: its API as the
// request's own user.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { MiroApi } from '@mirohq/miro-api'
import { MiroClient, type ClientContext } from './client'
import { MiroOptionsError } from './errors'
import type { StoreFor } from './storage'

const kClient = Symbol('fastify-miro.client')

interface WithClient { [kClient]: MiroClient | null }

/**
 * One Miro app per encapsulation context: `request.miro` can only be one client. Checked before
 * anything is decorated, so a second registration names the fix instead of Fastify's
 * FST_ERR_DEC_ALREADY_PRESENT about an internal symbol.
 */
export function assertNotRegistered (fastify: FastifyInstance): void {
  if (!fastify.hasRequestDecorator('miro')) return
  throw new MiroOptionsError('fastify-miro is already registered in this context (or a parent of it), and request.miro can be only one Miro app. ' +
    'To serve a second Miro app, register each one in its own encapsulated context, none inside the other: ' +
    "app.register(async (child) => { await child.register(fastifyMiro, { ...secondApp }); child.get('/other', …) }, { prefix: '/other' })")
}

export function decorateRequest (fastify: FastifyInstance, context: ClientContext, storeFor: StoreFor): void {
  fastify.decorateRequest(kClient, null)
  fastify.decorateRequest('miro', {
    getter (this: FastifyRequest): MiroClient {
      const self = this as FastifyRequest & WithClient
      // On the session backend a client serves this request's own user only (see MiroClient.as).
      return (self[kClient] ??= new MiroClient(context, storeFor(this), this.log, storeFor.shared === undefined ? this : undefined))
    }
  })
  // The API as the user of this request, without the route naming them.
  const userIdOf = context.options.userId
  fastify.decorateRequest('miroApi', function (this: FastifyRequest): MiroApi {
    return this.miro.as(userIdOf(this) as string)
  })
}
