// The sandbox's HTTP side as a Fastify app (Fastify is a peer dependency already). It serves
// some sixty Miro operations: route schemas taken from Miro's own OpenAPI document (spec/) give
// request validation and Miro-shaped 400s from one source, instead of a hand `switch` over
// node:http with hand-written body readers and checks per endpoint (what it was before).
// Responses are plain JSON.stringify on purpose: a serializer built from the same schemas would
// quietly drop or coerce what a handler got wrong, and the contract test (test/sandbox-contract)
// checks every answer against the spec instead.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { decide, showConsent } from './authorize'
import { createBoard, getBoard, listBoards } from './boards'
import { registerFaults } from './faults'
import { HttpStatusError, miroError } from './http'
import { registerBoardPage } from './board-page'
import { appCards } from './items/app-cards'
import { cards } from './items/cards'
import { registerConnectors } from './items/connectors'
import { documents } from './items/documents'
import { embeds } from './items/embeds'
import { frames } from './items/frames'
import { images } from './items/images'
import { registerItems } from './items/items'
import { registerItemKind } from './items/plumbing'
import { shapes } from './items/shapes'
import { stickyNotes } from './items/sticky-notes'
import { registerTags } from './items/tags'
import { texts } from './items/texts'
import { revoke, revokeBodyError, revokeV1, token, tokenInfo } from './oauth'
import { componentsSchema, routeSchema } from './spec/index'
import type { Context } from './state'
import { registerUploads } from './uploads'

const BODY_LIMIT = 1024 * 1024

export function buildApp (ctx: Context): FastifyInstance {
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    // close() ends keep-alive sockets too, so nothing holds up a test's teardown.
    forceCloseConnections: true,
    ajv: {
      customOptions: {
        // The spec is OpenAPI 3.0: `example`, `nullable`, `x-…` and Miro's string "maximum"s are not strict JSON Schema.
        strict: false,
        formats: { int64: /^-?\d+$/, int32: true, double: true }
      }
    }
  })
  app.addSchema(componentsSchema())
  app.addSchema(componentsSchema(true))
  // Forms (consent page, token endpoint) as a flat record; other bodies reach the handler as text.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => { done(null, body) })
  app.setErrorHandler((err: FastifyError, _req, res) => {
    if (err instanceof HttpStatusError) return res.code(err.status).send(miroError(err.status, err.code, err.message))
    if (err.validation) {
      // e.g. "body/style/fillColor must be equal to one of the allowed values"
      const notJson = err.validationContext === 'body' && typeof _req.body !== 'object'
      return res.code(400).send(notJson
        ? miroError(400, 'invalidBody', 'Request body must be a JSON object')
        : miroError(400, 'invalidParameters', err.message))
    }
    if (err.statusCode === 413) return res.code(413).send(miroError(413, 'payloadTooLarge', 'Request body is larger than 1 MB'))
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return res.code(400).send(miroError(400, 'invalidBody', 'Request body must be a JSON object'))
    }
    return res.code(500).send(miroError(500, 'internalError', 'The sandbox failed to handle the request'))
  })
  app.setNotFoundHandler((req, res) => {
    const path = new URL(req.url, 'http://sandbox').pathname
    return res.code(404).send(miroError(404, 'notFound', `${req.method} ${path} is not part of the Miro sandbox`))
  })
  registerFaults(app, ctx)

  // OAuth: consent page, token endpoint, revoke, token info.
  app.get('/oauth/authorize', (req, res) => showConsent(ctx, req, res))
  app.post('/oauth/authorize', (req, res) => decide(ctx, req, res))
  app.post('/v1/oauth/token', (req, res) => token(ctx, req, res))
  app.post('/v2/oauth/revoke', { errorHandler: (err, req, res) => revokeBodyError(err, req, res, ctx) }, (req, res) => revoke(ctx, req, res))
  app.post('/v1/oauth/revoke', (req, res) => revokeV1(ctx, req, res))
  app.get('/v1/oauth-token', (req, res) => tokenInfo(ctx, req, res))

  // Boards and what is on them.
  app.get('/v2/boards', { schema: routeSchema('get-boards') }, (req, res) => listBoards(ctx, req, res))
  app.post('/v2/boards', { schema: routeSchema('create-board') }, (req, res) => createBoard(ctx, req, res))
  app.get<{ Params: { board_id: string } }>('/v2/boards/:board_id', (req, res) => getBoard(ctx, req, res))
  registerItems(app, ctx)
  for (const kind of [stickyNotes, shapes, texts, cards, appCards, frames, images, documents, embeds]) registerItemKind(app, ctx, kind)
  registerConnectors(app, ctx)
  registerTags(app, ctx)
  registerUploads(app, ctx)

  // What a person sees: the board page the API's viewLink points at.
  registerBoardPage(app, ctx)
  return app
}
