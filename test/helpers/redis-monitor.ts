// Counts, at the Redis server, the commands one connection sends: MONITOR on a connection of
// its own, filtered by the watched connection's address (CLIENT LIST). Real commands as Redis
// received them, nothing in between.
import { Redis } from 'ioredis'

export interface CommandCounter {
  /** Commands (lower-case names) the watched connection has sent since the last reset, once all have arrived. */
  counts (): Promise<Map<string, number>>
  reset (): Promise<void>
  stop (): void
}

export async function watchCommands (url: string, watched: Redis): Promise<CommandCounter> {
  const name = 'watched-' + Math.random().toString(36).slice(2)
  await watched.client('SETNAME', name)
  const probe = new Redis(url)
  const list = String(await probe.client('LIST'))
  probe.disconnect()
  const addr = /addr=(\S+)/.exec(list.split('\n').find((line) => line.includes(` name=${name} `)) ?? '')?.[1]
  if (addr === undefined) throw new Error('the watched connection is not in CLIENT LIST')
  const base = new Redis(url)
  const monitor = await base.monitor()
  let seen = new Map<string, number>()
  const marks = new Set<string>()
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== addr) return
    const command = String(args[0]).toLowerCase()
    if (command === 'echo' && String(args[1]).startsWith('mark-')) marks.add(String(args[1]))
    else seen.set(command, (seen.get(command) ?? 0) + 1)
  })
  // A mark sent last on the watched connection: once MONITOR shows it, it has shown all before it.
  const settle = async (): Promise<void> => {
    const mark = 'mark-' + Math.random().toString(36).slice(2)
    await watched.echo(mark)
    const deadline = Date.now() + 5000
    while (!marks.has(mark)) {
      if (Date.now() > deadline) throw new Error('MONITOR did not show the mark within 5 s')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  return {
    async counts () { await settle(); return new Map(seen) },
    async reset () { await settle(); seen = new Map() },
    stop () { monitor.disconnect(); base.disconnect() }
  }
}
