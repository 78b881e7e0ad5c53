// Renders the results: a table for the terminal, and bench/RESULTS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOADGEN_LIMIT } from './load'
import type { PairedResult } from './paired'
import { faultRows, type FaultsResult } from './faults'
import type { ProfileSummary } from './profile'
import { routesAndExpirySection, type RoutesAndExpiryResult } from './routes-and-expiry'
import type { Settings } from './settings'
import type { SoakResult } from './soak'
import { GOALS } from './scenarios'
import { fmtCore, fmtInt, fmtMB, fmtMs, fmtRatio, mdTable, median } from './stats'
import type { StormResult } from './storm'
import { handleTotal, type CheckVerdict, type GoalVerdict, type ScenarioSummary } from './summary'

export const BENCH_SOURCE_DIR = join(__dirname, '..', '..', 'bench')

export interface Report {
  date: Date
  node: string
  cpu: string
  redis: string
  /** The plugin code measured (git commit, uncommitted changes). */
  source: string
  settings: Settings
  /** Where the servers and the load generator ran (affinity.ts); absent in reports of older runs. */
  affinity?: string
  loadAverage: { start: string, end: string }
  seconds: number
  /** Seconds of the contention budget not spent. */
  contentionBudgetLeft: number
  scenarios: ScenarioSummary[]
  /** Paired runs (paired.ts); absent in reports of older runs. */
  pairs?: PairedResult[]
  goals: GoalVerdict[]
  checks: CheckVerdict[]
  storms: StormResult[]
  soak: SoakResult
  /** The fault suite's figures (faults.ts); absent in quick runs and reports of older runs. */
  faults?: FaultsResult
  profiles: ProfileSummary[]
  /** Issue 17's scenarios (routes-and-expiry.ts); absent in reports of older runs. */
  routesAndExpiry?: RoutesAndExpiryResult
}

const mark = (met: boolean): string => met ? 'met' : '**MISSED**'

function pad (rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)).join('  ')).join('\n')
}

const SCENARIO_HEAD = ['Scenario', 'runs used', 'req/s', 'p50 ms', 'p99 ms', 'vs ref', 'rounds vs ref', 'req/CPU-s', 'vs ref (CPU)', 'server CPU', 'loadgen CPU', 'redis CPU', 'others CPU', 'failed']

function scenarioRow (s: ScenarioSummary): string[] {
  const isRef = s.scenario.server === s.reference.server
  return [
    s.scenario.label + (s.loadgenBound ? ' ⚠' : ''),
    `${s.used}/${s.rounds}` + (s.contended ? ' (contended)' : ''),
    fmtInt(s.rps),
    fmtMs(s.p50),
    fmtMs(s.p99),
    isRef ? '1.00× (ref)' : fmtRatio(s.ratio),
    isRef ? '' : `${s.roundRatios[0].toFixed(2)}–${s.roundRatios[1].toFixed(2)}`,
    fmtInt(s.perCpu),
    isRef ? '' : fmtRatio(s.perCpuRatio),
    fmtCore(s.serverCpu),
    fmtCore(s.loadCpu),
    fmtCore(s.redisCpu),
    fmtCore(s.otherCpu),
    String(s.failures) + (s.retried ? ` (${s.retried} re-measured)` : '')
  ]
}

const range = (r: [number, number]): string => `${r[0].toFixed(2)}–${r[1].toFixed(2)}`

/** Both measurements of a goal, the one that judges it in bold. */
function measuredBy (g: GoalVerdict): string {
  const measures = [`interleaved ${fmtRatio(g.ratio)} (rounds ${range(g.roundRatios)}; per CPU ${fmtRatio(g.perCpuRatio)})`]
  if (g.paired) measures.unshift(`paired ${fmtRatio(g.paired.ratio)} (rounds ${range(g.paired.range)}; per CPU ${fmtRatio(g.paired.perCpuRatio)})`)
  return measures.map((m) => m.startsWith(g.judgedBy) ? `**${m}**` : m).join('; ')
}

