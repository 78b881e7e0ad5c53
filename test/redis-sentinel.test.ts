// Redis Sentinel, for real: a master, a replica and a sentinel from redis-server on 127.0.0.1
// (test/helpers/redis-sentinel.ts), the plugin on an ioredis client that finds the master
// through the sentinel. A healthy topology: login, a storm (one token call per user), one more
// refresh, a logout. Then a forced failover (SENTINEL FAILOVER) with a storm of refreshes
// beginning 100 ms into it, once per client setup, each figure reported as a JSON line
// ($FAULTS_REPORT): "rotated pairs lost" are users whose stored refresh token no longer works
// at the sandbox once the topology settled. The old master goes on accepting writes until
// Sentinel turns it into a replica (about 10 s later; the test does it at once, as Sentinel
// would, once the storm is over), and those writes are then discarded.
// Measured before redis.waitReplicas: default ioredis lost 186 of 196 refreshes, with
// failoverDetector 170 of 245 (the issue). Must hold: with failoverDetector and
// waitReplicas: 1, no pair is lost, and no request answers anything but 200 or 503.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { startSandbox } from '../sandbox/index'
import {
  byStatus, expireStored, inProcessInstance, lossFigures, loginUsers, reportFigures, runLoad, sandboxEndpoint,
  tokenCallsSince, tokenKeyOf, usersLoggedOut, type User, type World
} from './helpers/fault-harness'
import type { FaultAppOptions } from './helpers/fault-app'
import { startRedisSentinel } from './helpers/redis-sentinel'

const USERS = 30
const PER_USER = 4
const INSTANCES = 2
const DURATION_MS = 1000
const MAX_IN_FLIGHT = 32
/** The storm begins this long after the failover began (the worst case); SENTINEL_STORM_AT_MS to measure others. */
const STORM_AT_MS = Number(process.env.SENTINEL_STORM_AT_MS ?? 100)
/**
 * How the failover begins: 'forced' (SENTINEL FAILOVER, the old master stays up), or, to
 * measure, SENTINEL_FAULT=pause: the master stops answering (SIGSTOP) and Sentinel fails it
 * over after down-after-milliseconds; it is resumed once the new master is known.
 */
const FAULT = process.env.SENTINEL_FAULT === 'pause' ? 'pause' : 'forced'

