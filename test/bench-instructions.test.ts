// Instructions per request (bench/instructions.ts): callgrind's totals read by event, and a server
// child started through a wrapper command that execs node (as valgrind does).
import { test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ServerChild } from '../bench/child'
import { callgrindTotals } from '../bench/instructions'

test('callgrind totals by event, from the totals line', async (t) => {
  // The shape callgrind writes with --cache-sim after counting was switched on and off: summary reads 0.
  const out = ['# callgrind format', 'version: 1', 'events: Ir Dr Dw I1mr', 'fn=(1) main', '16 3 1 0 0', 'summary: 0', 'totals: 421071543 90736 49195 6220', ''].join('\n')
  t.same(callgrindTotals(out), { Ir: 421071543, Dr: 90736, Dw: 49195, I1mr: 6220 })
  t.throws(() => callgrindTotals('events: Ir\nsummary: 12\n'), /no events and totals lines in the callgrind output/, 'no totals line')
  t.throws(() => callgrindTotals('events: Ir Dr\ntotals: 12\n'), /no events and totals lines/, 'a count missing')
})

test('a server child runs through a wrapper command, keeping its pid and IPC channel', async (t) => {
  const build = t.testdir()
  mkdirSync(join(build, 'bench', 'servers'), { recursive: true })
  const main = join(build, 'bench', 'servers', 'main.js')
  // A stand-in server that tells what the wrapper set and which pid it runs as.
  writeFileSync(main, `
    process.on('message', (m) => { if (m.type === 'stop') process.send({ type: 'stop', id: m.id }, () => process.exit(0)) })
    process.send({ type: 'ready', url: 'http://wrapped.invalid/' + process.env.WRAPPED_BY + '/' + process.pid, headers: {} })
  `)
  const server = await ServerChild.start('redis-plain', {}, { main, wrapper: ['env', 'WRAPPED_BY=env'] })
  t.teardown(() => server.stop())
  t.equal(server.url, `http://wrapped.invalid/env/${server.pid}`, 'node ran under the wrapper, as the process the parent started')
  await server.stop()
})
