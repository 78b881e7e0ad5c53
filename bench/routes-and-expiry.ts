// Issue 17's scenarios: what real routes and the minute of expiry cost.
// 7. A route making 10 API calls against the sandbox: Redis GETs per request (counted by the
//    server, INFO commandstats) and req/s, fastify-miro against the plain SDK + the guide's RedisStorage.
// 8. Refresh ahead: users whose token enters the margin during the run, the token endpoint delayed
//    300 ms; latency of their requests against the other users' requests at the same moments, in
//    the margin (background refresh) and, as the reference, past it (foreground refresh).
// 9. Cost growth: the isAuthorized route with 1, 10 000 and 1 000 000 users stored in Redis (growth.ts).
// 10. Storms of 1, 50 and 500 users at once: token calls = users, failures 0, p99.
import { Agent, get } from 'node:http'
import { startSandbox, type Sandbox } from '../sandbox/index'
import { REFRESH_AHEAD_MS } from '../lib/state'
import { ServerChild } from './child'
import { growthSection, judgeGrowth, runGrowth, type GrowthRun } from './growth'
import { API_USER, pluginKey, recipeKey } from './fixtures'
import { httpGet } from './http'
import { LatencyRecorder } from './latency'
import { runLoad } from './load'
import type { BenchEnv } from './measure'
import { fmtInt, fmtMs, fmtRatio, mdTable } from './stats'
import { sandboxLogin } from './storm'
import type { CheckVerdict } from './summary'

export interface ApiHeavyRun {
  side: 'plugin' | 'sdk'
  rps: number
  p99: number
  requests: number
  getsPerRequest: number
  failures: number
  /** Shares of one core: the server, and this process (the load generator and the sandbox). */
  serverCpu?: number
  loadCpu?: number
}
export interface LatencyFigures {
  n: number
  p50: number
  p99: number
  /** Answers that took at least the token endpoint's delay: requests that (may have) waited for it. */
  slow: number
}
export interface RefreshAheadRun {
  mode: 'margin' | 'past'
  users: number
  steady: LatencyFigures
  /** Requests of a user sent within 1 s after its token entered the margin (margin) or passed it (past). */
  expiring: LatencyFigures
  /** The same run's other requests: users whose token was not crossing at that moment. */
  others: LatencyFigures
  tokenCalls: number
  failures: number
}
export interface ManyStormRun { users: number, requests: number, tokenCalls: number, tokenCallsOk: number, failures: number, p50: number, p99: number }
export interface RoutesAndExpiryResult {
  apiHeavy: ApiHeavyRun[]
  refreshAhead: RefreshAheadRun[]
  growth: GrowthRun[]
  storms: ManyStormRun[]
}

const TOKEN_DELAY_MS = 300

const pct = (share: number | undefined): string => share === undefined ? 'n/a' : `${Math.round(share * 100)} %`

/** Calls of one command Redis has served so far (INFO commandstats). */
async function commandCalls (env: BenchEnv, command: string): Promise<number> {
  const info = await env.redis.client.info('commandstats')
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
}

const sandboxConfig = (env: BenchEnv, sandbox: Sandbox) => ({
  redisUrl: env.redis.url,
  sandbox: { url: sandbox.url, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret }
})

async function apiHeavyOnce (side: ApiHeavyRun['side'], sandbox: Sandbox, env: BenchEnv): Promise<ApiHeavyRun> {
  const server = await ServerChild.start(side === 'plugin' ? 'api10-plugin' : 'api10-sdk', sandboxConfig(env, sandbox), { cpus: env.serverCpus })
  try {
    const check = await httpGet(server.url)
    if (check.status !== 200 || check.body !== '{"boards":10}') throw new Error(`api10-${side}: expected 200 {"boards":10}, got ${check.status} ${check.body}`)
    // A request here is 10 round trips to the sandbox. A fixed number of requests, not a duration:
    // every request counted has finished, so the GETs divide exactly (a timed run leaves some in flight).
    await runLoad(server, { connections: env.settings.connections, amount: env.settings.quick ? 30 : 300 })
    const before = await commandCalls(env, 'get')
    const r = await runLoad(server, { connections: env.settings.connections, amount: env.settings.quick ? 100 : 2000 }, () => env.redis.cpuSeconds())
    const gets = await commandCalls(env, 'get') - before
    return { side, rps: r.rps, p99: r.p99, requests: r.requests, getsPerRequest: r.requests === 0 ? NaN : gets / r.requests, failures: r.failures, serverCpu: r.serverCpu, loadCpu: r.loadCpu }
  } finally {
    await server.stop()
  }
}

