// From raw runs to what is reported: medians per scenario, ratios, and goal verdicts.
import { LOADGEN_LIMIT, type RunResult } from './load'
import type { Runs } from './measure'
import type { PairedResult } from './paired'
import { GOALS, type Goal, type Group, type Scenario } from './scenarios'
import type { SoakResult } from './soak'
import { median, minMax } from './stats'
import type { StormResult } from './storm'

/** Which runs count: those other processes left alone, when there are enough of them. */
export interface Selection {
  /** A run during which other processes used more than this share of a core is "contended". */
  othersLimit: number
  /** Medians use only uncontended runs when at least this many exist, otherwise every run. */
  minClean: number
}

export interface ScenarioSummary {
  scenario: Scenario
  reference: Scenario
  rounds: number
  /** Runs the medians are taken over. */
  used: number
  /** Too few uncontended runs: the medians include contended ones. */
  contended: boolean
  rps: number
  p50: number
  p99: number
  /** Ratio of median req/s to the group reference's. */
  ratio: number
  /** Ratios of the same round (paired runs), min and max. */
  roundRatios: [number, number]
  serverCpu: number
  loadCpu: number
  redisCpu?: number
  otherCpu?: number
  failures: number
  loadgenBound: boolean
  /** Requests per CPU-second of the server: the cost per request, insensitive to CPU contention. */
  perCpu: number
  perCpuRatio: number
  /** Measurements dropped and re-taken because other processes were busy. */
  retried: number
}

export interface GoalVerdict {
  goal: Goal
  /** Interleaved runs (one server at a time): ratio of median req/s, and per round. */
  ratio: number
  roundRatios: [number, number]
  /** The same ratio in requests per server CPU-second. */
  perCpuRatio: number
  /** Paired runs (both servers at once on one core), when the bench could pin them. */
  paired?: { ratio: number, range: [number, number], perCpuRatio: number }
  /** Judged by the runs `goal.judgedBy` names (interleaved when there are no paired runs). */
  judgedBy: 'paired' | 'interleaved'
  met: boolean
}

const perCpuOf = (runs: RunResult[]): number => median(runs.map((r) => r.rps / r.serverCpu))

export interface CheckVerdict { id: string, title: string, measured: string, met: boolean }

const isClean = (r: RunResult, sel: Selection): boolean => (r.otherCpu ?? 0) <= sel.othersLimit

function selected (list: RunResult[], sel: Selection): { runs: RunResult[], contended: boolean } {
  const clean = list.filter((r) => isClean(r, sel))
  return clean.length >= sel.minClean ? { runs: clean, contended: false } : { runs: list, contended: true }
}

const pick = (runs: RunResult[], f: (r: RunResult) => number | undefined): number | undefined => {
  const values = runs.map(f).filter((v): v is number => v !== undefined)
  return values.length ? median(values) : undefined
}

/** Ratios of the runs of the same round, over the rounds where both runs were uncontended (all rounds if none). */
function sameRoundRatios (runs: Runs, candidate: string, reference: string, sel: Selection): number[] {
  const a = runs.get(candidate) ?? []
  const b = runs.get(reference) ?? []
  const pairs = a.slice(0, b.length).map((r, i) => [r, b[i] as RunResult] as const)
  const clean = pairs.filter(([x, y]) => isClean(x, sel) && isClean(y, sel))
  return (clean.length ? clean : pairs).map(([x, y]) => x.rps / y.rps)
}

