import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { Miro, MiroApi } from '@mirohq/miro-api'
import fastifyMiro, { fastifyMiro as named, MiroClient, MiroNotAuthorizedError, type FastifyMiroOptions, type MiroIdentity, type MiroTokenState } from '../../index'

const app = Fastify()

test('the default and named exports are the same plugin', () => {
  expect(named).type.toBe(fastifyMiro)
})

test('request.miro is a typed Miro client', () => {
  app.get('/', async (request) => {
    expect(request.miro).type.toBe<MiroClient>()
    expect(request.miro).type.toBeAssignableTo<Miro>()
    expect(request.miro.isAuthorized('id')).type.toBe<Promise<boolean>>()
    expect(request.miro.getState('id')).type.toBe<Promise<MiroTokenState | undefined>>()
    return 'ok'
  })
})

test('the request also knows its user: miroApi() and, inside a board, miroIdentity', () => {
  app.get('/board', { preHandler: app.miro.requireAuth }, async (request) => {
    expect(request.miroApi()).type.toBe<MiroApi>()
    expect(request.miroIdentity).type.toBe<MiroIdentity>()
    expect(request.miroIdentity.teamId).type.toBe<string>()
    return 'ok'
  })
})

test('valid options compile', () => {
  expect(app.register(fastifyMiro, { identity: 'idToken', state: false, routes: { loginPath: '/login', failureRedirect: '/oops' } })).type.not.toRaiseError()
  expect(app.register(fastifyMiro, {
    clientId: 'id',
    clientSecret: 'secret',
    redirectUrl: 'http://localhost/cb',
    storage: 'redis',
    redis: { namespace: 'n', keyPrefix: 'p:', ttl: 60 },
    sessionKey: 'miro',
    userId: (request) => request.id,
    basePath: 'http://127.0.0.1:1',
    httpTimeout: 1000,
    storageTimeout: 1500
  })).type.not.toRaiseError()
  expect(app.register(fastifyMiro, { storage: { get: async () => undefined, set: () => {} } })).type.not.toRaiseError()
  expect(app.register(fastifyMiro)).type.not.toRaiseError()
})

test('wrong options do not compile', () => {
  expect(app.register(fastifyMiro, { storage: 'mongo' })).type.toRaiseError()
  expect(app.register(fastifyMiro, { clientId: 42 })).type.toRaiseError()
  expect(app.register(fastifyMiro, { redis: { ttl: '60' } })).type.toRaiseError()
  expect(app.register(fastifyMiro, { userId: 'sessionId' })).type.toRaiseError()
  expect(app.register(fastifyMiro, { storage: { get: () => 1 } })).type.toRaiseError()
  expect(app.register(fastifyMiro, { unknownOption: true })).type.toRaiseError()
  expect(app.register(fastifyMiro, { identity: 'cookie' })).type.toRaiseError()
  expect(app.register(fastifyMiro, { routes: { loginPath: 1 } })).type.toRaiseError()
  expect(app.register(fastifyMiro, { state: 'off' })).type.toRaiseError()
  expect(app.register(fastifyMiro, { storageTimeout: '1.5s' })).type.toRaiseError()
})

test('options are one exported interface', () => {
  expect<FastifyMiroOptions['storageTimeout']>().type.toBe<number | undefined>()
  expect<FastifyMiroOptions['storage']>().type.toBe<'session' | 'redis' | 'memory' | import('@mirohq/miro-api/dist/storage').Storage | undefined>()
})

test('errors are classes with codes', () => {
  const err = new MiroNotAuthorizedError()
  expect(err.code).type.toBe<'FST_MIRO_NOT_AUTHORIZED'>()
  expect(err.statusCode).type.toBe<401>()
})
