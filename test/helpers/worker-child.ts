// A background worker in a process of its own: an app that never listens, using app.miro.as()
// the way a queue worker or a nightly job does. argv[2]: { redisUrl, miro: MiroEndpoint } as
// JSON. Prints "READY" once the plugin is loaded; then each stdin line `{"user":…,"calls":n}`
// runs n board listings as that user in parallel and prints "DONE <json>" with their outcomes.
// Exits when its stdin closes, so it never outlives the test process that started it.
import { createInterface } from 'node:readline'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import fastifyMiro from '../../index'
import { REDIRECT_URL, boardNames } from './app'
import type { MiroEndpoint } from './fault-app'

interface WorkerOptions { redisUrl: string, miro: MiroEndpoint }

async function main (): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '') as WorkerOptions
  const app = Fastify()
  await app.register(fastifyRedis, { url: opts.redisUrl })
  await app.register(fastifyMiro, {
    clientId: opts.miro.clientId,
    clientSecret: opts.miro.clientSecret,
    redirectUrl: REDIRECT_URL,
    basePath: opts.miro.url,
    storage: 'redis',
    routes: false,
    userId: () => undefined
  })
  await app.ready()
  process.stdout.write('READY\n')
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    const { user, calls } = JSON.parse(line) as { user: string, calls: number }
    const runs = Array.from({ length: calls }, () => boardNames(app.miro.as(user)).then(
      (names) => ({ ok: true, names }),
      (err: { code?: string }) => ({ ok: false, code: err.code ?? 'unknown' })))
    Promise.all(runs).then((outcomes) => { process.stdout.write('DONE ' + JSON.stringify(outcomes) + '\n') }, () => {})
  })
  lines.on('close', () => { app.close().finally(() => process.exit(0)) })
}

main().catch((err: unknown) => {
  process.stderr.write(`worker child failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
