// RedisCommands (lib/storage/redis.ts): every command the redis backend sends goes through it.
// It fails the commands in flight when the connection drops, however many there are, and the
// list it keeps of them holds only the commands not answered yet.
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisCommands, type RedisClient } from '../lib/storage/redis'
import { MiroStorageError } from '../lib/errors'
import { startRedis } from './helpers/redis'

t.test('RedisCommands', async (t) => {
  const redis = await startRedis()
  const client = new Redis(redis.url)
  client.on('error', () => {}) // the kill below is on purpose
  const probe = new Redis(redis.url)
  t.teardown(async () => { client.disconnect(); probe.disconnect(); await redis.stop() })
  // ioredis's overloaded typings are wider than the structural type the plugin asks for.
  const commands = new RedisCommands(client as unknown as RedisClient)
  await client.set('rc:key', 'value')

  t.test('many sequential and concurrent commands: every answer right, only unanswered ones kept', async (t) => {
    let wrong = 0
    let largest = 0
    for (let i = 0; i < 3000; i++) {
      const answer = commands.send('redis get', () => client.get('rc:key'))
      largest = Math.max(largest, commands.pending)
      if (await answer !== 'value') wrong++
    }
    t.equal(largest, 1, 'one at a time: one kept while in flight')
    for (let batch = 0; batch < 20; batch++) {
      const answers = Array.from({ length: 100 }, () => commands.send('redis get', () => client.get('rc:key')))
      largest = Math.max(largest, commands.pending)
      wrong += (await Promise.all(answers)).filter((a) => a !== 'value').length
    }
    t.equal(wrong, 0, '5000 commands, every answer right')
    t.equal(largest, 100, 'the list held the 100 commands of a batch in flight, and never more')
    t.equal(commands.pending, 0, 'an answered command leaves the list')
  })

  t.test('a command error is a MiroStorageError and leaves the others alone', async (t) => {
    await client.set('rc:str', 'x')
    await t.rejects(commands.send('redis incr', () => client.incr('rc:str')), MiroStorageError)
    t.equal(await commands.send('redis get', () => client.get('rc:key')), 'value')
  })

  t.test('the connection drops with 1000 commands in flight: all fail at once, then it works again', async (t) => {
    // Redis holds the answers to writes; the client's connection is then killed from another
    // one. Reads sent first are answered meanwhile: as each leaves the list, the last entry (a
    // write) takes its place, so the writes' entries are moved around in it before the drop.
    await probe.call('CLIENT', 'PAUSE', '3000', 'WRITE')
    const id = await client.client('ID') as number
    const sent = Date.now()
    const writes: Array<Promise<string>> = []
    const reads: Array<Promise<string | null>> = []
    for (let i = 0; i < 500; i++) reads.push(commands.send('redis get', () => client.get('rc:key')))
    for (let i = 0; i < 1000; i++) {
      writes.push(commands.send('redis set', () => client.set('rc:w' + i, 'v')).then(
        () => 'answered', (err: unknown) => err instanceof MiroStorageError ? 'failed' : String(err)))
    }
    t.equal(commands.pending, 1500, 'all 1500 kept while in flight')
    t.same([...new Set(await Promise.all(reads))], ['value'], 'the 500 reads are answered')
    t.equal(commands.pending, 1000, 'and left the list; the 1000 writes are still in it')
    await probe.call('CLIENT', 'KILL', 'ID', String(id))
    const outcomes = await Promise.all(writes)
    const elapsed = Date.now() - sent
    t.same([...new Set(outcomes)], ['failed'], 'every write failed with MiroStorageError')
    t.ok(elapsed < 2500, `before Redis answered again (${elapsed} ms; the pause lasts 3000 ms)`)
    t.equal(commands.pending, 0, 'nothing kept after the drop')
    await probe.call('CLIENT', 'UNPAUSE')
    // ioredis reconnects by itself.
    const deadline = Date.now() + 10_000
    while (client.status !== 'ready' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(await commands.send('redis get', () => client.get('rc:key')), 'value', 'commands work again after the reconnect')
  })
})
