// A server child: `node dist/bench/servers/main.js <scenario> '<config json>'`, forked by the
// orchestrator. Starts one server, reports `ready`, then answers cpu / heap / stop over IPC.
import type { Command, FromChild, HeapSample, ServerConfig } from '../protocol'
import { startServer } from './catalog'

const send = (message: FromChild): void => { process.send?.(message) }

function heapSample (): HeapSample {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return { heapUsed: -1, resources: countResources() }
  for (let i = 0; i < 4; i++) gc()
  return { heapUsed: process.memoryUsage().heapUsed, resources: countResources() }
}

function countResources (): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

async function main (): Promise<void> {
  const [name = '', configJson = '{}'] = process.argv.slice(2)
  const server = await startServer(name, JSON.parse(configJson) as ServerConfig)
  process.on('message', (command: Command) => {
    if (command.type === 'cpu') {
      const { user, system } = process.cpuUsage()
      send({ type: 'cpu', id: command.id, sample: { user, system, atNs: Number(process.hrtime.bigint()) } })
    } else if (command.type === 'heap') {
      send({ type: 'heap', id: command.id, sample: heapSample() })
    } else if (command.type === 'stop') {
      server.close().finally(() => {
        // process.exit() still lets --cpu-prof write its profile.
        process.send?.({ type: 'stop', id: command.id }, () => process.exit(0))
      })
    }
  })
  send({ type: 'ready', url: server.url, headers: server.headers })
}

main().catch((err: unknown) => {
  send({ type: 'failed', message: err instanceof Error ? err.stack ?? err.message : String(err) })
  process.exitCode = 1
  process.disconnect()
})
