// On a real Redis Cluster (three masters), a stalled master fails its own commands at the time
// limit, and only those: the stall breaker of a single connection (lib/storage/redis.ts) stays
// off for a Cluster client, so commands for keys on the healthy masters go on at once.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisCommands, type RedisClient } from '../lib/storage/redis'
import { startRedisCluster } from './helpers/redis-cluster'

t.test('a stalled master of a Cluster fails its own commands, the others are unaffected', async (t) => {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.stop())
  const client = new Redis.Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  await client.set('warm-up', '1') // connected to every master once the slots are known
  const keys = Array.from({ length: 60 }, (_, i) => `cluster-key-${i}`)
  for (const key of keys) await client.set(key, key)
  const owner = new Map<string, number>()
  for (const key of keys) owner.set(key, (await cluster.nodeOf(key)).port)
  const stalled = cluster.nodes[0]!
  const onStalled = keys.filter((k) => owner.get(k) === stalled.port)
  const elsewhere = keys.filter((k) => owner.get(k) !== stalled.port)
  t.ok(onStalled.length > 0 && elsewhere.length > 0, 'keys on the stalled master and on the others')

  const commands = new RedisCommands(client as unknown as RedisClient, 500)
  process.kill(stalled.pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(stalled.pid, 'SIGCONT') } catch {} })
  const outcome = (key: string): Promise<string> => commands.send('redis get', () => client.get(key)).then(
    (value) => value === key ? 'answered' : 'wrong value',
    (err: Error) => /within 500 ms/.test(err.message) ? 'timed out' : err.message)

  t.same([...new Set(await Promise.all(onStalled.map(outcome)))], ['timed out'], 'the stalled master\'s commands fail at the time limit')
  const after = await Promise.all(elsewhere.map(outcome))
  t.same([...new Set(after)], ['answered'], 'right after, every command for the healthy masters is answered')
  t.equal(client.status, 'ready', 'the Cluster client never noticed (it stays ready: only the time limit can answer)')
  process.kill(stalled.pid, 'SIGCONT')
  t.same([...new Set(await Promise.all(onStalled.map(outcome)))], ['answered'], 'once it answers again, so do its keys')
})