export async function runApiHeavy (env: BenchEnv): Promise<ApiHeavyRun[]> {
  env.log('\nA route making 10 API calls (sandbox)')
  const sandbox = await startSandbox()
  try {
    const state = await sandboxLogin(sandbox, new Date(Date.now() + 3_000_000).toISOString())
    await env.redis.client.set(pluginKey(API_USER), JSON.stringify(state))
    await env.redis.client.set(recipeKey(API_USER), JSON.stringify(state))
    const runs: ApiHeavyRun[] = []
    for (let round = 1; round <= env.settings.rounds; round++) {
      for (const side of ['plugin', 'sdk'] as const) {
        const r = await apiHeavyOnce(side, sandbox, env)
        runs.push(r)
        env.log(`  round ${round} ${side.padEnd(7)} ${Math.round(r.rps).toString().padStart(6)} req/s  p99 ${r.p99.toFixed(2)} ms  ${r.getsPerRequest.toFixed(2)} Redis GETs per request  CPU: server ${pct(r.serverCpu)}, load generator + sandbox ${pct(r.loadCpu)}` + (r.failures ? `  FAILURES ${r.failures}` : ''))
      }
    }
    return runs
  } finally {
    await sandbox.close()
  }
}

/** One GET over a keep-alive agent; resolves to its status and latency in ms. */
function timedGet (agent: Agent, url: string): Promise<{ status: number, ms: number }> {
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

/** `connections` loops over the users for `seconds`; `classify` sorts each answer into a recorder (or none). */
async function userLoad (url: string, users: string[], seconds: number, connections: number,
  classify: (user: number, sentAt: number) => LatencyRecorder | undefined): Promise<{ failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const end = Date.now() + seconds * 1000
  let next = 0
  let failures = 0
  try {
    await Promise.all(Array.from({ length: connections }, async () => {
      while (Date.now() < end) {
        const user = next++ % users.length
        const sentAt = Date.now()
        const answer = await timedGet(agent, `${url}?u=${encodeURIComponent(users[user] as string)}`)
        if (answer.status !== 200) failures++
        else classify(user, sentAt)?.record(answer.ms)
      }
    }))
  } finally {
    agent.destroy()
  }
  return { failures }
}

/** Counts what it records, and the answers slower than the token endpoint's delay. */
class CountingRecorder extends LatencyRecorder {
  n = 0
  slow = 0
  override record (ms: number): void {
    this.n++
    if (ms >= TOKEN_DELAY_MS) this.slow++
    super.record(ms)
  }
}

const figures = (recorder: CountingRecorder): LatencyFigures => {
  const [p50, p99] = recorder.percentiles(50, 99) as [number, number]
  return { n: recorder.n, p50, p99, slow: recorder.slow }
}

interface TimedWrites {
  /** When each user's write was acknowledged by Redis (NaN until then). */
  written: number[]
  done: Promise<void>
  cancel (): void
}

/** Writes each user's token state at its own moment of the run. */
function writeAt (env: BenchEnv, users: string[], moments: number[], stateOf: (user: number, at: number) => object): TimedWrites {
  const timers: NodeJS.Timeout[] = []
  const written = users.map(() => NaN)
  const done = Promise.all(users.map((u, i) => new Promise<void>((resolve, reject) => {
    timers.push(setTimeout(() => {
      env.redis.client.set(pluginKey(u), JSON.stringify(stateOf(i, moments[i] as number))).then(() => {
        written[i] = Date.now()
        resolve()
      }, reject)
    }, Math.max(0, (moments[i] as number) - Date.now())))
  }))).then(() => {})
  return { written, done, cancel: () => { for (const timer of timers) clearTimeout(timer) } }
}

async function refreshAheadOnce (mode: RefreshAheadRun['mode'], env: BenchEnv): Promise<RefreshAheadRun> {
  const sandbox = await startSandbox()
  let server: ServerChild | undefined
  let writes: TimedWrites | undefined
  try {
    const count = env.settings.quick ? 10 : 40
    const users = Array.from({ length: count }, (_, i) => `ahead-${mode}-${i}`)
    const states = await Promise.all(users.map(() => sandboxLogin(sandbox, new Date(Date.now() + 3_000_000).toISOString())))
    await Promise.all(users.map((u, i) => env.redis.client.set(pluginKey(u), JSON.stringify(states[i]))))
    server = await ServerChild.start('users-plugin', sandboxConfig(env, sandbox), { cpus: env.serverCpus })
    const seconds = Math.max(2, env.settings.measureSeconds)
    await userLoad(server.url, users, env.settings.warmupSeconds, env.settings.connections, () => undefined)

    const steady = new CountingRecorder()
    const first = await userLoad(server.url, users, seconds, env.settings.connections, () => steady)

    // Each user's token crosses at its own moment of the run: its state, fresh until then, is
    // written as it would be read at that moment, a token entering the margin (stored expiry now)
    // or, for the reference, one past it (Miro's expiry minus the slack, now). Written at the
    // moment rather than ahead with a future expiry: a reference state written ahead would sit
    // in the margin until its moment, and be refreshed in the background before it.
    sandbox.failTokenEndpoint({ delayMs: TOKEN_DELAY_MS })
    const tokenCallsBefore = sandbox.tokenCalls.length
    const start = Date.now() + 200
    const crossing = users.map((_, i) => start + Math.round(((i + 0.5) / count) * (seconds - 1.2) * 1000))
    writes = writeAt(env, users, crossing, (i, at) => ({
      ...states[i],
      tokenExpiresAt: new Date(at - (mode === 'past' ? REFRESH_AHEAD_MS : 0)).toISOString()
    }))
    const expiring = new CountingRecorder()
    const others = new CountingRecorder()
    // A request is expiring when sent within 1 s after Redis acknowledged its user's new state
    // (so it read that state); the others are the requests of users outside their moment, sent
    // at the same time; a request between a user's moment and its write counts as neither.
    const { written } = writes
    const second = await userLoad(server.url, users, seconds, env.settings.connections, (user, sentAt) => {
      const at = written[user] as number
      if (sentAt >= at && sentAt < at + 1000) return expiring
      return sentAt >= (crossing[user] as number) && !(sentAt >= at + 1000) ? undefined : others
    })
    await writes.done
    await new Promise((resolve) => setTimeout(resolve, TOKEN_DELAY_MS + 200)) // the last refreshes land
    sandbox.failTokenEndpoint(null)
    return {
      mode,
      users: count,
      steady: figures(steady),
      expiring: figures(expiring),
      others: figures(others),
      tokenCalls: sandbox.tokenCalls.slice(tokenCallsBefore).filter((c) => c.grantType === 'refresh_token').length,
      failures: first.failures + second.failures
    }
  } finally {
    writes?.cancel()
    await server?.stop()
    await sandbox.close()
  }
}

async function runRefreshAhead (env: BenchEnv): Promise<RefreshAheadRun[]> {
  env.log(`\nRefresh ahead (token endpoint delayed ${TOKEN_DELAY_MS} ms)`)
  const runs: RefreshAheadRun[] = []
  for (let round = 1; round <= env.settings.stormRounds; round++) {
    for (const mode of ['margin', 'past'] as const) {
      const r = await refreshAheadOnce(mode, env)
      runs.push(r)
      env.log(`  round ${round} ${mode.padEnd(6)} steady p50 ${r.steady.p50.toFixed(2)} p99 ${r.steady.p99.toFixed(2)} ms; ` +
        `expiring users (${r.expiring.n} requests, ${r.expiring.slow} ≥ ${TOKEN_DELAY_MS} ms) p50 ${r.expiring.p50.toFixed(2)} p99 ${r.expiring.p99.toFixed(2)} ms; ` +
        `the others meanwhile (${r.others.n}, ${r.others.slow} ≥ ${TOKEN_DELAY_MS} ms) p50 ${r.others.p50.toFixed(2)} p99 ${r.others.p99.toFixed(2)} ms; ` +
        `${r.tokenCalls} token calls for ${r.users} users, ${r.failures} failed`)
    }
  }
  return runs
}

async function manyStormOnce (users: number, env: BenchEnv): Promise<ManyStormRun> {
  const sandbox = await startSandbox()
  let server: ServerChild | undefined
  try {
    const ids = Array.from({ length: users }, (_, i) => `storm-${users}-${i}`)
    for (let i = 0; i < ids.length; i += 50) {
      const batch = ids.slice(i, i + 50)
      const states = await Promise.all(batch.map(() => sandboxLogin(sandbox)))
      await Promise.all(batch.map((u, j) => env.redis.client.set(pluginKey(u), JSON.stringify(states[j]))))
    }
    server = await ServerChild.start('users-plugin', sandboxConfig(env, sandbox), { cpus: env.serverCpus })
    const requests = Math.max(env.settings.stormConcurrency, 2 * users)
    const before = sandbox.tokenCalls.length
    const latencies = new LatencyRecorder()
    const url = server.url
    const answers = await Promise.all(Array.from({ length: requests }, async (_, i) => {
      const started = process.hrtime.bigint()
      const answer = await httpGet(`${url}?u=${ids[i % users] as string}`)
      if (answer.status === 200) latencies.record(Number(process.hrtime.bigint() - started) / 1e6)
      return answer
    }))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const refreshes = sandbox.tokenCalls.slice(before).filter((c) => c.grantType === 'refresh_token')
    const [p50, p99] = latencies.percentiles(50, 99) as [number, number]
    return {
      users,
      requests,
      tokenCalls: refreshes.length,
      tokenCallsOk: refreshes.filter((c) => c.ok).length,
      failures: answers.filter((a) => a.status !== 200).length,
      p50,
      p99
    }
  } finally {
    await server?.stop()
    await sandbox.close()
  }
}

async function runManyStorms (env: BenchEnv): Promise<ManyStormRun[]> {
  env.log('\nStorms of many users at once')
  const runs: ManyStormRun[] = []
  for (const users of [1, 50, 500]) {
    const r = await manyStormOnce(users, env)
    runs.push(r)
    env.log(`  ${String(users).padStart(3)} users, ${r.requests} requests: ${r.tokenCalls} token calls (${r.tokenCallsOk} ok), ${r.failures} failed, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`)
  }
  return runs
}

/** `only`: the scenario numbers to run (BENCH_NEW_SCENARIOS=7,8 when looking into one); all by default. */
export async function runRoutesAndExpiry (env: BenchEnv, only = scenariosFrom(process.env.BENCH_NEW_SCENARIOS)): Promise<RoutesAndExpiryResult> {
  const run = async <T>(n: number, scenario: (env: BenchEnv) => Promise<T[]>): Promise<T[]> => only.has(n) ? scenario(env) : []
  const apiHeavy = await run(7, runApiHeavy)
  const refreshAhead = await run(8, runRefreshAhead)
  const storms = await run(10, runManyStorms)
  const growth = await run(9, runGrowth)
  return { apiHeavy, refreshAhead, growth, storms }
}

function scenariosFrom (list: string | undefined): Set<number> {
  if (list === undefined || list.trim() === '') return new Set([7, 8, 9, 10])
  return new Set(list.split(',').map((n) => Number(n.trim())))
}

const med = (values: number[]): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)] as number
}

