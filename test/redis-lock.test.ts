// The refresh lock of the redis backend (lib/storage/redis.ts, createRedisLock) is a lease: SET
// NX PX to take it, a compare-and-PEXPIRE script to renew it while the holder works, a
// compare-and-DEL script to release it. A holder that dies stops renewing, so others wait one
// lease at most, also when the lock comes back from an append-only file after a Redis restart
// (Redis writes absolute expiry times into the AOF: checked below, in the file itself).
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createRedisStore, type RedisClient } from '../lib/storage/redis'
import { lockKey } from '../lib/storage/keys'
import { startPrivateRedis } from './helpers/redis'

const PREFIX = 'lk:'
const silent = { warn: () => {} }

/** The commands of a RESP-encoded append-only file, as lists of arguments. */
function parseAof (text: string): string[][] {
  const lines = text.split('\r\n')
  const commands: string[][] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line[0] !== '*') continue
    const count = Number(line.slice(1))
    const args: string[] = []
    for (let k = 0; k < count; k++) {
      args.push(lines[i + 2] as string) // "$<length>", then the argument
      i += 2
    }
    commands.push(args)
  }
  return commands
}

/** Retries `call` while Redis is reconnecting (the lock refuses commands then), bounded. */
async function whenConnected<T> (call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      return await call()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(20)
    }
  }
}

