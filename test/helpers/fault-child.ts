// A fault-suite app instance in a process of its own, so a test can SIGKILL it mid-refresh.
// argv[2]: the FaultAppOptions as JSON. Prints "PORT <n>" once it listens; exits when its
// stdin closes, so it never outlives the test process that started it.
import type { AddressInfo } from 'node:net'
import { buildFaultApp, type FaultAppOptions } from './fault-app'

async function main (): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '') as FaultAppOptions
  const app = await buildFaultApp(opts)
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(`PORT ${(app.server.address() as AddressInfo).port}\n`)
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
}

main().catch((err: unknown) => {
  process.stderr.write(`fault child failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
