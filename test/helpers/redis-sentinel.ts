// A real Redis Sentinel topology for the tests: one master, `replicas` replicas and `sentinels`
// sentinels (quorum 1), all redis-server processes on free loopback ports in a temporary
// directory, persistence off. Short timings (down after 500 ms, failover timeout 2 s) so that a
// failover completes in about a second. Nodes can be killed (SIGKILL), paused (SIGSTOP) and
// resumed by pid, or a failover forced with SENTINEL FAILOVER; every process is killed when the
// test ends, and on process exit.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort, killProcess, waitUntilReady } from './redis'

export const MASTER_NAME = 'miro-master'
export const DOWN_AFTER_MS = 500

export interface SentinelNode { port: number, pid: number }

export interface SentinelTopology {
  /** The master's name for `new Redis({ sentinels, name })`. */
  readonly name: string
  readonly sentinels: Array<{ host: string, port: number }>
  /** Data nodes (master first, as started), and the sentinel processes. */
  readonly nodes: SentinelNode[]
  readonly sentinelNodes: SentinelNode[]
  /** The master the sentinels name now. */
  master (): Promise<SentinelNode>
  /** Forces a failover (SENTINEL FAILOVER): the old master stays up and is turned into a replica. */
  failover (): Promise<void>
  /** Waits until the sentinels name a master other than `old`, and it answers as one. */
  waitForNewMaster (old: SentinelNode, limitMs?: number): Promise<SentinelNode>
  /**
   * What Sentinel does to an old master that still claims the role, about 10 s after the
   * failover (it waits 4 × its 2 s publish period after seeing it, and polls every 1–10 s):
   * REPLICAOF the new master and CLIENT KILL TYPE normal, in one MULTI. Done at once, so a
   * test does not wait those 10 s; the old master discards what it took since the promotion.
   */
  demote (old: SentinelNode, to: SentinelNode): Promise<void>
  /** Waits until the current master has at least `count` replicas online and caught up. */
  waitForReplicas (count: number, limitMs?: number): Promise<void>
  /** SIGKILL a node, and wait until it is gone. */
  kill (node: SentinelNode): Promise<void>
  /** SIGSTOP: the node stops answering, its connections stay open. */
  pause (node: SentinelNode): void
  resume (node: SentinelNode): void
  /** Our own connection to a node (closed at stop). */
  connect (node: SentinelNode): Redis
  stop (): Promise<void>
}

const BASE = ['--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']

const waitForPing = (port: number): Promise<void> => waitUntilReady(`redis://127.0.0.1:${port}`, 10_000)

