// RedisCommands (lib/storage/redis.ts): every command the redis backend sends goes through it.
// It fails the commands in flight when the connection drops, however many there are, and the
// list it keeps of them stays bounded however many commands it has sent.
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

  t.test('many sequential and concurrent commands: every answer right, the kept list bounded', async (t) => {
    let wrong = 0
    let largest = 0
    for (let i = 0; i < 3000; i++) {
      if (await commands.send('redis get', () => client.get('rc:key')) !== 'value') wrong++
      largest = Math.max(largest, commands.tracked)
    }
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => commands.send('redis get', () => client.get('rc:key'))))
      wrong += answers.filter((a) => a !== 'value').length
      largest = Math.max(largest, commands.tracked)
    }
    t.equal(wrong, 0, '5000 commands, every answer right')
    t.ok(largest <= 256, `at most 256 entries kept (largest seen: ${largest})`)
  })

  t.test('a command error is a MiroStorageError and leaves the others alone', async (t) => {
    await client.set('rc:str', 'x')
    await t.rejects(commands.send('redis incr', () => client.incr('rc:str')), MiroStorageError)
    t.equal(await commands.send('redis get', () => client.get('rc:key')), 'value')
  })

  t.test('the connection drops with 1000 commands in flight: all fail at once, then it works again', async (t) => {
    // Redis holds every answer; the client's connection is then killed from another one.
    await probe.call('CLIENT', 'PAUSE', '3000', 'WRITE')
    await commands.send('redis ping', () => client.ping()) // still answered: PAUSE WRITE blocks writes only
    const id = await client.client('ID') as number
    const sent = Date.now()
    const pending = Array.from({ length: 1000 }, (_, i) => commands.send('redis set', () => client.set('rc:w' + i, 'v')).then(
      () => 'answered', (err: unknown) => err instanceof MiroStorageError ? 'failed' : String(err)))
    t.ok(commands.tracked >= 1000, `${commands.tracked} commands kept while in flight`)
    await probe.call('CLIENT', 'KILL', 'ID', String(id))
    const outcomes = await Promise.all(pending)
    const elapsed = Date.now() - sent
    t.same([...new Set(outcomes)], ['failed'], 'every one failed with MiroStorageError')
    t.ok(elapsed < 2500, `before Redis answered again (${elapsed} ms; the pause lasts 3000 ms)`)
    t.equal(commands.tracked, 0, 'nothing kept after the drop')
    await probe.call('CLIENT', 'UNPAUSE')
    // ioredis reconnects by itself.
    const deadline = Date.now() + 10_000
    while (client.status !== 'ready' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(await commands.send('redis get', () => client.get('rc:key')), 'value', 'commands work again after the reconnect')
  })
})
