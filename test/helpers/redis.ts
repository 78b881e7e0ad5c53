// A real redis-server for the tests: REDIS_URL when set, otherwise a private redis-server from
// PATH on a free loopback port, persistence off. Processes are stopped when the test ends.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

export interface RedisServer {
  url: string
  /** The redis-server process's pid (undefined for a REDIS_URL server, or once stopped). */
  readonly pid: number | undefined
  /** SIGKILLs the server process (only for servers this helper started). */
  kill (): Promise<void>
  /** Starts it again on the same port, empty (persistence is off). */
  restart (): Promise<void>
  stop (): Promise<void>
}

export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

const HOW_TO_INSTALL = 'redis-server not found: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL to a Redis the tests may use'

function hasRedisServer (): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

/** Waits (at most `limitMs`) until the redis-server (or sentinel) at `url` answers PING. */
export async function waitUntilReady (url: string, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping() // answers -LOADING until an append-only file is read back
      probe.disconnect()
      return
    } catch (err) {
      probe.disconnect()
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
  }
}

/** SIGKILL, and wait until the process is gone (at once when it already is). */
export async function killProcess (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/**
 * Always a private server (needed by tests that kill it). `persistent`: an append-only file
 * synced on every write, in a temporary directory, so a SIGKILL loses nothing and restart()
 * brings every key back.
 */
export async function startPrivateRedis (opts: { persistent?: boolean } = {}): Promise<RedisServer> {
  if (!hasRedisServer()) throw new Error(HOW_TO_INSTALL)
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const dir = opts.persistent ? await mkdtemp(join(tmpdir(), 'fastify-miro-redis-')) : undefined
  const persistence = dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  let child: ChildProcess | undefined
  // Never leave a redis-server behind, even when the test process dies early.
  const killOnExit = (): void => { child?.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--protected-mode', 'no', ...persistence], { stdio: 'ignore' })
    await waitUntilReady(url)
  }
  const kill = async (): Promise<void> => {
    if (child !== undefined) await killProcess(child)
  }
  const stop = async (): Promise<void> => {
    await kill()
    process.off('exit', killOnExit)
    if (dir) await rm(dir, { recursive: true, force: true })
  }
  await start()
  return { url, get pid () { return child?.exitCode === null ? child.pid : undefined }, kill, restart: start, stop }
}

/** REDIS_URL when set, otherwise a private server. */
export async function startRedis (): Promise<RedisServer> {
  const url = process.env.REDIS_URL
  if (url) {
    const noop = async (): Promise<void> => {}
    const refuse = async (): Promise<void> => { throw new Error('cannot kill a REDIS_URL server') }
    return { url, pid: undefined, kill: refuse, restart: refuse, stop: noop }
  }
  return startPrivateRedis()
}
