// Durations and sizes of a full run and of `--quick`.

export interface Settings {
  quick: boolean
  /** Only issue 17's scenarios (routes-and-expiry.ts): --only-new or BENCH_ONLY_NEW=1. */
  onlyNew: boolean
  /** Only the paired runs (--only-pairs): those of BENCH_PAIRS=G1,G2, or (an empty list) every goal and A/A pair. */
  onlyPairs?: string[]
  /**
   * Another build of this package (its `dist/` directory, BENCH_CANDIDATE_BUILD) whose servers
   * play every pair's candidate, for pairing a change against the build before it (--only-pairs only).
   */
  candidateBuild?: string
  /** Pin server children to one core and the load generator to the others (affinity.ts); --no-pin turns it off. */
  pin: boolean
  rounds: number
  /** Rounds of each paired run (paired.ts); even, so that each side begins half of them. */
  pairedRounds: number
  warmupSeconds: number
  measureSeconds: number
  connections: number
  stormRounds: number
  stormConcurrency: number
  soakRequests: number
  soakWarmupRequests: number
  /** Profile the servers of a missed goal (always with --profile). */
  profileMisses: boolean
  profileAll: boolean
  profileSeconds: number
  /** Run the fault suite and report users logged out per fault (full runs; --faults / --no-faults). */
  faults: boolean
  /** Before each measured run, wait up to this long for other processes to leave the CPUs alone. */
  quietWaitSeconds: number
  /** A run during which other processes used more than this share of a core is measured again… */
  othersLimit: number
  /** …at most this many times… */
  retries: number
  /** …while the whole bench has spent less than this many seconds waiting and retrying. */
  contentionBudgetSeconds: number
}

/** BENCH_PAIRS's ids; none (every goal and A/A pair) when it is unset. */
const pairIds = (list: string | undefined): string[] => (list ?? '').split(',').map((id) => id.trim()).filter((id) => id !== '')

export function settingsFrom (argv: string[]): Settings {
  const quick = argv.includes('--quick')
  const profileAll = argv.includes('--profile')
  const base = quick
    ? { rounds: 1, pairedRounds: 1, warmupSeconds: 0.3, measureSeconds: 1, stormRounds: 1, soakRequests: 10_000, soakWarmupRequests: 2_000, profileMisses: false }
    : { rounds: 7, pairedRounds: 10, warmupSeconds: 2, measureSeconds: 4, stormRounds: 3, soakRequests: 200_000, soakWarmupRequests: 20_000, profileMisses: true }
  return {
    quick,
    onlyNew: argv.includes('--only-new') || process.env.BENCH_ONLY_NEW === '1',
    ...(argv.includes('--only-pairs') ? { onlyPairs: pairIds(process.env.BENCH_PAIRS) } : {}),
    ...(process.env.BENCH_CANDIDATE_BUILD ? { candidateBuild: process.env.BENCH_CANDIDATE_BUILD } : {}),
    pin: !argv.includes('--no-pin'),
    ...base,
    connections: 10,
    stormConcurrency: 200,
    profileAll,
    faults: argv.includes('--faults') || (!quick && !argv.includes('--no-faults')),
    profileSeconds: quick ? 2 : 5,
    quietWaitSeconds: quick ? 0 : 3,
    othersLimit: 0.25,
    retries: quick ? 0 : 2,
    contentionBudgetSeconds: quick ? 0 : 120
  }
}
