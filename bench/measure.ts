// The throughput rounds: for each group, A B C A B C … with a fresh server child per run
// (alone on the machine besides the load generator and Redis), warmed up, then measured.
import { ServerChild } from './child'
import { BENCH_STATE_JSON, BENCH_USER, pluginKey, recipeKey } from './fixtures'
import { httpGet } from './http'
import { runLoad, type RunResult } from './load'
import { waitForQuiet } from './machine'
import type { ServerConfig } from './protocol'
import type { BenchRedis } from './redis'
import type { Group, Scenario } from './scenarios'
import type { Settings } from './settings'

export interface BenchEnv {
  redis: BenchRedis
  config: ServerConfig
  settings: Settings
  log: (line: string) => void
  /** Seconds left for waiting out other processes and re-measuring (settings.contentionBudgetSeconds). */
  budget: { left: number }
  /** Where server children run (affinity.ts); undefined: unpinned. */
  serverCpus?: string
}

/** Waits for an idle machine, within the bench's contention budget. */
async function quiet (env: BenchEnv): Promise<void> {
  const wait = Math.min(env.settings.quietWaitSeconds, env.budget.left)
  if (wait <= 0) return
  const started = Date.now()
  await waitForQuiet(wait, env.settings.othersLimit)
  env.budget.left -= (Date.now() - started) / 1000
}

/** Every scenario's runs, by server name, in round order. */
export type Runs = Map<string, RunResult[]>

/** The stored user of scenarios 3 and 4, under the plugin's key and under the recipe's. */
export async function seedBenchUser (redis: BenchRedis): Promise<void> {
  await redis.client.set(pluginKey(BENCH_USER), BENCH_STATE_JSON)
  await redis.client.set(recipeKey(BENCH_USER), BENCH_STATE_JSON)
}

/** The server answers what the scenario expects (same body on both sides of a pair). */
export async function checkBody (server: ServerChild, scenario: Scenario): Promise<void> {
  const answer = await httpGet(server.url, server.headers)
  if (answer.status !== 200 || answer.body !== scenario.body) {
    throw new Error(`${scenario.server}: expected 200 ${scenario.body}, got ${answer.status} ${answer.body}`)
  }
}

export async function runOnce (scenario: Scenario, env: BenchEnv): Promise<RunResult> {
  const { settings } = env
  const server = await ServerChild.start(scenario.server, env.config, { cpus: env.serverCpus })
  try {
    await checkBody(server, scenario)
    await runLoad(server, { connections: settings.connections, duration: settings.warmupSeconds })
    const redisCpu = scenario.redis ? () => env.redis.cpuSeconds() : undefined
    for (let retried = 0; ; retried++) {
      await quiet(env)
      const result = await runLoad(server, { connections: settings.connections, duration: settings.measureSeconds }, redisCpu)
      const contended = (result.otherCpu ?? 0) > settings.othersLimit
      if (!contended || retried >= settings.retries || env.budget.left < settings.measureSeconds) return { ...result, retried }
      env.budget.left -= settings.measureSeconds
      env.log(`  (${scenario.server}: other processes used ${Math.round((result.otherCpu ?? 0) * 100)} % of a core, measuring again)`)
    }
  } finally {
    await server.stop()
  }
}

export async function runGroups (groups: Group[], env: BenchEnv): Promise<Runs> {
  const runs: Runs = new Map()
  for (const group of groups) {
    env.log(`\n${group.title}`)
    for (let round = 1; round <= env.settings.rounds; round++) {
      for (const scenario of group.scenarios) {
        const result = await runOnce(scenario, env)
        const list = runs.get(scenario.server) ?? []
        list.push(result)
        runs.set(scenario.server, list)
        env.log(`  round ${round} ${scenario.server.padEnd(28)} ${Math.round(result.rps).toString().padStart(6)} req/s` +
          `  p99 ${result.p99.toFixed(2)} ms  server ${Math.round(result.serverCpu * 100)} %  loadgen ${Math.round(result.loadCpu * 100)} %` +
          (result.otherCpu !== undefined ? `  others ${Math.round(result.otherCpu * 100)} %` : '') +
          (result.failures ? `  FAILURES ${result.failures}` : ''))
      }
    }
  }
  return runs
}
