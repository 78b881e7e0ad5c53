// The bench's Redis: the tests' redis-server (REDIS_URL when set, otherwise a private one,
// persistence off, on a free loopback port), plus a connection of the bench's own and the
// server's CPU time.
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { startPrivateRedis, startRedis } from '../test/helpers/redis'

export interface BenchRedis {
  url: string
  /** A connection of the orchestrator's own (seeding, CLIENT LIST). */
  client: Redis
  /** CPU seconds used by redis-server so far; undefined for a REDIS_URL server. */
  cpuSeconds (): number | undefined
  stop (): Promise<void>
}

/** utime + stime of a process from /proc (Linux), in seconds. */
function procCpuSeconds (pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat(5); the slice starts at field 3. Clock ticks are 100 Hz on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/** `privately`: a redis-server of its own even when REDIS_URL is set (a second Redis beside the bench's). */
export async function startBenchRedis (opts: { privately?: boolean } = {}): Promise<BenchRedis> {
  const server = opts.privately === true ? await startPrivateRedis() : await startRedis()
  const client = new Redis(server.url, { maxRetriesPerRequest: 0 })
  try {
    await client.ping()
  } catch (err) {
    client.disconnect()
    await server.stop()
    throw err
  }
  return {
    url: server.url,
    client,
    cpuSeconds: () => procCpuSeconds(server.pid),
    async stop () {
      client.disconnect()
      await server.stop()
    }
  }
}

/** Connected clients, the orchestrator's own connection excluded. */
export async function clientCount (redis: BenchRedis): Promise<number> {
  const list = await redis.client.client('LIST') as string
  return list.split('\n').filter((line) => line.trim() !== '').length - 1
}