/** Figures that judge: 7's reads, 8's p99 against the same run's steady state, 10's token calls and failures, 9's paired ratios. */
export function judgeRoutesAndExpiry (r: RoutesAndExpiryResult): CheckVerdict[] {
  const plugin = r.apiHeavy.filter((x) => x.side === 'plugin')
  const sdk = r.apiHeavy.filter((x) => x.side === 'sdk')
  const reads = med(plugin.map((x) => x.getsPerRequest))
  const margin = r.refreshAhead.filter((x) => x.mode === 'margin')
  const past = r.refreshAhead.filter((x) => x.mode === 'past')
  // Judged against the other users' requests at the same moments: a refresh costs the server the
  // same work in the background or not, so what refresh ahead changes is whether the user waits.
  const ratios = margin.map((x) => x.expiring.p99 / x.others.p99)
  return [
    {
      id: 'R1',
      title: 'A route making 10 API calls reads storage once per request (the plain SDK: 10)',
      measured: plugin.length === 0
        ? 'not run'
        : `${reads.toFixed(2)} GETs per request (plain SDK ${med(sdk.map((x) => x.getsPerRequest)).toFixed(2)}); ` +
        `${fmtInt(med(plugin.map((x) => x.rps)))} req/s vs ${fmtInt(med(sdk.map((x) => x.rps)))} (${fmtRatio(med(plugin.map((x) => x.rps)) / med(sdk.map((x) => x.rps)))})`,
      met: plugin.length > 0 && Math.abs(reads - 1) < 0.05 && plugin.every((x) => x.failures === 0)
    },
    {
      id: 'R2',
      title: `Refresh ahead: p99 of requests as their token enters the margin (token endpoint +${TOKEN_DELAY_MS} ms) ≤ 1.5 × steady state (the other users' requests at the same moments), none waiting ${TOKEN_DELAY_MS} ms more often than those`,
      measured: ratios.length === 0
        ? 'not run'
        : `${ratios.map(fmtRatio).join(', ')} per round; ≥ ${TOKEN_DELAY_MS} ms: ${margin.map((x) => `${x.expiring.slow} of ${x.expiring.n} (others ${x.others.slow} of ${x.others.n})`).join(', ')}; ` +
          `the reference past the margin: ${past.map((x) => `${x.expiring.slow} of ${x.expiring.n}`).join(', ')}; token calls = users: ${margin.every((x) => x.tokenCalls === x.users) ? 'yes' : 'no'}`,
      met: ratios.length > 0 && ratios.every((x) => x <= 1.5) && margin.every((x) => x.tokenCalls === x.users && x.failures === 0 &&
        x.expiring.slow / Math.max(1, x.expiring.n) <= Math.max(x.others.slow / Math.max(1, x.others.n), 0.001))
    },
    {
      id: 'R3',
      title: 'Storms of 1, 50 and 500 users at once: token calls = users, 0 failed',
      measured: r.storms.length === 0 ? 'not run' : r.storms.map((s) => `${s.users}: ${s.tokenCalls} calls, ${s.failures} failed`).join('; '),
      met: r.storms.length > 0 && r.storms.every((s) => s.tokenCalls === s.users && s.tokenCallsOk === s.users && s.failures === 0)
    },
    judgeGrowth(r.growth)
  ]
}

