// `npm run bench` (node dist/bench/run.js [--quick] [--only-new] [--profile] [--no-pin] [--faults|--no-faults]): throughput pairs,
// paired runs, refresh storm, soak, the fault suite's users logged out, profiles of missed goals; prints a table and
// writes bench/RESULTS.md
// (--quick writes its report to the OS temp directory instead, leaving RESULTS.md alone;
// --rerender rebuilds RESULTS.md from bench/results.json, the last full run's data;
// --only-new, or BENCH_ONLY_NEW=1, runs only issue 17's scenarios 7–10 and writes their report to the temp directory;
// BENCH_NEW_SCENARIOS=8 (a comma list) runs only those of them;
// --only-pairs runs only the paired runs, BENCH_PAIRS=G1,G2 (a comma list) only those pairs, and writes them to the temp directory).
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pinBench, type AffinityPlan } from './affinity'
import { runFaults, type FaultsResult } from './faults'
import { cpuModel, loadAverage } from './machine'
import { runGroups, seedBenchUser, type BenchEnv } from './measure'
import { runPairs } from './paired'
import { judgeRoutesAndExpiry, routesAndExpirySection, runRoutesAndExpiry } from './routes-and-expiry'
import { profileServer, type ProfileSummary } from './profile'
import { startBenchRedis } from './redis'
import { BENCH_SOURCE_DIR, pairedTable, renderMarkdown, renderText, writeResults, type Report } from './report'
import { GOALS, GROUPS, type Scenario } from './scenarios'
import { settingsFrom } from './settings'
import { sourceState } from './source'
import { runSoak } from './soak'
import { runStorms } from './storm'
import { judgeGoals, judgeSoak, judgeStorm, summarizeGroups } from './summary'

/** The last full run's data, so that `--rerender` can rebuild RESULTS.md (e.g. after bench/FINDINGS.md changed). */
const RAW_FILE = join(BENCH_SOURCE_DIR, 'results.json')

function rerender (): void {
  const saved = JSON.parse(readFileSync(RAW_FILE, 'utf8')) as { report: Report, nodeRedis: string }
  const report = { ...saved.report, date: new Date(saved.report.date) }
  console.log(`Report of the run of ${report.date.toISOString()} written to ${writeResults(renderMarkdown(report, saved.nodeRedis))}`)
}

function describeAffinity (plan: AffinityPlan): string {
  return plan.pinned
    ? `each server child pinned to CPU ${plan.affinity.serverCpus}, the load generator and redis-server to CPU ${plan.affinity.loadCpus} (taskset)`
    : `unpinned (${plan.why})`
}

const byServer = new Map<string, Scenario>(GROUPS.flatMap((g) => g.scenarios.map((s) => [s.server, s])))

