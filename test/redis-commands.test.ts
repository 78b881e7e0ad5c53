// RedisCommands (lib/storage/redis.ts): every command the redis backend sends goes through it.
// It fails the commands in flight when the connection drops, however many there are, fails
// those older than its time limit, and the list it keeps of them holds only the commands not
// answered (nor failed) yet.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
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

  t.test('time limit: answered, timed out, late answers, then a drop — the list stays right', async (t) => {
    // Its own client and RedisCommands, with a short limit: fails between 600 and 675 ms.
    const own = new Redis(redis.url)
    own.on('error', () => {}) // the kill below is on purpose
    t.teardown(async () => { await probe.call('CLIENT', 'UNPAUSE'); own.disconnect() })
    const timed = new RedisCommands(own as unknown as RedisClient, 600)
    await own.ping() // connected: RedisCommands refuses to queue while connecting
    // Every promise this test holds, with how it settled: timed.pending must always equal the unsettled ones.
    let unsettled = 0
    const track = <T>(sent: Promise<T>): Promise<string> => {
      unsettled++
      return sent.then(() => 'answered', (err: unknown) => {
        if (!(err instanceof MiroStorageError)) return 'other: ' + String(err)
        if (/has not answered since/.test(err.message)) return 'not answering'
        return /within 600 ms/.test(err.message) ? 'timed out' : /connection lost/.test(err.message) ? 'lost' : err.message
      }).finally(() => { unsettled-- })
    }
    const writes = (n: number, tag: string): Array<Promise<string>> =>
      Array.from({ length: n }, (_, i) => track(timed.send('redis set', () => own.set(`rc:${tag}${i}`, 'v'))))
    const kinds = async (all: Array<Promise<string>>): Promise<string[]> => [...new Set(await Promise.all(all))]

    // Reads sent before the first held write are answered; Redis answers a connection in order,
    // so everything after a held write waits with it.
    await probe.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    const reads = Array.from({ length: 300 }, () => track(timed.send('redis get', () => own.get('rc:key'))))
    const first = writes(300, 'a')
    t.equal(timed.pending, 600, 'all kept while in flight')
    t.ok(timed.sweeping, 'the sweeper runs while commands are in flight')
    t.same(await kinds(reads), ['answered'], 'the reads are answered')
    t.equal(timed.pending, 300, 'and left the list')
    await sleep(300)
    const second = writes(200, 'b')
    const started = Date.now()
    t.same(await kinds(first), ['timed out'], 'the first 300 writes fail at the time limit')
    t.equal(timed.pending, 200, 'and leave the list; the 200 sent later stay in it')
    t.equal(unsettled, 200)
    // Now Redis answers: first the 300 timed-out writes (late answers), then the other 200 in time.
    await probe.call('CLIENT', 'UNPAUSE')
    t.same(await kinds(second), ['answered'], 'the later writes are answered, after the late answers of the first')
    t.same(await kinds(Array.from({ length: 50 }, () => track(timed.send('redis get', () => own.get('rc:key'))))), ['answered'], 'Redis answered again: commands flow, no probe needed')
    t.ok(Date.now() - started < 550, 'before their own time limit')
    t.equal(timed.pending, 0, 'late answers did not touch the list')
    t.equal(await own.get('rc:a299'), 'v', 'the late writes did land in Redis (the limit is not a rollback)')

    // Again, then the connection drops: the timed-out writes and those still in flight are
    // resent by ioredis after the reconnect and answered then, long after they failed.
    const id = await own.client('ID') as number
    await probe.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    const third = writes(300, 'c')
    t.same(await kinds(third), ['timed out'])
    // Timed out and not answering since: one command goes as a probe, the others fail at once
    // rather than each waiting out its own limit.
    const fourth = writes(200, 'd')
    t.equal(timed.pending, 1, 'one probe in flight')
    t.same(await kinds(fourth.slice(1)), ['not answering'], 'the other 199 fail at once')
    await probe.call('CLIENT', 'KILL', 'ID', String(id))
    t.same(await kinds(fourth.slice(0, 1)), ['lost'], 'the drop fails the probe in flight')
    t.equal(timed.pending, 0)
    t.equal(unsettled, 0)
    await probe.call('CLIENT', 'UNPAUSE')
    const deadline = Date.now() + 10_000
    while ((own.status !== 'ready' || await probe.exists('rc:d0') === 0) && Date.now() < deadline) await sleep(20)
    t.equal(await probe.exists('rc:c299', 'rc:d0'), 2, 'ioredis resent them after the reconnect: their late answers came in')
    t.equal(timed.pending, 0, 'and changed nothing')
    const after = Array.from({ length: 100 }, (_, i) => track(timed.send('redis get', () => own.get(i % 2 === 0 ? 'rc:key' : 'rc:a0'))))
    t.same(await kinds(after), ['answered'], 'commands work again')
    t.equal(timed.pending, 0)
    await sleep(120)
    t.notOk(timed.sweeping, 'the sweeper stops once nothing is in flight')
  })

  t.test('map: an answer goes through it in the command\'s own callback, a failure never does', async (t) => {
    // How a read is decoded without a promise between Redis's answer and the decoded state.
    const own = new Redis(redis.url)
    own.on('error', () => {})
    t.teardown(async () => { await probe.call('CLIENT', 'UNPAUSE'); own.disconnect() })
    const timed = new RedisCommands(own as unknown as RedisClient, 600)
    await own.ping()
    const mapped: unknown[] = []
    const toLength = (answer: string | null): number => {
      mapped.push(answer)
      return answer?.length ?? -1
    }
    t.equal(await timed.send('redis get', () => own.get('rc:key'), toLength), 5, 'an answer goes through map')
    t.equal(mapped.length, 1)

    const mapFails = new Error('map failed')
    await t.rejects(timed.send('redis get', () => own.get('rc:key'), () => { throw mapFails }), mapFails, 'an error thrown by map rejects, as it is')

    await own.set('rc:str2', 'x')
    await t.rejects(timed.send('redis hget', () => own.hget('rc:str2', 'f'), toLength), MiroStorageError, 'an error reply rejects as a MiroStorageError…')
    const syncThrow = new Error('sync throw')
    await t.rejects(timed.send('redis get', () => { throw syncThrow }, toLength), MiroStorageError, '…and so does a command that throws as it is sent')

    // The time limit, then the probe while stalled.
    await probe.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    await t.rejects(timed.send('redis set', () => own.set('rc:held', 'v'), toLength), { code: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /within 600 ms/ }, 'a command past the time limit rejects')
    const probing = timed.send('redis set', () => own.set('rc:held2', 'v'), () => 'answered')
    await t.rejects(timed.send('redis set', () => own.set('rc:held3', 'v'), toLength), { code: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /has not answered since/ },
      'while a probe is out, the next command rejects at once')
    await probe.call('CLIENT', 'UNPAUSE')
    t.equal(await probing, 'answered', 'the probe\'s answer goes through map')
    const probeMapFails = new Error('map failed on a probe')
    await probe.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    await t.rejects(timed.send('redis set', () => own.set('rc:held4', 'v'), toLength), MiroStorageError)
    const mapOnProbe = t.rejects(timed.send('redis set', () => own.set('rc:held5', 'v'), () => { throw probeMapFails }),
      probeMapFails, 'on a probe too, an error thrown by map rejects as it is')
    await probe.call('CLIENT', 'UNPAUSE')
    await mapOnProbe

    // Not connected: failed before it is sent.
    own.disconnect()
    const until = Date.now() + 5000
    while (own.status !== 'end' && Date.now() < until) await sleep(10)
    await t.rejects(timed.send('redis get', () => own.get('rc:key'), toLength), { code: 'FST_MIRO_STORAGE_UNAVAILABLE', message: /redis is end/ }, 'a client that is not connected rejects')
    t.equal(mapped.length, 1, 'map saw the one answer only, never a failure')
    t.equal(timed.pending, 0, 'nothing left in flight')
  })
})