t.test('Redis Sentinel: master + replica + sentinel', async (t) => {
  const topology = await startRedisSentinel({ replicas: 1 })
  t.teardown(() => topology.stop())
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  // Our own view of the master, following failovers at once.
  const probe = new Redis({ sentinels: topology.sentinels, name: topology.name, failoverDetector: true, maxRetriesPerRequest: 2 })
  probe.on('error', () => {})
  t.teardown(() => probe.disconnect())
  // The harness's loginUsers / expireStored / usersLoggedOut use only the sandbox and the probe.
  const world = { sandbox, probe } as unknown as World
  const sentinelOptions = { sentinels: topology.sentinels, name: topology.name }
  const appOptions = (redis: Record<string, unknown>, plugin: Record<string, unknown> = {}): FaultAppOptions =>
    ({ miro: sandboxEndpoint(sandbox), redisUrl: '', redisOptions: { ...sentinelOptions, ...redis }, options: plugin })

  /** Users whose stored refresh token is not live at the sandbox (gone, or rotated already). */
  const deadStored = async (users: User[]): Promise<string[]> => {
    const dead: string[] = []
    for (const user of users) {
      const raw = await probe.get(tokenKeyOf(user))
      const refreshToken = raw === null ? undefined : (JSON.parse(raw) as { refreshToken?: string }).refreshToken
      if (refreshToken === undefined || !sandbox.refreshTokensOf(user.miroUserId).includes(refreshToken)) dead.push(user.id)
    }
    return dead
  }

  await t.test('healthy: login, a storm, a refresh, a logout', async (t) => {
    const options = appOptions({ failoverDetector: true }, { redis: { waitReplicas: 1 } })
    const instances = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => inProcessInstance(t, `app${i}`, options)))
    const users = await loginUsers(world, instances[0]!, 10, 'healthy')
    t.same(await deadStored(users), [], 'every login stored with a live refresh token')
    t.same(await expireStored(world, users), [], 'every user logged in')
    const since = sandbox.tokenCalls.length
    const samples = await runLoad({ instances, users, perUser: 6, durationMs: 300, maxInFlight: MAX_IN_FLIGHT })
    t.same(byStatus(samples), { 200: 60 }, 'the storm: every request answered 200')
    t.equal(tokenCallsSince(sandbox, since).refresh, users.length, 'one token call per user')
    t.same(await deadStored(users), [], 'every refreshed pair stored')

    const [one, two] = users as [User, User]
    const replica = topology.connect(topology.nodes.find((n) => n.pid !== (topology.nodes[0] as { pid: number }).pid)!)
    await expireStored(world, [one])
    const before = sandbox.tokenCalls.length
    t.equal((await instances[1]!.send('/boards', one.id)).status, 200, 'a refresh, then an API call')
    t.equal(tokenCallsSince(sandbox, before).refreshOk, 1, 'one refresh')
    // waitReplicas: 1: the refresh answered once the replica held the pair.
    t.equal(await replica.get(tokenKeyOf(one)), await probe.get(tokenKeyOf(one)), 'the replica holds the refreshed pair')

    t.equal((await instances[0]!.send('/logout', two.id, { method: 'POST' })).status, 200, 'logout')
    t.equal(await probe.get(tokenKeyOf(two)), null, 'the state is deleted')
    t.same(sandbox.refreshTokensOf(two.miroUserId), [], 'and revoked at Miro')
  })

  const all: Array<{ name: string, redis: Record<string, unknown>, plugin?: Record<string, unknown>, lossless: boolean }> = [
    { name: 'default ioredis', redis: {}, lossless: false },
    { name: 'failoverDetector', redis: { failoverDetector: true }, lossless: false },
    { name: 'failoverDetector + waitReplicas 1', redis: { failoverDetector: true }, plugin: { redis: { waitReplicas: 1 } }, lossless: true }
  ]
  // The two setups that lose pairs only report how many (nothing holds there to assert): they
  // are measured by `npm run bench` (its faults section sets SENTINEL_SETUPS=all); `npm test`
  // runs the setup whose claim it asserts.
  const setups = process.env.SENTINEL_SETUPS === 'all' ? all : all.filter((s) => s.lossless)
  for (const setup of setups) {
    await t.test(`${FAULT} failover, a storm ${STORM_AT_MS} ms into it: ${setup.name}`, async (t) => {
      // The previous failover's old master must be a replica again, caught up.
      await topology.waitForReplicas(1, 30_000)
      const options = appOptions(setup.redis, setup.plugin)
      const instances = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => inProcessInstance(t, `app${i}`, options)))
      const users = await loginUsers(world, instances[0]!, USERS, setup.name.replace(/\W+/g, '-'))
      t.same(await expireStored(world, users), [], 'every user logged in')
      const since = sandbox.tokenCalls.length
      const old = await topology.master()

      const began = Date.now()
      if (FAULT === 'pause') topology.pause(old)
      else await topology.failover()
      await sleep(STORM_AT_MS)
      const samples = await runLoad({ instances, users, perUser: PER_USER, durationMs: DURATION_MS, maxInFlight: MAX_IN_FLIGHT })
      const promoted = await topology.waitForNewMaster(old)
      const promotedAfter = Date.now() - began
      if (FAULT === 'pause') topology.resume(old)
      // The old master becomes a replica of the new one (what Sentinel does some 10 s later): what
      // it took since the promotion is discarded now.
      await topology.demote(old, promoted)
      await topology.waitForReplicas(1, 30_000)
      const rejoinedAfter = Date.now() - began
      const calls = tokenCallsSince(sandbox, since)
      // Pairs held in the journal are written once the replica acknowledges: give them time.
      // Until none is dead, or the count held for a second (at most 5 s).
      let dead = await deadStored(users)
      for (let end = Date.now() + 5000, stable = Date.now() + 1000; dead.length > 0 && Date.now() < Math.min(end, stable);) {
        await sleep(250)
        const now = await deadStored(users)
        if (now.length !== dead.length) stable = Date.now() + 1000
        dead = now
      }
      const fresh = await inProcessInstance(t, 'fresh', appOptions({ failoverDetector: true }))
      const loss = await usersLoggedOut(world, users, instances, fresh)
      const statuses = byStatus(samples)
      reportFigures(t, `sentinel ${FAULT} failover, storm at ${STORM_AT_MS} ms (${setup.name})`, {
        users: USERS,
        requests: samples.length,
        statuses,
        refreshed: calls.refreshOk,
        rotatedPairsLost: dead.length,
        ...lossFigures(loss),
        tokenCalls: calls,
        promotedAfterMs: promotedAfter,
        oldMasterRejoinedAfterMs: rejoinedAfter
      })
      t.not(promoted.port, old.port, 'a failover happened')
      // A paused master answers nothing: a storm before the promotion only gets 503s.
      if (FAULT === 'forced') t.ok(calls.refreshOk >= USERS, 'every user refreshed during the failover')
      if (setup.lossless) {
        const unexpected = Object.keys(statuses).filter((k) => k !== '200' && !k.startsWith('503 '))
        t.same(unexpected, [], 'the storm: 200 or 503, never a 401, a 500 or a hang')
        t.same(dead, [], 'no rotated pair lost')
        t.equal(loss.loggedOut.length, 0, 'no user logged out')
      } else {
        // Figures only (above): what Redis's asynchronous replication loses without waitReplicas.
        // A 401 in the storm is such a loss seen early: a request read the state the new master
        // still had, whose refresh token was already rotated.
        t.ok(dead.every((id) => loss.loggedOut.includes(id)), 'each lost pair logs its user out')
      }
    })
  }
})
