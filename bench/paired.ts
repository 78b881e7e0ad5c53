// Paired runs: a goal's candidate and reference serve load at the same time, both pinned to the
// same core. Whatever the host does to that core (on this VM its speed drifts by 15–50 % from
// one second to the next), it does to both, so their ratio holds still where back-to-back runs
// cannot resolve a few per cent. An A/A pair (a server against a second copy of itself) shows
// how still: its ratio should be 1.00.
// Order matters: the server that gets its first request first (the answer check) serves 2–6 %
// fewer requests for the whole round (bench/FINDINGS.md, "A pair's order"). So the rounds
// are a crossover: every other one checks, warms up and loads the reference first, and the
// ratio is the geometric mean of the two orders' medians, in which that lean cancels.
import { ServerChild, serverMainOf, type ChildOptions } from './child'
import { runLoad, type RunResult } from './load'
import { checkBody, type BenchEnv } from './measure'
import { GOALS, GROUPS, type Scenario } from './scenarios'
import type { ServerConfig } from './protocol'
import { median, minMax } from './stats'

export interface PairedRound { candidate: RunResult, reference: RunResult }

export interface PairedResult {
  /** A goal's id, or "A/A …" for a calibration pair. */
  id: string
  candidate: Scenario
  reference: Scenario
  rounds: PairedRound[]
  /**
   * Candidate req/s ÷ reference req/s: the geometric mean of the two orders' medians (`byOrder`),
   * or the median over rounds when only one order ran (a quick run).
   */
  ratio: number
  /** Median of that ratio over the rounds that began with the candidate, and over those that began with the reference. */
  byOrder?: { candidateFirst: number, referenceFirst: number }
  range: [number, number]
  /** The same in requests per server CPU-second (corrects an uneven split of the core). */
  perCpuRatio: number
  /** The other build whose server was the candidate (BENCH_CANDIDATE_BUILD), if any. */
  candidateBuild?: string
}

const scenarios = new Map<string, Scenario>(GROUPS.flatMap((g) => g.scenarios.map((s) => [s.server, s])))
export const scenarioOf = (server: string): Scenario => {
  const found = scenarios.get(server)
  if (found === undefined) throw new Error(`unknown scenario ${server}`)
  return found
}

/**
 * What is paired: every goal, then (calibration, full runs only) an A/A pair per kind of reference.
 * `only`: the pairs with these ids (`--only-pairs`, BENCH_PAIRS=G2,A/A redis-plain), or all with the calibration when empty.
 * There any server can be paired with itself ("A/A redis-plugin"): against another build
 * (BENCH_CANDIDATE_BUILD), that pair measures a change alone.
 */
export function pairsToRun (calibrate: boolean, only?: string[]): Array<{ id: string, candidate: Scenario, reference: Scenario }> {
  const goals = GOALS.map((g) => ({ id: g.id, candidate: scenarioOf(g.candidate), reference: scenarioOf(g.reference) }))
  const aa = (server: string): { id: string, candidate: Scenario, reference: Scenario } => ({ id: `A/A ${server}`, candidate: scenarioOf(server), reference: scenarioOf(server) })
  const calibration = ['session-reference', 'redis-plain'].map(aa)
  if (only !== undefined) {
    const all = [...goals, ...calibration]
    if (only.length === 0) return all
    const pairOf = (id: string): ReturnType<typeof aa> | undefined =>
      all.find((pair) => pair.id === id) ?? (id.startsWith('A/A ') && scenarios.has(id.slice(4)) ? aa(id.slice(4)) : undefined)
    const pairs = only.map(pairOf)
    const unknown = only.filter((_, i) => pairs[i] === undefined)
    if (unknown.length) {
      throw new Error(`unknown pairs ${unknown.join(', ')}: choose from ${all.map((pair) => pair.id).join(', ')}, or "A/A <server>" with a server of ${[...scenarios.keys()].join(', ')}`)
    }
    return pairs as Array<ReturnType<typeof aa>>
  }
  return calibrate ? [...goals, ...calibration] : goals
}

/** One side of a pair: the scenario's server, the config it starts with, and its entry point when it comes from another build. */
export interface PairSide { scenario: Scenario, config: ServerConfig, main?: string }

