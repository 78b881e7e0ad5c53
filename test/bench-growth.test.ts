// Scenario 9, cost growth: the same server against a Redis holding 1 user and one holding many,
// paired, and the verdict R4 drawn from those ratios.
import { test } from 'tap'
import { join } from 'node:path'
import { serverMainOf } from '../bench/child'
import { judgeGrowth, type GrowthRun } from '../bench/growth'
import type { BenchEnv } from '../bench/measure'
import { seedBenchUser } from '../bench/measure'
import { pairedLoad, scenarioOf } from '../bench/paired'
import { startBenchRedis } from '../bench/redis'
import { settingsFrom } from '../bench/settings'

const run = (users: number, server: GrowthRun['server'], ratio: number): GrowthRun =>
  ({ users, server, ratio, range: [ratio, ratio], rps: 1000 * ratio, oneUserRps: 1000 })

test('R4 holds when every grown ratio of fastify-miro is within 3 % of 1.00', async (t) => {
  const still = [run(1, 'redis-plugin', 1.01), run(1, 'redis-plain', 1.0), run(10_000, 'redis-plugin', 0.98), run(10_000, 'redis-plain', 0.99), run(1_000_000, 'redis-plugin', 1.02)]
  const met = judgeGrowth(still)
  t.ok(met.met)
  t.match(met.title, /10,000 and 1,000,000 users stored/, 'the title names the sizes that ran')
  t.match(met.measured, /10,000: 0\.98× \(plain GET 0\.99×\)/, 'each size beside the plain GET of the same size')
  t.notOk(judgeGrowth([...still.slice(0, 4), run(1_000_000, 'redis-plugin', 0.95)]).met, 'a drop of 5 % with 1 000 000 users is a miss')
  t.notOk(judgeGrowth([...still.slice(0, 4), run(1_000_000, 'redis-plugin', 1.05)]).met, 'so is a rise: "does not move" both ways')
  t.notOk(judgeGrowth([run(1, 'redis-plugin', 1.0)]).met, 'the A/A row alone judges nothing')
  t.same(judgeGrowth([]), { ...judgeGrowth([]), measured: 'not run', met: false })
})

test('each side of a pair reads its own Redis', async (t) => {
  const oneUser = await startBenchRedis({ privately: true })
  t.teardown(() => oneUser.stop())
  const grown = await startBenchRedis({ privately: true })
  t.teardown(() => grown.stop())
  t.not(grown.url, oneUser.url, 'two redis-servers')
  await seedBenchUser(oneUser)
  const env: BenchEnv = {
    redis: oneUser,
    config: { redisUrl: oneUser.url },
    settings: { ...settingsFrom(['--quick']), warmupSeconds: 0.1, measureSeconds: 0.3 },
    log: () => {},
    budget: { left: 0 }
  }
  const scenario = scenarioOf('redis-plugin')
  const main = serverMainOf(join(__dirname, '..', 'dist')) // the built servers: npm test builds first
  const sides = { candidate: { scenario, main, config: { redisUrl: grown.url } }, reference: { scenario, main, config: { redisUrl: oneUser.url } } }
  // The second Redis holds no user yet: its server must say so, not read the first Redis.
  await t.rejects(pairedLoad(sides.candidate, sides.reference, env, false), /redis-plugin: expected 200 \{"authorized":true\}, got 200 \{"authorized":false\}/)
  await seedBenchUser(grown)
  const round = await pairedLoad(sides.candidate, sides.reference, env, true)
  t.ok(round.candidate.requests > 0 && round.reference.requests > 0, 'both sides served load')
  t.equal(round.candidate.failures + round.reference.failures, 0)
})
