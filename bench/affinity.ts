// CPU pinning. On a 2-core machine the scheduler would otherwise mix the server, the load
// generator and redis-server on both cores, and a faster server (whose load generator needs
// more CPU) loses more to that. With `taskset` (Linux), every server child gets the last core
// to itself; this process (autocannon, the sandbox) and redis-server share the others.
import { spawnSync } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'

export interface Affinity {
  /** taskset CPU list of the server children, e.g. "1". */
  serverCpus: string
  /** taskset CPU list of this process and what it starts (redis-server), e.g. "0". */
  loadCpus: string
}

/** Why the bench runs unpinned, or the pinning it applied. */
export type AffinityPlan = { pinned: true, affinity: Affinity } | { pinned: false, why: string }

const hasTaskset = (): boolean => spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0

/**
 * Pins this process (all its threads) to every core but the last and returns the server's
 * core. Call it before starting redis-server, which inherits the affinity.
 */
export function pinBench (wanted: boolean): AffinityPlan {
  if (!wanted) return { pinned: false, why: 'turned off with --no-pin' }
  const cores = availableParallelism()
  if (process.platform !== 'linux' || cores < 2) return { pinned: false, why: `needs Linux and 2 cores (${process.platform}, ${cores})` }
  if (!hasTaskset()) return { pinned: false, why: 'taskset not found (util-linux)' }
  const last = cores - 1
  const affinity = { serverCpus: String(last), loadCpus: last === 1 ? '0' : `0-${last - 1}` }
  const pinned = spawnSync('taskset', ['-a', '-cp', affinity.loadCpus, String(process.pid)], { stdio: 'ignore' })
  if (pinned.status !== 0) return { pinned: false, why: 'taskset could not set this process\'s affinity' }
  return { pinned: true, affinity }
}

/** The command that runs `command` on `cpuList` (taskset execs it: same pid, same IPC channel). */
export function pinnedCommand (cpuList: string, command: string, args: string[]): { command: string, args: string[] } {
  return { command: 'taskset', args: ['-c', cpuList, command, ...args] }
}

/**
 * The command that runs `command` on every core again. Children inherit this process's pinning:
 * the fault suite (bench/faults.ts) squeezed onto the load generator's core ran 60 % longer than
 * under `npm test`, and its timing checks and figures were no longer the suite's own.
 */
export function onAllCpus (command: string, args: string[]): { command: string, args: string[] } {
  if (process.platform !== 'linux' || !hasTaskset()) return { command, args }
  // cpus(), not availableParallelism(): the latter counts only the cores this process is pinned to.
  return { command: 'taskset', args: ['-c', `0-${cpus().length - 1}`, command, ...args] }
}
