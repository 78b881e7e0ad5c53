// Scenario 7, the soak: N requests through scenario 3 (fastify-miro isAuthorized on Redis);
// heap after forced GCs, Redis connections (CLIENT LIST) and the child's active handles,
// before and after.
import { setTimeout as sleep } from 'node:timers/promises'
import { ServerChild } from './child'
import { runLoad } from './load'
import type { BenchEnv } from './measure'
import type { HeapSample } from './protocol'
import { clientCount } from './redis'
import { SOAK_SERVER } from './scenarios'

export interface SoakResult {
  requests: number
  failures: number
  rps: number
  heapBefore: number
  heapAfter: number
  redisClientsBefore: number
  redisClientsAfter: number
  resourcesBefore: Record<string, number>
  resourcesAfter: Record<string, number>
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0)

/** After a load, the server's side of the closed connections goes away: wait until stable. */
async function settled (server: ServerChild): Promise<HeapSample> {
  let last = await server.heap()
  for (let i = 0; i < 15; i++) {
    await sleep(200)
    const next = await server.heap()
    if (total(next.resources) === total(last.resources)) return next
    last = next
  }
  return last
}

export async function runSoak (env: BenchEnv): Promise<SoakResult> {
  const { settings } = env
  env.log(`\nSoak: ${settings.soakRequests} requests through ${SOAK_SERVER}`)
  const server = await ServerChild.start(SOAK_SERVER, env.config, { execArgv: ['--expose-gc'], cpus: env.serverCpus })
  try {
    await runLoad(server, { connections: settings.connections, amount: settings.soakWarmupRequests })
    const before = await settled(server)
    const redisClientsBefore = await clientCount(env.redis)
    const run = await runLoad(server, { connections: settings.connections, amount: settings.soakRequests })
    const after = await settled(server)
    const redisClientsAfter = await clientCount(env.redis)
    const result: SoakResult = {
      requests: run.requests,
      failures: run.failures,
      rps: run.rps,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      redisClientsBefore,
      redisClientsAfter,
      resourcesBefore: before.resources,
      resourcesAfter: after.resources
    }
    env.log(`  heap ${(before.heapUsed / 1048576).toFixed(2)} → ${(after.heapUsed / 1048576).toFixed(2)} MB, ` +
      `redis clients ${redisClientsBefore} → ${redisClientsAfter}, handles ${total(before.resources)} → ${total(after.resources)}`)
    return result
  } finally {
    await server.stop()
  }
}
