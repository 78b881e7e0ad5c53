// Pairing one build against another (BENCH_CANDIDATE_BUILD with --only-pairs): a change measured
// alone, its server as the candidate and this build's as the reference, on one core at once.
import { test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ServerChild, serverMainOf } from '../bench/child'
import { pairsToRun } from '../bench/paired'
import { settingsFrom } from '../bench/settings'

test('any server can be paired with itself, by id', async (t) => {
  const [pair] = pairsToRun(false, ['A/A redis-plugin'])
  t.equal(pair?.id, 'A/A redis-plugin')
  t.equal(pair?.candidate.server, 'redis-plugin')
  t.equal(pair?.reference.server, 'redis-plugin')
  t.same(pairsToRun(false, ['G2', 'A/A redis-plain']).map((p) => p.id), ['G2', 'A/A redis-plain'], 'goals and the calibration pairs as before, in the order asked')
  t.throws(() => pairsToRun(false, ['A/A no-such-server']), /unknown pairs A\/A no-such-server: .*"A\/A <server>" with a server of .*redis-plugin/)
})

test('BENCH_CANDIDATE_BUILD names the other build', async (t) => {
  const before = process.env.BENCH_CANDIDATE_BUILD
  t.teardown(() => {
    if (before === undefined) delete process.env.BENCH_CANDIDATE_BUILD
    else process.env.BENCH_CANDIDATE_BUILD = before
  })
  delete process.env.BENCH_CANDIDATE_BUILD
  t.equal(settingsFrom(['--only-pairs']).candidateBuild, undefined, 'unset: this build plays both sides')
  process.env.BENCH_CANDIDATE_BUILD = '/tmp/other/dist'
  t.equal(settingsFrom(['--only-pairs']).candidateBuild, '/tmp/other/dist')
})

test('the candidate server starts from the other build', async (t) => {
  const build = t.testdir()
  t.throws(() => serverMainOf(build), /BENCH_CANDIDATE_BUILD=.* holds no bench\/servers\/main\.js: give the dist\/ directory of a built checkout/)
  mkdirSync(join(build, 'bench', 'servers'), { recursive: true })
  // A stand-in server entry point, telling which build it is and what it was asked to serve.
  writeFileSync(join(build, 'bench', 'servers', 'main.js'), `
    const [name] = process.argv.slice(2)
    process.on('message', (m) => { if (m.type === 'stop') process.send({ type: 'stop', id: m.id }, () => process.exit(0)) })
    process.send({ type: 'ready', url: 'http://other-build.invalid/' + name, headers: {} })
  `)
  const main = serverMainOf(build)
  t.equal(main, join(build, 'bench', 'servers', 'main.js'))
  const server = await ServerChild.start('redis-plugin', {}, { main })
  t.teardown(() => server.stop())
  t.equal(server.url, 'http://other-build.invalid/redis-plugin', 'the child ran the other build\'s entry point, with the scenario asked for')
})