function goalRows (r: Report): string[][] {
  return [
    ...r.goals.map((g) => [
      g.goal.id, g.goal.title,
      measuredBy(g),
      `≥ ${g.goal.target}×`, mark(g.met)
    ]),
    ...r.checks.map((c) => [c.id, c.title, c.measured, '', mark(c.met)])
  ]
}

const PAIRED_HEAD = ['Pair', 'Candidate', 'Reference', 'rounds', 'candidate req/s', 'reference req/s', 'ratio', 'rounds range', 'candidate first / reference first', 'per CPU-s']

function pairedRows (pairs: PairedResult[]): string[][] {
  return pairs.map((p) => [
    p.id, p.candidate.label + (p.candidateBuild === undefined ? '' : ` (build ${p.candidateBuild})`), p.reference.label, String(p.rounds.length),
    fmtInt(median(p.rounds.map((r) => r.candidate.rps))), fmtInt(median(p.rounds.map((r) => r.reference.rps))),
    fmtRatio(p.ratio), range(p.range),
    p.byOrder === undefined ? 'n/a' : `${fmtRatio(p.byOrder.candidateFirst)} / ${fmtRatio(p.byOrder.referenceFirst)}`,
    fmtRatio(p.perCpuRatio)
  ])
}

/** The paired runs alone (`--only-pairs`), each goal's target beside its ratio. */
export function pairedTable (pairs: PairedResult[], format: 'text' | 'markdown'): string {
  const head = [...PAIRED_HEAD, 'target']
  const rows = pairedRows(pairs).map((row, i) => [...row, targetOf(pairs[i]?.id)])
  return format === 'text' ? pad([head, ...rows]) : mdTable(head, rows)
}

const targetOf = (id: string | undefined): string => {
  const goal = GOALS.find((g) => g.id === id)
  return goal === undefined ? '' : `≥ ${goal.target}× (judged ${goal.judgedBy})`
}

export function renderText (r: Report): string {
  const lines = [
    '',
    `fastify-miro bench — ${r.settings.quick ? 'QUICK' : 'full'} run, Node ${r.node}, ${r.cpu}, ${r.seconds.toFixed(0)} s`,
    '',
    pad([SCENARIO_HEAD, ...r.scenarios.map(scenarioRow)]),
    '',
    ...(r.pairs?.length ? [pad([PAIRED_HEAD, ...pairedRows(r.pairs)]), ''] : []),
    pad([['Goal', 'What', 'Measured', 'Target', 'Verdict'], ...goalRows(r).map((row) => row.map((c) => c.replace(/\*/g, '')))]),
    ''
  ]
  if (r.scenarios.some((s) => s.loadgenBound)) lines.push(`⚠ load generator used ≥ ${LOADGEN_LIMIT * 100} % of a core: that scenario's req/s is a lower bound.`)
  return lines.join('\n')
}

function stormSection (storms: StormResult[]): string {
  const rows = storms.map((s, i) => [
    String(Math.floor(i / 2) + 1),
    s.side === 'plugin' ? 'fastify-miro (redis)' : 'plain SDK recipe (Express + RedisStorage)',
    `${s.refreshCalls} (${s.refreshCallsOk} ok)`,
    `${s.requests - s.ok} / ${s.requests}` + (Object.keys(s.failedByStatus).length ? ` (${Object.entries(s.failedByStatus).map(([k, v]) => `${v}× ${k}`).join(', ')})` : ''),
    s.loggedInAfter ? 'yes' : 'no',
    s.storedTokenLive ? 'yes' : 'no'
  ])
  return mdTable(['Round', 'Server', 'Refresh calls to the sandbox', 'Failed requests', 'Logged in after', 'Stored token live'], rows)
}

