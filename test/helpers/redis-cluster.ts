// A real Redis Cluster for the tests: three masters (no replicas) from redis-server on free
// loopback ports, joined with `redis-cli --cluster create`, persistence off. Each node can be
// paused (SIGSTOP) and resumed by pid; all are killed when the test ends.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, killProcess, waitUntilReady } from './redis'

export interface ClusterNode { port: number, pid: number }

export interface RedisCluster {
  nodes: ClusterNode[]
  /** The master serving `key`'s slot. */
  nodeOf (key: string): Promise<ClusterNode>
  /** Waits (at most `ms`) until the node on `port` reports `cluster_state:<state>`. */
  waitForState (port: number, state: 'ok' | 'fail', ms?: number): Promise<void>
  stop (): Promise<void>
}

export interface RedisClusterOptions {
  /** cluster-node-timeout: how long until the others mark a silent master failed. Default Redis's 15 000. */
  nodeTimeoutMs?: number
  /** cluster-require-full-coverage: whether the whole cluster refuses once a slot is unserved. Default Redis's true. */
  requireFullCoverage?: boolean
}

export async function startRedisCluster (opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-miro-cluster-'))
  const children: ChildProcess[] = []
  const killAll = (): void => { for (const c of children) c.kill('SIGKILL') }
  process.once('exit', killAll)
  const nodes: ClusterNode[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
      '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 15_000),
      '--cluster-require-full-coverage', opts.requireFullCoverage === false ? 'no' : 'yes'
    ], { stdio: 'ignore' })
    children.push(child)
    nodes.push({ port, pid: child.pid as number })
  }
  for (const { port } of nodes) await waitUntilReady(`redis://127.0.0.1:${port}`, 10_000)
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
  if (created.status !== 0) throw new Error('redis-cli --cluster create failed: ' + created.stdout + created.stderr)
  // Every node must agree that all slots are served before a client can rely on it.
  const deadline = Date.now() + 15_000
  for (const { port } of nodes) {
    for (;;) {
      const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout
      if (info.includes('cluster_state:ok')) break
      if (Date.now() > deadline) throw new Error('the cluster did not come up: ' + info)
      await sleep(50)
    }
  }
  return {
    nodes,
    async waitForState (port, state, ms = 10_000) {
      const until = Date.now() + ms
      for (;;) {
        const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout
        if (info.includes(`cluster_state:${state}`)) return
        if (Date.now() > until) throw new Error(`node ${port} did not reach cluster_state:${state} in ${ms} ms`)
        await sleep(50)
      }
    },
    async nodeOf (key) {
      const slot = Number(spawnSync('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'keyslot', key], { encoding: 'utf8' }).stdout.trim())
      const shards = spawnSync('redis-cli', ['-p', String(nodes[0]!.port), '--json', 'cluster', 'slots'], { encoding: 'utf8' }).stdout
      const ranges = JSON.parse(shards) as Array<[number, number, [string, number, ...unknown[]]]>
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      const node = nodes.find((n) => n.port === range?.[2][1])
      if (node === undefined) throw new Error(`no master serves slot ${slot}`)
      return node
    },
    async stop () {
      for (const { pid } of nodes) {
        try { process.kill(pid, 'SIGCONT') } catch {}
      }
      await Promise.all(children.map(killProcess))
      process.off('exit', killAll)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
