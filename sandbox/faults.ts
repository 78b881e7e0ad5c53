// Failure injection for the REST endpoints (the token endpoint has its own, with answer-late).
import type { FastifyInstance } from 'fastify'
import { HttpStatusError } from './http'
import { sleep } from './oauth'
import type { Context } from './state'
import type { EndpointFault } from './types'

/** 'POST /v2/boards/{board_id}/sticky_notes' or '…/:board_id/…': both name the same route. */
export function routeKey (endpoint: string): string {
  const match = /^(GET|POST|PATCH|PUT|DELETE)\s+(\/\S*)$/.exec(endpoint.trim())
  if (!match) throw new TypeError(`failEndpoint: name the endpoint as 'METHOD /path', e.g. 'GET /v2/boards/{board_id}/items', got ${JSON.stringify(endpoint)}`)
  return `${match[1]} ${(match[2] ?? '').replace(/\{([^}]+)\}/g, ':$1')}`
}

export function checkEndpointFault (key: string, fault: EndpointFault, known: Set<string>): void {
  if (key === 'POST /v1/oauth/token') throw new TypeError('failEndpoint: the token endpoint has failTokenEndpoint (with answerDelayMs)')
  if (!known.has(key)) throw new TypeError(`failEndpoint: the sandbox serves no ${key}`)
  if (fault.status === undefined && fault.delayMs === undefined) throw new TypeError('failEndpoint: give status, delayMs or both (or null to reset)')
  if (fault.status !== undefined && !(Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599)) {
    throw new TypeError('failEndpoint: status should be an HTTP error status from 400 to 599')
  }
  if (fault.delayMs !== undefined && !(Number.isFinite(fault.delayMs) && fault.delayMs >= 0)) {
    throw new TypeError('failEndpoint: delayMs should be a number of milliseconds, 0 or more')
  }
  if (fault.times !== undefined && !(fault.times === Infinity || (Number.isInteger(fault.times) && fault.times > 0))) {
    throw new TypeError('failEndpoint: times should be a positive whole number (or leave it out for every call)')
  }
}

export function registerFaults (app: FastifyInstance, ctx: Context): void {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') ctx.routes.add(`${method} ${route.url}`)
  })
  app.addHook('onRequest', async (req) => {
    const fault = ctx.endpointFaults.get(`${req.method} ${req.routeOptions.url ?? ''}`)
    if (!fault) return
    fault.remaining -= 1
    if (fault.remaining <= 0) ctx.endpointFaults.delete(`${req.method} ${req.routeOptions.url ?? ''}`)
    if (fault.delayMs) await sleep(ctx, fault.delayMs)
    if (fault.status) {
      const code = fault.status === 429 ? 'tooManyRequests' : fault.status >= 500 ? 'internalError' : 'injectedFailure'
      throw new HttpStatusError(fault.status, code, `Injected failure (HTTP ${fault.status})`)
    }
  })
}