function faultsSection (f: FaultsResult | undefined): string {
  if (f === undefined) return 'Not run (quick runs skip it; `--faults` runs it).'
  const rows = faultRows(f.lines).map((r) => [r.fault + (r.expectedLoss ? ' †' : ''), r.before, r.after])
  return [
    mdTable(['Fault', 'Before (3cbe43c)', 'This run'], rows),
    '',
    `The fault suite (\`test/faults/\`, real redis-server, app instances in this process and in child processes, the sandbox) ran in ${f.seconds.toFixed(0)} s and ${f.exitCode === 0 ? 'passed: every figure it asserts held' : '**FAILED**'}. ` +
      '"Logged out" is measured, not assumed: once the fault is over, a guarded request must answer 200 and the stored refresh token must still refresh. † The one loss no software can prevent: the process that received Miro\'s answer dies before the write.'
  ].join('\n')
}

function soakSection (s: SoakResult): string {
  const types = [...new Set([...Object.keys(s.resourcesBefore), ...Object.keys(s.resourcesAfter)])].sort()
  return [
    mdTable(['Measure', 'Before', 'After'], [
      ['Heap used after forced GC', fmtMB(s.heapBefore), fmtMB(s.heapAfter) + ` (${s.heapAfter >= s.heapBefore ? '+' : ''}${fmtMB(s.heapAfter - s.heapBefore)})`],
      ['Redis connections (CLIENT LIST, the bench\'s own excluded)', String(s.redisClientsBefore), String(s.redisClientsAfter)],
      ['Active handles of the server child', String(handleTotal(s.resourcesBefore)), String(handleTotal(s.resourcesAfter))],
      ...types.map((t) => [`  ${t}`, String(s.resourcesBefore[t] ?? 0), String(s.resourcesAfter[t] ?? 0)])
    ]),
    '',
    `${fmtInt(s.requests)} requests at ${fmtInt(s.rps)} req/s, ${s.failures} failed.`
  ].join('\n')
}

function profileSection (profiles: ProfileSummary[]): string {
  if (profiles.length === 0) return 'No profile taken (every throughput goal met; `--profile` forces them).'
  return profiles.map((p) => [
    `### ${p.server}`,
    '',
    `${(p.busyMs / 1000).toFixed(1)} s of busy samples; profile: \`${p.file.slice(p.file.indexOf('bench/'))}\`.`,
    '',
    mdTable(['Self time by package', 'share'], p.packages.map((t) => [t.name, (t.share * 100).toFixed(1) + ' %'])),
    '',
    mdTable(['Top functions by self time', 'where', 'share'], p.functions.map((t) => [`\`${t.name}\``, t.where, (t.share * 100).toFixed(1) + ' %']))
  ].join('\n')).join('\n\n')
}

