// The bench's Redis: REDIS_URL when set, otherwise a private redis-server (persistence off) on
// a free loopback port, stopped at the end. Same approach as test/helpers/redis.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

export interface BenchRedis {
  url: string
  /** A connection of the orchestrator's own (seeding, CLIENT LIST). */
  client: Redis
  /** CPU seconds used by redis-server so far; undefined for a REDIS_URL server. */
  cpuSeconds (): number | undefined
  stop (): Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

async function connectWhenReady (url: string): Promise<Redis> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.ping()
      return client
    } catch (err) {
      client.disconnect()
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
  }
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

export async function startBenchRedis (): Promise<BenchRedis> {
  const given = process.env.REDIS_URL
  if (given) {
    const client = await connectWhenReady(given)
    return { url: given, client, cpuSeconds: () => undefined, stop: async () => { client.disconnect() } }
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('redis-server not found: install it (apt-get install -y redis-server) or set REDIS_URL')
  }
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const child: ChildProcess = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'
  ], { stdio: 'ignore' })
  const client = await connectWhenReady(url)
  return {
    url,
    client,
    cpuSeconds: () => procCpuSeconds(child.pid),
    async stop () {
      client.disconnect()
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  }
}

/** Connected clients, the orchestrator's own connection excluded. */
export async function clientCount (redis: BenchRedis): Promise<number> {
  const list = await redis.client.client('LIST') as string
  return list.split('\n').filter((line) => line.trim() !== '').length - 1
}
