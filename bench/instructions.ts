// Instructions per request, counted by valgrind's callgrind: a figure the host's speed does not move
// (the same binary and inputs give the same count whatever else the VM does), where req/s drift
// with it and a paired ratio's last per cent moves from run to run (bench/FINDINGS.md).
// `node dist/bench/instructions.js [--requests N] [--rounds R] [--connections C] [--cache-sim] [server…]` (default: redis-plain redis-plugin);
// --cache-sim adds callgrind's simulated cache misses per request (D1mr, DLmr…), the same on any host.
// Each server child runs under callgrind with counting off; after a warm-up (V8's tiers settle)
// counting is switched on for exactly N requests, then off, and the child's total is divided by N.
// Everything the process does meanwhile counts: V8's GC threads, libuv, the ioredis client.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ServerChild } from './child'
import { runLoad } from './load'
import { checkBody, seedBenchUser } from './measure'
import { scenarioOf } from './paired'
import { startBenchRedis } from './redis'
import { fmtInt, median, minMax } from './stats'

export interface InstructionCount {
  server: string
  requests: number
  /** Each event's count per request: Ir (instructions) always, the simulated caches' misses with cacheSim. */
  perRequest: Record<string, number>
}

const hasCallgrind = (): boolean => spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('callgrind_control', ['--version'], { stdio: 'ignore' }).status === 0

function callgrindControl (pid: number, ...args: string[]): void {
  const done = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' })
  if (done.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} ${pid} failed: ${done.stderr}`)
}

/**
 * The totals of a callgrind output file by event (Ir: instructions; with --cache-sim, D1mr, DLmr…: simulated
 * cache misses): its "events:" and "totals:" lines ("summary:" reads 0 once counting was toggled).
 */
export function callgrindTotals (out: string): Record<string, number> {
  const lines = out.split('\n')
  const names = lines.find((l) => l.startsWith('events:'))?.split(/\s+/).slice(1) ?? []
  const values = lines.find((l) => l.startsWith('totals:'))?.split(/\s+/).slice(1).map(Number) ?? []
  if (names.length === 0 || values.length !== names.length || !values.every(Number.isFinite)) throw new Error('no events and totals lines in the callgrind output')
  return Object.fromEntries(names.map((name, i) => [name, values[i] as number]))
}

export interface CountOptions {
  requests: number
  warmup: number
  /** Requests in flight at once. With 1, every request costs one wake-up of the event loop, so the count does not depend on how many answers one wake-up batches (with 10: ±2 % between runs). */
  connections: number
  cacheSim: boolean
}

export async function countInstructions (server: string, redisUrl: string, opts: CountOptions): Promise<InstructionCount> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-miro-callgrind-'))
  const outFile = join(dir, 'callgrind.out')
  const child = await ServerChild.start(server, { redisUrl }, {
    // --smc-check: V8 writes and rewrites machine code on its heap, which valgrind must see.
    wrapper: ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${outFile}`, `--cache-sim=${opts.cacheSim ? 'yes' : 'no'}`]
  })
  try {
    const pid = child.pid
    if (pid === undefined) throw new Error('the server child has no pid')
    await checkBody(child, scenarioOf(server))
    await runLoad(child, { connections: opts.connections, amount: opts.warmup })
    callgrindControl(pid, '--instr=on')
    const measured = await runLoad(child, { connections: opts.connections, amount: opts.requests })
    callgrindControl(pid, '--instr=off')
    if (measured.failures > 0) throw new Error(`${server}: ${measured.failures} of ${opts.requests} requests failed under callgrind`)
    await child.stop() // callgrind writes its file at exit; counting is off by then
    const totals = callgrindTotals(readFileSync(outFile, 'utf8'))
    return { server, requests: measured.requests, perRequest: Object.fromEntries(Object.entries(totals).map(([event, n]) => [event, n / measured.requests])) }
  } finally {
    await child.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const option = (name: string, fallback: number): number => {
    const at = argv.indexOf(name)
    return at === -1 ? fallback : Number(argv[at + 1])
  }
  const requests = option('--requests', 5000)
  const rounds = option('--rounds', 3)
  const connections = option('--connections', 1)
  // Server names: what is neither a flag nor the value of one of the options above (--cache-sim takes none).
  const valued = new Set(['--requests', '--rounds', '--connections'])
  const named = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1] ?? ''))
  const servers = named.length ? named : ['redis-plain', 'redis-plugin']
  if (!hasCallgrind()) throw new Error('valgrind (with callgrind_control) not found: apt-get install -y valgrind')
  const redis = await startBenchRedis()
  try {
    await seedBenchUser(redis)
    const counts = new Map<string, Array<Record<string, number>>>()
    const cacheSim = argv.includes('--cache-sim')
    const perEvent = (c: Record<string, number>): string => Object.entries(c).map(([event, n]) => `${event} ${fmtInt(n)}`).join(', ')
    for (let round = 1; round <= rounds; round++) {
      for (const server of servers) {
        const c = await countInstructions(server, redis.url, { requests, warmup: 2 * requests, connections, cacheSim })
        counts.set(server, [...(counts.get(server) ?? []), c.perRequest])
        console.log(`round ${round} ${server.padEnd(24)} per request: ${perEvent(c.perRequest)} (${c.requests} requests)`)
      }
    }
    for (const [server, list] of counts) {
      const events = Object.keys(list[0] ?? {})
      console.log(`${server.padEnd(24)} medians per request: ${events.map((event) => {
        const values = list.map((c) => c[event] ?? NaN)
        const [lo, hi] = minMax(values)
        return `${event} ${fmtInt(median(values))} (${fmtInt(lo)}–${fmtInt(hi)})`
      }).join(', ')}`)
    }
  } finally {
    await redis.stop()
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
