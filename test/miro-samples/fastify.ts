// Miro's sample app apps/fastify/fastify.js, on fastify-miro: a user id per browser in a cookie,
// the OAuth callback, and "/" answering the user's first board (or sending them to log in).
//
// Ported from https://github.com/miroapp/api-clients (commit 3a2506b647611ee729a55b4d99e5d0dc71cc694c),
// MIT License, Copyright (c) 2022 Miro. The permission notice of that license applies to this
// port: Permission is hereby granted, free of charge, to any person obtaining a copy of this
// software and associated documentation files (the "Software"), to deal in the Software without
// restriction, including without limitation the rights to use, copy, modify, merge, publish,
// distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
// Software is furnished to do so, subject to the following conditions: The above copyright notice
// and this permission notice shall be included in all copies or substantial portions of the
// Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
// INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
// PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR
// ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
// ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
// SOFTWARE.
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifyMiro from '../../index'

export interface SampleMiro { clientId: string, clientSecret: string, redirectUrl: string, basePath: string }

export async function buildFastifySample (miro: SampleMiro): Promise<FastifyInstance> {
  const app = Fastify()
  // The original registers the cookie plugin without a secret; fastify-miro signs its login-state
  // cookie (there is no session here), so it needs one.
  await app.register(fastifyCookie, { secret: 'sample-cookie-secret-of-at-least-32-chars' })

  // Generate user ids for new sessions
  app.addHook('preHandler', (request, reply, next) => {
    if (!request.cookies.userId) {
      const userId = String(Math.random())
      reply.setCookie('userId', userId, { path: '/' })
      request.cookies.userId = userId
    }
    next()
  })

  // The original's GET /auth/miro/callback (exchangeCodeForAccessToken, then redirect to /) is
  // the plugin's callback route here, with a state check the original does not make.
  await app.register(fastifyMiro, {
    ...miro,
    storage: 'memory',
    userId: (request) => request.cookies.userId,
    routes: { successRedirect: '/' }
  })

  app.get('/', async (req, reply) => {
    const userId = req.cookies.userId as string
    // If user did not authorize the app, then redirect them to auth url (the plugin's login route, which adds a state)
    if (!await req.miro.isAuthorized(userId)) {
      return reply.redirect('/auth/miro')
    }

    // Initialize the API for the current user
    const api = req.miro.as(userId)

    // Print the info of the first board
    // eslint-disable-next-line no-unreachable-loop -- the original's way of taking the first board
    for await (const board of api.getAllBoards()) {
      return board
    }
    return null
  })
  return app
}
