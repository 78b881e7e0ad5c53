// Scenario 9, cost growth: does req/s move with the number of users stored? One server against a
// Redis holding 1 user and the same server against a second redis-server holding N users, both at
// once on the server core (paired.ts): their ratio is the answer, free of the host's drift that
// made back-to-back runs of each size read anywhere from 0.73× to 0.98×. N = 1 is the A/A pair
// that shows how still the ratio holds. The plain GET server is measured alike, as the reference.
import { BENCH_STATE_JSON } from './fixtures'
import { seedBenchUser, type BenchEnv } from './measure'
import { pairedRounds, scenarioOf } from './paired'
import { startBenchRedis, type BenchRedis } from './redis'
import { fmtInt, fmtRatio, mdTable, median } from './stats'
import type { CheckVerdict } from './summary'

export interface GrowthRun {
  /** Users stored in the second Redis (the first holds the bench user alone). */
  users: number
  server: 'redis-plugin' | 'redis-plain'
  /** req/s with `users` stored ÷ req/s with 1, paired (crossoverRatio). */
  ratio: number
  byOrder?: { candidateFirst: number, referenceFirst: number }
  range: [number, number]
  /** Median req/s of each side over the rounds. */
  rps: number
  oneUserRps: number
}

// Filler users: a state like a real one (a user id, two tokens, an expiry), under the plugin's keys.
const FILL_SCRIPT = `
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call('SET', ARGV[3] .. i .. '}', ARGV[4])
end
return 0`
const FILL_BATCH = 50_000

async function fillUsers (redis: BenchRedis, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += FILL_BATCH) {
    const end = Math.min(to, start + FILL_BATCH) - 1
    await redis.client.eval(FILL_SCRIPT, 0, String(start), String(end), 'miro:token:{filler-', BENCH_STATE_JSON)
  }
}

const SERVERS = ['redis-plugin', 'redis-plain'] as const

async function pairedGrowth (env: BenchEnv, server: GrowthRun['server'], users: number, grown: BenchRedis): Promise<GrowthRun> {
  const scenario = scenarioOf(server)
  const oneUser = { scenario, config: { ...env.config, redisUrl: env.redis.url } }
  const many = { scenario, config: { ...env.config, redisUrl: grown.url } }
  const { rounds, ...ratio } = await pairedRounds(many, oneUser, env)
  return {
    users,
    server,
    ...ratio,
    rps: median(rounds.map((r) => r.candidate.rps)),
    oneUserRps: median(rounds.map((r) => r.reference.rps))
  }
}

export async function runGrowth (env: BenchEnv): Promise<GrowthRun[]> {
  if (env.serverCpus === undefined) {
    env.log('\nCost growth skipped: its pairs need both servers pinned to one core (see affinity.ts)')
    return []
  }
  env.log('\nCost growth: isAuthorized with many users stored, paired against 1 user')
  const sizes = env.settings.quick ? [1, 10_000, 100_000] : [1, 10_000, 1_000_000]
  // A second redis-server of its own, started like the bench's (by this process, so on the same core).
  const grown = await startBenchRedis({ privately: true })
  const runs: GrowthRun[] = []
  try {
    await seedBenchUser(grown)
    let stored = 1 // the bench user
    for (const users of sizes) {
      await fillUsers(grown, stored, users)
      stored = Math.max(stored, users)
      for (const server of SERVERS) {
        const run = await pairedGrowth(env, server, users, grown)
        runs.push(run)
        env.log(`  ${String(users).padStart(9)} users (dbsize ${await grown.client.dbsize()}), ${server.padEnd(12)}: ` +
          `${Math.round(run.rps)} vs ${Math.round(run.oneUserRps)} req/s with 1 user, ${run.ratio.toFixed(3)} (rounds ${run.range.map((x) => x.toFixed(3)).join('–')})`)
      }
    }
  } finally {
    await grown.stop()
  }
  return runs
}

/** How far from 1.00 "does not move" may read: the A/A pairs' spread (bench/FINDINGS.md). */
const STILL_WITHIN = 0.03

const LABELS: Record<GrowthRun['server'], string> = { 'redis-plugin': 'fastify-miro isAuthorized', 'redis-plain': 'plain ioredis GET (reference)' }

/** R4: fastify-miro's req/s with many users stored against 1, paired; the 1-user A/A row shows the method's stillness. */
export function judgeGrowth (runs: GrowthRun[]): CheckVerdict {
  const plugin = runs.filter((r) => r.server === 'redis-plugin')
  const grown = plugin.filter((r) => r.users > 1)
  const plainOf = (users: number): GrowthRun | undefined => runs.find((r) => r.server === 'redis-plain' && r.users === users)
  return {
    id: 'R4',
    title: `Cost growth: fastify-miro's req/s with ${grown.length ? grown.map((r) => fmtInt(r.users)).join(' and ') : 'many'} users stored ÷ with 1 user, paired, within ±${STILL_WITHIN * 100} % (it does not move)`,
    measured: plugin.length === 0
      ? 'not run'
      : plugin.map((r) => `${fmtInt(r.users)}: ${fmtRatio(r.ratio)} (plain GET ${fmtRatio(plainOf(r.users)?.ratio ?? NaN)})`).join('; '),
    met: grown.length > 0 && grown.every((r) => Math.abs(r.ratio - 1) <= STILL_WITHIN)
  }
}

export function growthSection (runs: GrowthRun[]): string {
  return [
    '### 9. Cost growth: isAuthorized with many users stored (paired against 1 user)',
    '',
    mdTable(['Users in the second Redis', 'Server', 'req/s (median)', 'with 1 user, same rounds', 'N ÷ 1 (paired)', 'by order', 'rounds'], runs.map((r) => [
      fmtInt(r.users), LABELS[r.server], fmtInt(r.rps), fmtInt(r.oneUserRps), fmtRatio(r.ratio),
      r.byOrder === undefined ? 'n/a' : `${r.byOrder.candidateFirst.toFixed(3)} / ${r.byOrder.referenceFirst.toFixed(3)}`,
      `${r.range[0].toFixed(2)}–${r.range[1].toFixed(2)}`
    ])),
    '',
    'Each row is a paired run: the same server twice at once on the server core, one against a redis-server holding the bench user alone, the other against a second redis-server holding N users (filler states like a real one). The 1-user row is the A/A pair: both Redis servers hold one user, so its ratio shows how still the method holds.'
  ].join('\n')
}