/** Both sides at once; `referenceFirst` starts, checks and loads the reference before the candidate. */
export async function pairedLoad (candidate: PairSide, reference: PairSide, env: BenchEnv, referenceFirst: boolean): Promise<PairedRound> {
  const optsOf = (side: PairSide): ChildOptions => side.main === undefined ? { cpus: env.serverCpus } : { cpus: env.serverCpus, main: side.main }
  const both = <T>(forCandidate: () => Promise<T>, forReference: () => Promise<T>): Promise<[T, T]> => referenceFirst
    ? Promise.all([forReference(), forCandidate()]).then(([r, c]) => [c, r])
    : Promise.all([forCandidate(), forReference()])
  const start = (side: PairSide): Promise<ServerChild> => ServerChild.start(side.scenario.server, side.config, optsOf(side))
  const servers = await both(() => start(candidate), () => start(reference))
  try {
    const [c, r] = servers
    for (const [server, side] of referenceFirst ? [[r, reference], [c, candidate]] as const : [[c, candidate], [r, reference]] as const) {
      await checkBody(server, side.scenario)
    }
    const load = { connections: env.settings.connections }
    await both(() => runLoad(c, { ...load, duration: env.settings.warmupSeconds }), () => runLoad(r, { ...load, duration: env.settings.warmupSeconds }))
    const [cr, rr] = await both(
      () => runLoad(c, { ...load, duration: env.settings.measureSeconds }),
      () => runLoad(r, { ...load, duration: env.settings.measureSeconds })
    )
    return { candidate: cr, reference: rr }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

/** Round `i` (from 1) begins with the reference when even. */
const referenceFirstIn = (i: number): boolean => i % 2 === 0

/** The median of the ratios of the rounds of one order (NaN when none ran). */
const medianOfOrder = (ratios: number[], referenceFirst: boolean): number =>
  median(ratios.filter((_, i) => referenceFirstIn(i + 1) === referenceFirst))

/** A pair's ratio from its rounds' ratios, in round order (see PairedResult.ratio). */
export function crossoverRatio (ratios: number[]): Pick<PairedResult, 'ratio' | 'byOrder'> {
  const byOrder = { candidateFirst: medianOfOrder(ratios, false), referenceFirst: medianOfOrder(ratios, true) }
  if (!Number.isFinite(byOrder.candidateFirst) || !Number.isFinite(byOrder.referenceFirst)) return { ratio: median(ratios) }
  return { ratio: Math.sqrt(byOrder.candidateFirst * byOrder.referenceFirst), byOrder }
}

/** A pair's rounds (settings.pairedRounds, in crossover order) and their ratio; `onRound` sees each round as it ends. */
export async function pairedRounds (
  candidate: PairSide, reference: PairSide, env: BenchEnv, onRound?: (round: PairedRound, i: number, referenceFirst: boolean) => void
): Promise<Pick<PairedResult, 'rounds' | 'ratio' | 'byOrder' | 'range'>> {
  const rounds: PairedRound[] = []
  for (let i = 1; i <= env.settings.pairedRounds; i++) {
    const round = await pairedLoad(candidate, reference, env, referenceFirstIn(i))
    rounds.push(round)
    onRound?.(round, i, referenceFirstIn(i))
  }
  const ratios = rounds.map((r) => r.candidate.rps / r.reference.rps)
  return { rounds, ...crossoverRatio(ratios), range: minMax(ratios) }
}

export async function runPairs (env: BenchEnv): Promise<PairedResult[]> {
  if (env.serverCpus === undefined) {
    env.log('\nPaired runs skipped: they need both servers pinned to one core (see affinity.ts)')
    return []
  }
  const build = env.settings.candidateBuild
  const candidateMain = build === undefined ? undefined : serverMainOf(build) // checked once, before any round
  env.log(`\nPaired runs (candidate and reference at once, both on CPU ${env.serverCpus})` + (build === undefined ? '' : `; every candidate runs from the build in ${build}`))
  const results: PairedResult[] = []
  for (const { id, candidate, reference } of pairsToRun(!env.settings.quick, env.settings.onlyPairs)) {
    const candidateSide = { scenario: candidate, config: env.config, ...(candidateMain === undefined ? {} : { main: candidateMain }) }
    const { rounds, ...ratio } = await pairedRounds(candidateSide, { scenario: reference, config: env.config }, env, (round, i, referenceFirst) => {
      env.log(`  ${id.padEnd(22)} round ${i}  ${candidate.server} ${Math.round(round.candidate.rps)} req/s, ` +
        `${reference.server} ${Math.round(round.reference.rps)} req/s: ${(round.candidate.rps / round.reference.rps).toFixed(3)}` +
        ` (${referenceFirst ? 'reference' : 'candidate'} first)`)
    })
    results.push({
      id,
      candidate,
      reference,
      rounds,
      ...ratio,
      perCpuRatio: median(rounds.map((r) => (r.candidate.rps / r.candidate.serverCpu) / (r.reference.rps / r.reference.serverCpu))),
      ...(build === undefined ? {} : { candidateBuild: build })
    })
  }
  return results
}