function method (s: Settings, nodeRedis: string, budgetLeft: number): string {
  const { connections, quietWaitSeconds: quiet, othersLimit, retries, contentionBudgetSeconds: budget, stormConcurrency: storm } = s
  return `- Each server runs alone in its own child process (\`dist/bench/servers/main.js <scenario>\`), on 127.0.0.1,
  started fresh for every run: answer checked once (same body on both sides of a pair), warm-up, then the measured run.
  autocannon runs in the parent (${connections} connections, no pipelining). Unless \`--no-pin\` is given (or taskset is
  missing), each server child has the last core to itself and the parent and redis-server the others: on 2 cores the
  scheduler would otherwise let the load generator, which needs more CPU for a faster server, take from that server.
- Paired runs (bench/paired.ts): this VM's speed drifts by 15–50 % from one second to the next (its other tenants), so
  back-to-back runs of two servers differ by more than the few per cent G1 and G2 are about, however they are
  interleaved. A paired run starts a goal's candidate and reference together, both pinned to the server core, warms
  them up and loads both at once (${connections} connections each) for the same seconds: the core is time-shared between them,
  so a drift hits both alike and their req/s ratio is the ratio of their cost per request. A/A pairs (a server and a
  second copy of itself) calibrate it. The side that gets its first request first reads 2–6 % lower for the whole
  round, so the rounds are a crossover: every other one checks, warms up and loads the reference first, and a pair's
  ratio is the geometric mean of the two orders' medians (both shown, "candidate first / reference first"), in which
  that lean cancels. G1 and G2 (candidate and reference on the same stack) are judged by the paired
  ratio; G3 and G4 (Fastify against Express) by the interleaved one, because two different stacks
  sharing a core do not disturb each other alike (caches, Express's busier GC threads). The Goals table shows both and
  marks in bold the one that judges. Scenarios of a group run interleaved
  (A B C A B C …); the table gives medians over the runs during which other processes used ≤ ${othersLimit * 100} % of a
  core ("runs used"; all runs, marked "contended", when fewer than 3 such runs exist). "vs ref" is the ratio of median req/s (what the goals judge); "rounds vs
  ref" the range of the per-round (paired) ratios; "req/CPU-s" is req/s divided by the server's CPU share, i.e.
  requests per CPU-second of the server, a cost-per-request measure that CPU contention and a slow load generator
  distort much less; "vs ref (CPU)" is its ratio. Latencies are exact percentiles of every answer's time (autocannon's
  own histogram has 1 ms resolution).
- CPU columns are shares of one core over the measured run: server (\`process.cpuUsage()\` in the child, sent over IPC),
  load generator (the parent), redis-server (\`/proc/<pid>/stat\`) and every other process of the machine
  (\`/proc/stat\` minus those three: other people's jobs on a shared box). ⚠ marks a scenario whose load generator used
  ≥ ${LOADGEN_LIMIT * 100} % of a core, i.e. the load generator may be the bottleneck. Before each measured run the bench
  waits (up to ${quiet} s) for the machine to be idle, and a run during which other processes used more than
  ${othersLimit * 100} % of a core is measured again (at most ${retries} times, within a ${budget} s budget for the whole bench;
  ${budgetLeft.toFixed(0)} s of it was left at the end). "others CPU" includes hypervisor steal time.
- Same work on both sides: the session pairs use the in-memory stores of @fastify/session and express-session with the
  same settings (saveUninitialized false, no rolling/resave), and a session cookie obtained once by \`GET /setup\`. The
  Redis pairs read one stored user (\`BENCH_STATE\` in bench/fixtures.ts, fastify-miro's format) at \`miro:token:bench-user\`
  (fastify-miro, the plain route) and, byte-identical, at \`bench-user\` (Miro's RedisStorage recipe keys by
  \`userId.toString()\`).
- Scenario 4 is Miro's guide recipe (bench/servers/recipe.ts): Express 5, express-session (logged-in cookie, as the recipe
  runs), node-redis ${nodeRedis} \`RedisStorage\`, \`new Miro({ storage })\` and \`isAuthorized(id)\` per request. One
  RedisStorage instance (one connection) is shared by all requests, as the guide's module-level instance is: a new
  RedisStorage per request would open a Redis connection per request. Express's defaults (ETag, X-Powered-By) are kept.
- Scenario 5h is not in the brief: Fastify + @fastify/session reading the same token state from the same session by hand,
  without fastify-miro. It separates what the framework and session stack cost from what fastify-miro adds (G4).
- Scenario 6: a real login at the sandbox (\`sandbox.approve\` + code exchange), the stored state's \`tokenExpiresAt\`
  moved 1 s into the past, then ${storm} concurrent requests (each on its own connection). The plain SDK posts token
  calls to the hard-coded https://api.miro.com, so the recipe uses \`SandboxTokenMiro\`: \`Miro\` with \`getToken\` copied
  from @mirohq/miro-api 2.2.4 and only the token URL's origin changed to the sandbox; the SDK's own non-locking refresh
  (\`getAccessToken\` → \`refreshAccessToken\` → \`getToken\`, storage write not awaited) is untouched. Nothing reaches the internet.
- Scenario 7 runs scenario 3's server with \`--expose-gc\`: heap after 4 forced GCs, \`CLIENT LIST\` count and
  \`process.getActiveResourcesInfo()\` before and after (after a warm-up, once the closed connections have gone).`
}