export function summarizeGroups (groups: Group[], runs: Runs, sel: Selection): ScenarioSummary[] {
  const out: ScenarioSummary[] = []
  for (const group of groups) {
    const reference = group.scenarios[0] as Scenario
    const refRuns = selected(runs.get(reference.server) ?? [], sel).runs
    const refRps = median(refRuns.map((r) => r.rps))
    const refPerCpu = perCpuOf(refRuns)
    for (const scenario of group.scenarios) {
      const all = runs.get(scenario.server) ?? []
      const { runs: list, contended } = selected(all, sel)
      const loadCpu = pick(list, (r) => r.loadCpu) ?? NaN
      const redisCpu = pick(list, (r) => r.redisCpu)
      const otherCpu = pick(list, (r) => r.otherCpu)
      const rps = median(list.map((r) => r.rps))
      const perCpu = perCpuOf(list)
      out.push({
        scenario,
        reference,
        rounds: all.length,
        used: list.length,
        contended,
        rps,
        p50: median(list.map((r) => r.p50)),
        p99: median(list.map((r) => r.p99)),
        ratio: rps / refRps,
        roundRatios: minMax(sameRoundRatios(runs, scenario.server, reference.server, sel)),
        serverCpu: pick(list, (r) => r.serverCpu) ?? NaN,
        loadCpu,
        ...(redisCpu === undefined ? {} : { redisCpu }),
        ...(otherCpu === undefined ? {} : { otherCpu }),
        failures: all.reduce((n, r) => n + r.failures, 0),
        loadgenBound: loadCpu >= LOADGEN_LIMIT,
        perCpu,
        perCpuRatio: perCpu / refPerCpu,
        retried: all.reduce((n, r) => n + (r.retried ?? 0), 0)
      })
    }
  }
  return out
}

export function judgeGoals (runs: Runs, sel: Selection, pairs: PairedResult[] = []): GoalVerdict[] {
  return GOALS.map((goal) => {
    const candidate = selected(runs.get(goal.candidate) ?? [], sel).runs
    const reference = selected(runs.get(goal.reference) ?? [], sel).runs
    const ratio = median(candidate.map((r) => r.rps)) / median(reference.map((r) => r.rps))
    const perCpuRatio = perCpuOf(candidate) / perCpuOf(reference)
    const pair = pairs.find((p) => p.id === goal.id)
    const paired = pair && { ratio: pair.ratio, range: pair.range, perCpuRatio: pair.perCpuRatio }
    return {
      goal,
      ratio,
      roundRatios: minMax(sameRoundRatios(runs, goal.candidate, goal.reference, sel)),
      perCpuRatio,
      ...(paired ? { paired } : {}),
      judgedBy: goal.judgedBy === 'paired' && paired ? 'paired' : 'interleaved',
      met: (goal.judgedBy === 'paired' && paired ? paired.ratio : ratio) >= goal.target
    }
  })
}

export function judgeStorm (storms: StormResult[]): CheckVerdict {
  const plugin = storms.filter((s) => s.side === 'plugin')
  const calls = plugin.map((s) => s.refreshCalls)
  const failed = plugin.map((s) => s.requests - s.ok)
  return {
    id: 'G5',
    title: 'Refresh storm (200 concurrent requests, expired token): fastify-miro makes 1 token call, 0 requests fail',
    measured: `${calls.join(', ')} refresh call(s), ${failed.join(', ')} failed, per round`,
    met: plugin.length > 0 && calls.every((c) => c === 1) && failed.every((f) => f === 0) && plugin.every((s) => s.loggedInAfter)
  }
}

export const HEAP_LIMIT_BYTES = 5 * 1024 * 1024

export function handleTotal (resources: Record<string, number>): number {
  return Object.values(resources).reduce((a, b) => a + b, 0)
}

export function judgeSoak (soak: SoakResult): CheckVerdict {
  const growth = soak.heapAfter - soak.heapBefore
  const handles = [handleTotal(soak.resourcesBefore), handleTotal(soak.resourcesAfter)]
  return {
    id: 'G6',
    title: `Soak (${soak.requests.toLocaleString('en-US')} requests, scenario 3): heap +< 5 MB, no Redis connection or handle leak`,
    measured: `heap ${growth >= 0 ? '+' : ''}${(growth / 1048576).toFixed(2)} MB, Redis clients ${soak.redisClientsBefore} → ${soak.redisClientsAfter}, ` +
      `handles ${handles[0]} → ${handles[1]}, ${soak.failures} failed`,
    met: growth < HEAP_LIMIT_BYTES && soak.redisClientsAfter <= soak.redisClientsBefore &&
      (handles[1] as number) <= (handles[0] as number) && soak.failures === 0
  }
}