t.test('lease locks on a real Redis', async (t) => {
  const server = await startPrivateRedis({ persistent: true })
  const client = new Redis(server.url)
  client.on('error', () => {}) // the kill below is on purpose
  const probe = new Redis(server.url)
  probe.on('error', () => {})
  t.teardown(async () => { client.disconnect(); probe.disconnect(); await server.stop() })
  await client.ping()
  const { lock } = createRedisStore(client as unknown as RedisClient, { keyPrefix: PREFIX }, silent)
  const key = (userId: string): string => lockKey(PREFIX, userId)

  t.test('renewed, a lock outlives its first lease; no longer renewed, it is gone within one lease', async (t) => {
    const LEASE = 400
    const token = await lock.acquire('alice', LEASE)
    t.type(token, 'string', 'taken')
    if (token === null) return
    t.equal(await lock.acquire('alice', LEASE), null, 'held: nobody else gets it')
    const started = Date.now()
    const renewals: boolean[] = []
    let renewSent = started
    let renewAnswered = started
    while (Date.now() - started < LEASE * 3) {
      await sleep(LEASE / 4)
      renewSent = Date.now()
      renewals.push(await lock.renew('alice', token, LEASE))
      renewAnswered = Date.now()
    }
    t.same([...new Set(renewals)], [true], `${renewals.length} renewals, each confirmed`)
    t.equal(await probe.get(key('alice')), token, `still held ${Date.now() - started} ms after a ${LEASE} ms lease`)
    t.equal(await lock.acquire('alice', LEASE), null, 'and nobody else gets it')

    // The holder dies: nothing renews. Another instance polls, as a waiting refresh does.
    let taken: string | null = null
    while (taken === null && Date.now() - renewAnswered < LEASE * 5) {
      taken = await lock.acquire('alice', LEASE)
      if (taken === null) await sleep(10)
    }
    const freed = Date.now()
    t.type(taken, 'string', 'another instance takes it')
    t.ok(freed - renewSent >= LEASE, `not before the last renewal's lease ran out (${freed - renewSent} ms after it was sent)`)
    t.ok(freed - renewAnswered <= LEASE + 200, `within one lease of it (${freed - renewAnswered} ms after it was answered, lease ${LEASE} ms)`)
  })

  t.test('only the holder renews or releases; a released or expired lease stays gone', async (t) => {
    const token = await lock.acquire('bob', 5000)
    if (token === null) return t.fail('not taken')
    t.equal(await lock.renew('bob', 'someone-else', 60_000), false, 'another token cannot renew it')
    t.ok(await probe.pttl(key('bob')) <= 5000, 'and its expiry did not move')
    await lock.release('bob', 'someone-else')
    t.equal(await probe.get(key('bob')), token, 'another token cannot release it')
    t.equal(await lock.renew('bob', token, 8000), true, 'its holder renews it')
    t.ok(await probe.pttl(key('bob')) > 5000, 'to the new lease')
    await lock.release('bob', token)
    t.equal(await probe.exists(key('bob')), 0, 'its holder releases it')
    t.equal(await lock.renew('bob', token, 8000), false, 'a released lock cannot be renewed back')
    t.equal(await probe.exists(key('bob')), 0)

    // A lease that ran out while its holder was away, then taken by someone else.
    const late = await lock.acquire('bob', 50)
    if (late === null) return t.fail('not taken')
    await sleep(120)
    t.equal(await lock.renew('bob', late, 5000), false, 'an expired lease cannot be renewed')
    const next = await lock.acquire('bob', 5000)
    t.type(next, 'string', 'someone else takes it')
    t.equal(await lock.renew('bob', late, 5000), false, 'the old holder cannot renew the new lease')
    await lock.release('bob', late)
    t.equal(await probe.get(key('bob')), next, 'nor release it')
  })

  t.test('a lock restored from the AOF after a SIGKILL and restart expires at its original time', async (t) => {
    const LEASE = 3000
    const beforeAcquire = Date.now()
    const token = await lock.acquire('carol', LEASE)
    const acquired = Date.now()
    if (token === null) return t.fail('not taken')
    await sleep(200)
    const renewSent = Date.now()
    t.equal(await lock.renew('carol', token, LEASE), true)
    const renewAnswered = Date.now()

    // What Redis wrote to the append-only file for this key: absolute times, not durations.
    const [, dir] = await probe.config('GET', 'dir') as [string, string]
    const [, sub] = await probe.config('GET', 'appenddirname') as [string, string]
    let aof = ''
    for (const file of (await readdir(join(dir, sub))).filter((f) => f.endsWith('.incr.aof'))) aof += await readFile(join(dir, sub, file), 'utf8')
    const written = parseAof(aof).filter((args) => args[1] === key('carol')).map((args) => [(args[0] ?? '').toUpperCase(), ...args.slice(2)])
    t.comment(`AOF for ${key('carol')}: ${JSON.stringify(written.map((args) => args.filter((a) => a !== token)))}`)
    const set = written.find((args) => args[0] === 'SET')
    t.equal(set?.[2]?.toUpperCase(), 'PXAT', 'the acquire (SET NX PX) is written as SET … PXAT <absolute ms>')
    const setAt = Number(set?.[3])
    t.ok(setAt >= beforeAcquire + LEASE - 5 && setAt <= acquired + LEASE + 5, `at acquire + lease (${setAt - beforeAcquire} ms after the acquire was sent)`)
    const renew = written.find((args) => args[0] === 'PEXPIREAT')
    t.ok(renew !== undefined, "the renewal (the script's PEXPIRE) is written as PEXPIREAT <absolute ms>")
    const renewAt = Number(renew?.[1])
    t.ok(renewAt >= renewSent + LEASE - 5 && renewAt <= renewAnswered + LEASE + 5, `at renewal + lease (${renewAt - renewSent} ms after the renewal was sent)`)
    t.notOk(written.some((args) => args[0] === 'PEXPIRE' || args[0] === 'EXPIRE' || args.includes('PX') || args.includes('EX')), 'no relative expiry anywhere')

    // The holder's Redis dies with it; Redis comes back from the AOF.
    await server.kill()
    await sleep(500)
    await server.restart()
    const pttl = await whenConnected(() => probe.pttl(key('carol')))
    const readAt = Date.now()
    t.equal(await probe.get(key('carol')), token, 'the lock is back')
    t.ok(pttl > 0 && readAt + pttl <= renewAnswered + LEASE + 50,
      `with its original expiry, not a fresh lease: ${pttl} ms left ${readAt - renewAnswered} ms after the renewal (a fresh lease would leave ~${LEASE} ms)`)

    let taken: string | null = null
    while (taken === null && Date.now() - renewAnswered < LEASE * 4) {
      taken = await whenConnected(() => lock.acquire('carol', LEASE))
      if (taken === null) await sleep(20)
    }
    const freed = Date.now()
    t.type(taken, 'string', 'another instance takes it')
    t.ok(freed >= renewSent + LEASE && freed <= renewAnswered + LEASE + 300,
      `when the renewed lease ran out (${freed - renewAnswered} ms after the renewal, lease ${LEASE} ms)`)
  })
})