/** The markdown of scenarios 7–10, each figure beside its reference of the same run. */
export function routesAndExpirySection (r: RoutesAndExpiryResult): string {
  const sides = (['plugin', 'sdk'] as const).map((side) => {
    const runs = r.apiHeavy.filter((x) => x.side === side)
    return {
      side,
      rps: med(runs.map((x) => x.rps)),
      p99: med(runs.map((x) => x.p99)),
      gets: med(runs.map((x) => x.getsPerRequest)),
      failures: runs.reduce((n, x) => n + x.failures, 0),
      rounds: runs.length,
      serverCpu: med(runs.map((x) => x.serverCpu ?? NaN)),
      loadCpu: med(runs.map((x) => x.loadCpu ?? NaN)),
      cpuPerRequest: med(runs.map((x) => (x.serverCpu ?? NaN) / x.rps * 1e6))
    }
  })
  const sdkRps = sides[1]?.rps ?? NaN
  return [
    '### 7. A route making 10 API calls (sandbox)',
    '',
    mdTable(['Server', 'rounds', 'Redis GETs per request', 'req/s (median)', 'vs plain SDK', 'p99 ms', 'server CPU', 'server CPU µs per request', 'load generator + sandbox CPU', 'failed'], sides.map((s) => [
      s.side === 'plugin' ? 'fastify-miro (redis)' : 'plain SDK + the guide\'s RedisStorage (reference)',
      String(s.rounds), s.gets.toFixed(2), fmtInt(s.rps), fmtRatio(s.rps / sdkRps), fmtMs(s.p99), Number.isNaN(s.serverCpu) ? 'n/a' : pct(s.serverCpu),
      Number.isNaN(s.cpuPerRequest) ? 'n/a' : fmtInt(s.cpuPerRequest), Number.isNaN(s.loadCpu) ? 'n/a' : pct(s.loadCpu), String(s.failures)
    ])),
    '',
    'GETs are counted by redis-server (INFO commandstats) over the measured seconds. Both servers call the same sandbox, which runs in the load generator\'s process: req/s include its cost alike.',
    '',
    `### 8. Refresh ahead (token endpoint delayed ${TOKEN_DELAY_MS} ms)`,
    '',
    mdTable(['Round', 'Tokens', 'users', 'expiring: requests', 'p50 ms', 'p99 ms', `≥ ${TOKEN_DELAY_MS} ms`, 'others meanwhile: requests', 'p50 ms', 'p99 ms', `≥ ${TOKEN_DELAY_MS} ms`, 'p99 vs others', 'before: p50 ms', 'p99 ms', 'token calls', 'failed'], r.refreshAhead.map((x, i) => [
      String(Math.floor(i / 2) + 1),
      x.mode === 'margin' ? 'enter the margin (background refresh)' : 'reference: past the margin (foreground refresh)',
      String(x.users), String(x.expiring.n), fmtMs(x.expiring.p50), fmtMs(x.expiring.p99), String(x.expiring.slow),
      String(x.others.n), fmtMs(x.others.p50), fmtMs(x.others.p99), String(x.others.slow),
      fmtRatio(x.expiring.p99 / x.others.p99), fmtMs(x.steady.p50), fmtMs(x.steady.p99), String(x.tokenCalls), String(x.failures)
    ])),
    '',
    '"Expiring" requests are those of a user sent within 1 s after its token state, fresh until then, was rewritten as entering the margin (or, for the reference, as past it). "Others meanwhile" are the other users\' requests sent during the same seconds: the steady state that judges, since a refresh costs the server the same work whether it runs in the background or not. "Before" is the same server and users in the seconds before, with no token crossing. "≥ 300 ms" counts answers at least as slow as the token endpoint: with a foreground refresh, each user\'s requests during its refresh wait for it.',
    '',
    growthSection(r.growth),
    '',
    '### 10. Storms of many users at once (tokens expired past the margin)',
    '',
    mdTable(['Users', 'requests at once', 'token calls (ok)', 'failed', 'p50 ms', 'p99 ms'], r.storms.map((s) => [
      String(s.users), String(s.requests), `${s.tokenCalls} (${s.tokenCallsOk})`, String(s.failures), fmtMs(s.p50), fmtMs(s.p99)
    ]))
  ].join('\n')
}