async function main (): Promise<void> {
  const started = Date.now()
  const settings = settingsFrom(process.argv.slice(2))
  if (settings.candidateBuild !== undefined && settings.onlyPairs === undefined) {
    throw new Error('BENCH_CANDIDATE_BUILD pairs another build against this one, and goes with --only-pairs only: a full run measures this build')
  }
  const loadStart = loadAverage()
  const source = sourceState()
  const plan = pinBench(settings.pin) // before redis-server starts: it inherits this process's cores
  const redis = await startBenchRedis()
  const log = (line: string): void => { console.log(line) }
  try {
    const redisVersion = (await redis.client.info('server')).match(/redis_version:(\S+)/)?.[1] ?? '?'
    await seedBenchUser(redis)
    const env: BenchEnv = {
      redis,
      config: { redisUrl: redis.url },
      settings,
      log,
      budget: { left: settings.contentionBudgetSeconds },
      serverCpus: plan.pinned ? plan.affinity.serverCpus : undefined
    }
    log(`fastify-miro bench (${settings.quick ? 'quick' : 'full'}), Redis ${redisVersion} at ${redis.url}; ${describeAffinity(plan)}`)

    if (settings.onlyNew) {
      // Only issue 17's scenarios: their section and verdicts, written to the OS temp directory.
      const result = await runRoutesAndExpiry(env)
      const verdicts = judgeRoutesAndExpiry(result)
      const file = join(tmpdir(), 'fastify-miro-bench-new.md')
      writeFileSync(file, routesAndExpirySection(result) + '\n\n' + verdicts.map((v) => `- ${v.id} ${v.met ? 'met' : '**MISSED**'}: ${v.title}: ${v.measured}`).join('\n') + '\n')
      for (const v of verdicts) log(`${v.id} ${v.met ? 'met' : 'MISSED'}: ${v.title}: ${v.measured}`)
      log(`Report of the new scenarios written to ${file} (bench/RESULTS.md is left as it was).`)
      return
    }
    if (settings.onlyPairs !== undefined) {
      // Only the paired runs (e.g. BENCH_PAIRS=G2 for one goal's 10 rounds), written to the OS temp directory.
      const pairs = await runPairs(env)
      const file = join(tmpdir(), 'fastify-miro-bench-pairs.md')
      writeFileSync(file, pairedTable(pairs, 'markdown') + '\n')
      log('\n' + pairedTable(pairs, 'text'))
      log(`Report of the paired runs written to ${file} (bench/RESULTS.md is left as it was).`)
      return
    }
    const runs = await runGroups(GROUPS, env)
    const pairs = await runPairs(env)
    const storms = await runStorms(env)
    const soak = await runSoak(env)
    const routesAndExpiry = await runRoutesAndExpiry(env)
    // Last, with the CPUs to itself again: it starts its own Redis servers and app instances.
    const faults: FaultsResult | undefined = settings.faults ? await runFaults(join(BENCH_SOURCE_DIR, '..'), log) : undefined
    const selection = { othersLimit: settings.othersLimit, minClean: settings.quick ? 1 : 3 }
    const goals = judgeGoals(runs, selection, pairs)

    // Where the time goes, for every pair whose goal was missed (or all with --profile).
    const profiles: ProfileSummary[] = []
    const toProfile = new Set<string>()
    for (const verdict of goals) {
      if (settings.profileAll || (settings.profileMisses && !verdict.met)) {
        toProfile.add(verdict.goal.candidate)
        toProfile.add(verdict.goal.reference)
        for (const server of verdict.goal.alsoProfile ?? []) toProfile.add(server)
      }
    }
    if (toProfile.size) log('\nProfiles')
    for (const server of toProfile) profiles.push(await profileServer(byServer.get(server) as Scenario, env))

    const report: Report = {
      date: new Date(),
      node: process.versions.node,
      cpu: cpuModel(),
      redis: process.env.REDIS_URL ? `Redis ${redisVersion} from REDIS_URL` : `private redis-server ${redisVersion} (persistence off) on loopback`,
      source,
      settings,
      affinity: describeAffinity(plan),
      loadAverage: { start: loadStart, end: loadAverage() },
      seconds: (Date.now() - started) / 1000,
      scenarios: summarizeGroups(GROUPS, runs, selection),
      pairs,
      contentionBudgetLeft: env.budget.left,
      goals,
      checks: [judgeStorm(storms), judgeSoak(soak), ...judgeRoutesAndExpiry(routesAndExpiry)],
      storms,
      soak,
      ...(faults ? { faults } : {}),
      profiles,
      routesAndExpiry
    }
    log(renderText(report))
    const nodeRedis = (require('redis/package.json') as { version: string }).version
    const markdown = renderMarkdown(report, nodeRedis)
    if (settings.quick) {
      const file = join(tmpdir(), 'fastify-miro-bench-quick.md')
      writeFileSync(file, markdown)
      log(`Quick run: report written to ${file} (bench/RESULTS.md is left as it was).`)
    } else {
      writeFileSync(RAW_FILE, JSON.stringify({ report, nodeRedis }, null, 1))
      log(`Report written to ${writeResults(markdown)} (raw data: ${RAW_FILE})`)
    }
    const missed = [...goals.filter((g) => !g.met).map((g) => g.goal.id), ...report.checks.filter((c) => !c.met).map((c) => c.id)]
    if (faults !== undefined && faults.exitCode !== 0) missed.push('faults (the fault suite failed)')
    log(missed.length ? `Goals missed: ${missed.join(', ')} (see the Profiles and Analysis sections).` : `All ${GOALS.length + report.checks.length} goals met.`)
  } finally {
    await redis.stop()
  }
}

if (process.argv.includes('--rerender')) {
  rerender()
} else {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