export function renderMarkdown (r: Report, nodeRedisVersion: string): string {
  const findingsFile = join(BENCH_SOURCE_DIR, 'FINDINGS.md')
  const findings = existsSync(findingsFile) ? readFileSync(findingsFile, 'utf8').trim() : ''
  const groups = [...new Set(r.scenarios.map((s) => s.reference.server))]
  const others = r.scenarios.map((s) => s.otherCpu).filter((n): n is number => n !== undefined)
  return [
    '# fastify-miro benchmarks',
    '',
    `Generated by \`npm run bench${r.settings.quick ? ' -- --quick' : ''}\` (bench/run.ts) on ${r.date.toISOString()}.` +
      (r.settings.quick ? ' **Quick mode: smoke check only, not for conclusions.**' : ''),
    '',
    `- Node ${r.node} on ${r.cpu}; ${r.redis}.`,
    `- Plugin code measured: ${r.source}.`,
    ...(r.affinity ? [`- CPUs: ${r.affinity}.`] : []),
    `- ${r.settings.rounds} interleaved rounds of ${r.settings.measureSeconds} s (after ${r.settings.warmupSeconds} s warm-up) per scenario; ` +
      `${r.settings.connections} connections; storm ${r.settings.stormRounds} round(s) × ${r.settings.stormConcurrency} requests; soak ${fmtInt(r.settings.soakRequests)} requests. Total ${r.seconds.toFixed(0)} s.`,
    `- Load average at start / end: ${r.loadAverage.start} / ${r.loadAverage.end}. CPU used by other processes during measured runs (median per scenario): ` +
      (others.length ? `${fmtCore(Math.min(...others))} to ${fmtCore(Math.max(...others))} of a core.` : 'n/a.'),
    '',
    '## Goals',
    '',
    mdTable(['Goal', 'What', 'Measured', 'Target', 'Verdict'], goalRows(r)),
    '',
    '## Throughput',
    '',
    ...groups.flatMap((ref) => [
      mdTable(SCENARIO_HEAD, r.scenarios.filter((s) => s.reference.server === ref).map(scenarioRow)),
      ''
    ]),
    r.scenarios.some((s) => s.loadgenBound)
      ? `⚠ The load generator used ≥ ${LOADGEN_LIMIT * 100} % of a core in these runs: their req/s is a lower bound and their ratios are compressed.\n`
      : `The load generator stayed under ${LOADGEN_LIMIT * 100} % of a core in every scenario.\n`,
    '## Paired runs',
    '',
    r.pairs?.length
      ? mdTable(PAIRED_HEAD, pairedRows(r.pairs)) + '\n\nBoth servers of a pair serve load at the same time on one core; the A/A rows pair a server with a second copy of itself and show what the method can resolve.'
      : 'Not run: paired runs need CPU pinning (taskset on Linux, 2+ cores).',
    '',
    '## Refresh storm',
    '',
    stormSection(r.storms),
    '',
    ...(r.routesAndExpiry ? ['## API-heavy routes and the minute of expiry', '', routesAndExpirySection(r.routesAndExpiry), ''] : []),
    '## Soak',
    '',
    soakSection(r.soak),
    '',
    '## Faults: users logged out',
    '',
    faultsSection(r.faults),
    '',
    '## Profiles',
    '',
    profileSection(r.profiles),
    '',
    ...(findings ? ['## Analysis', '', findings, ''] : []),
    '## Method',
    '',
    method(r.settings, nodeRedisVersion, r.contentionBudgetLeft),
    ''
  ].join('\n')
}

export function writeResults (markdown: string): string {
  const file = join(BENCH_SOURCE_DIR, 'RESULTS.md')
  writeFileSync(file, markdown)
  return file
}
