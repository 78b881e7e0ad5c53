// app.miro.as() in a worker process (no request, no listening server) while web requests of
// another instance need the same user's expired token: the Redis lease lock is shared, so Miro
// sees one refresh in all, and every call of both processes succeeds with the rotated pair.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { expireStored, inProcessInstance, loginUsers, sandboxEndpoint, startWorld, tokenKeyOf } from './helpers/fault-harness'

const WORKER = join(__dirname, 'helpers', 'worker-child.ts')

interface Outcome { ok: boolean, names?: string[], code?: string }

t.test('a worker process using app.miro.as() and web requests refresh the same user once in all', async (t) => {
  const world = await startWorld(t)
  const web = await inProcessInstance(t, 'web', { miro: sandboxEndpoint(world.sandbox), redisUrl: world.redis.url })
  const [user] = await loginUsers(world, web, 1, 'worker')
  const child = spawn(process.execPath, [...process.execArgv, WORKER, JSON.stringify({ redisUrl: world.redis.url, miro: sandboxEndpoint(world.sandbox) })], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  })
  let out = ''
  const line = (prefix: string): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker: no ${prefix} within 30 s: ${stderr}`)), 30_000)
    const look = (): void => {
      const at = out.indexOf(prefix)
      const end = at === -1 ? -1 : out.indexOf('\n', at)
      if (end === -1) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      const found = out.slice(at + prefix.length, end)
      out = out.slice(end + 1)
      resolve(found)
    }
    const onData = (chunk: Buffer): void => { out += chunk.toString(); look() }
    child.stdout.on('data', onData)
    look()
  })
  await line('READY')

  t.same(await expireStored(world, [user!]), [], 'the stored token is expired')
  const before = await world.probe.get(tokenKeyOf(user!))
  // Miro takes its time with the refresh: both processes are waiting for it at once.
  world.sandbox.failTokenEndpoint({ delayMs: 400, times: 1 })
  const refreshesBefore = world.sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').length
  const done = line('DONE ')
  child.stdin.write(JSON.stringify({ user: user!.id, calls: 4 }) + '\n')
  const answers = await Promise.all(Array.from({ length: 4 }, () => web.send('/boards', user!.id)))
  const outcomes = JSON.parse(await done) as Outcome[]

  t.same(answers.map((a) => a.status), [200, 200, 200, 200], 'every web request succeeds')
  t.same(outcomes.map((o) => o.ok), [true, true, true, true], `every worker call succeeds: ${JSON.stringify(outcomes)}`)
  t.same(outcomes[0]!.names, JSON.parse(answers[0]!.body), 'the worker sees the same boards as the web')
  const refreshes = world.sandbox.tokenCalls.filter((c) => c.grantType === 'refresh_token').slice(refreshesBefore)
  t.equal(refreshes.length, 1, 'one refresh at Miro for both processes')
  t.ok(refreshes.every((c) => c.ok), 'and Miro accepted it')
  const after = await world.probe.get(tokenKeyOf(user!))
  t.not(after, before, 'the rotated pair is stored')
  t.equal(world.sandbox.refreshTokensOf(user!.miroUserId).length, 1, 'one live refresh token: the stored one')
})
