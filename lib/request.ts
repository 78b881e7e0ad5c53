// `request.miro`: built on first read and cached on the request, so a route that never
// touches it pays for one null field and nothing else. `request.miroApi()`: its API as the
// request's own user.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { MiroApi } from '@mirohq/miro-api'
import { MiroClient, type ClientContext } from './client'
import type { StoreFor } from './storage'

const kClient = Symbol('fastify-miro.client')

interface WithClient { [kClient]: MiroClient | null }

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
