// The machine: CPU model, and how busy all its cores are (/proc/stat), so that CPU used by
// other processes during a run (other people's tests on a shared box) can be reported.
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'

export function cpuModel (): string {
  const list = cpus()
  return `${list[0]?.model.trim() ?? 'unknown'} (${list.length} cores)`
}

/** Busy CPU seconds of the whole machine since boot (all cores), undefined off Linux. */
export function machineBusySeconds (): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const ticks = line.trim().split(/\s+/).slice(1).map(Number)
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0)
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
    return (total - idle) / 100
  } catch {
    return undefined
  }
}

export function loadAverage (): string {
  return loadavg().map((n) => n.toFixed(2)).join(' ')
}

/**
 * Waits (at most `maxSeconds`) until the machine is idle: less than `threshold` of a core busy
 * over a 0.5 s window. Returns the busy share seen last.
 */
export async function waitForQuiet (maxSeconds: number, threshold = 0.25): Promise<number | undefined> {
  const deadline = Date.now() + maxSeconds * 1000
  for (;;) {
    const before = machineBusySeconds()
    await sleep(500)
    const after = machineBusySeconds()
    if (before === undefined || after === undefined) return undefined
    const busy = (after - before) / 0.5
    if (busy < threshold || Date.now() >= deadline) return busy
  }
}