export async function startRedisSentinel (opts: { replicas?: number, sentinels?: number } = {}): Promise<SentinelTopology> {
  const replicas = opts.replicas ?? 1
  const sentinelCount = opts.sentinels ?? 1
  const dir = await mkdtemp(join(tmpdir(), 'fastify-miro-sentinel-'))
  const children = new Map<number, ChildProcess>()
  const killAll = (): void => { for (const c of children.values()) c.kill('SIGKILL') }
  process.once('exit', killAll)
  const clients: Redis[] = []
  const start = (args: string[]): SentinelNode => {
    const child = spawn('redis-server', args, { stdio: 'ignore' })
    children.set(child.pid as number, child)
    return { port: Number(args[args.indexOf('--port') + 1] ?? args[1]), pid: child.pid as number }
  }
  const nodes: SentinelNode[] = []
  const masterPort = await freePort()
  nodes.push(start(['--port', String(masterPort), '--dir', dir, ...BASE]))
  await waitForPing(masterPort)
  for (let i = 0; i < replicas; i++) {
    const port = await freePort()
    nodes.push(start(['--port', String(port), '--dir', dir, ...BASE, '--replicaof', '127.0.0.1', String(masterPort)]))
    await waitForPing(port)
  }
  const sentinelNodes: SentinelNode[] = []
  for (let i = 0; i < sentinelCount; i++) {
    const port = await freePort()
    // Sentinel rewrites its configuration file: one writable file each.
    const conf = join(dir, `sentinel-${port}.conf`)
    await writeFile(conf, [
      `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${MASTER_NAME} 2000`,
      `sentinel parallel-syncs ${MASTER_NAME} ${Math.max(1, replicas)}`
    ].join('\n') + '\n')
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
    children.set(child.pid as number, child)
    sentinelNodes.push({ port, pid: child.pid as number })
    await waitForPing(port)
  }
  const connect = (node: SentinelNode): Redis => {
    const client = new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    client.on('error', () => {})
    clients.push(client)
    return client
  }
  const sentinelClient = connect(sentinelNodes[0] as SentinelNode)
  const byPort = (port: number): SentinelNode => {
    const node = nodes.find((n) => n.port === port)
    if (node === undefined) throw new Error(`no node on port ${port}`)
    return node
  }
  const master = async (): Promise<SentinelNode> => {
    const [, port] = await sentinelClient.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as [string, string]
    return byPort(Number(port))
  }
  const infoOf = async (node: SentinelNode, section: string): Promise<string> => {
    const probe = new Redis(node.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 500 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      return await probe.info(section)
    } catch {
      return ''
    } finally {
      probe.disconnect()
    }
  }
  const topology: SentinelTopology = {
    name: MASTER_NAME,
    sentinels: sentinelNodes.map((s) => ({ host: '127.0.0.1', port: s.port })),
    nodes,
    sentinelNodes,
    master,
    async failover () {
      // Refused while the sentinel has not yet seen the replicas (INFO every 10 s at first, on
      // start at once): retried for a few seconds.
      const deadline = Date.now() + 10_000
      for (;;) {
        try {
          await sentinelClient.call('SENTINEL', 'FAILOVER', MASTER_NAME)
          return
        } catch (err) {
          if (Date.now() > deadline) throw err
          await sleep(100)
        }
      }
    },
    async waitForNewMaster (old, limitMs = 15_000) {
      const deadline = Date.now() + limitMs
      for (;;) {
        const now = await master().catch(() => old)
        if (now.port !== old.port && (await infoOf(now, 'replication')).includes('role:master')) return now
        if (Date.now() > deadline) throw new Error('no new master within ' + limitMs + ' ms')
        await sleep(50)
      }
    },
    async demote (old, to) {
      const client = new Redis(old.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.multi().call('REPLICAOF', '127.0.0.1', String(to.port)).call('CLIENT', 'KILL', 'TYPE', 'normal').exec()
      } finally {
        client.disconnect()
      }
    },
    async waitForReplicas (count, limitMs = 15_000) {
      const deadline = Date.now() + limitMs
      for (;;) {
        const info = await infoOf(await master(), 'replication')
        const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? -1)
        const online = [...info.matchAll(/slave\d+:.*state=online,offset=(\d+)/g)].filter((m) => Number(m[1]) >= offset - 1000)
        if (info.includes('role:master') && online.length >= count) return
        if (Date.now() > deadline) throw new Error(`fewer than ${count} replicas online within ${limitMs} ms: ${info}`)
        await sleep(50)
      }
    },
    async kill (node) {
      const child = children.get(node.pid)
      if (child !== undefined) await killProcess(child)
    },
    pause (node) { process.kill(node.pid, 'SIGSTOP') },
    resume (node) { process.kill(node.pid, 'SIGCONT') },
    connect,
    async stop () {
      for (const client of clients) client.disconnect()
      for (const pid of children.keys()) {
        try { process.kill(pid, 'SIGCONT') } catch {}
      }
      await Promise.all([...children.values()].map(killProcess))
      process.off('exit', killAll)
      await rm(dir, { recursive: true, force: true })
    }
  }
  try {
    await topology.waitForReplicas(replicas)
    // The sentinel learns of the replicas from the master's INFO; a failover needs them known.
    const deadline = Date.now() + 15_000
    for (;;) {
      const known = await sentinelClient.call('SENTINEL', 'REPLICAS', MASTER_NAME) as unknown[]
      if (known.length >= replicas) break
      if (Date.now() > deadline) throw new Error('the sentinel did not discover the replicas')
      await sleep(50)
    }
  } catch (err) {
    await topology.stop()
    throw err
  }
  return topology
}
