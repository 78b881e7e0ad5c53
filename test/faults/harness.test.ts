// The fault suite's own instruments, checked against known outcomes: the logged-out figure
// counts a deleted state and a stored refresh token Miro already rotated, and nobody else; the
// late-answer proxy holds an answer Miro has already given (the refresh token is rotated before
// the app hears of it); the black hole takes token calls and answers none.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  expireStored, inProcessInstance, loginUsers, sandboxEndpoint, startWorld, tokenKeyOf, usersLoggedOut, type World
} from '../helpers/fault-harness'
import { startBlackHole, startLateAnswerProxy } from '../helpers/fault-net'

async function refreshAtMiro (world: World, url: string, refreshToken: string): Promise<number> {
  const { sandbox } = world
  const res = await fetch(`${url}/v1/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: sandbox.clientId, client_secret: sandbox.clientSecret })
  })
  await res.arrayBuffer()
  return res.status
}

const storedRefreshToken = async (world: World, key: string): Promise<string> =>
  (JSON.parse(await world.probe.get(key) ?? '{}') as { refreshToken: string }).refreshToken

t.test('the logged-out figure', async (t) => {
  const world = await startWorld(t)
  const options = { miro: sandboxEndpoint(world.sandbox), redisUrl: world.redis.url }
  const app = await inProcessInstance(t, 'app', options)
  const [healthy, deleted, rotated] = await loginUsers(world, app, 3, 'check')
  await world.probe.del(tokenKeyOf(deleted!))
  // Someone used the stored refresh token behind the app's back: what a lost answer leaves behind.
  t.equal(await refreshAtMiro(world, world.sandbox.url, await storedRefreshToken(world, tokenKeyOf(rotated!))), 200)
  const fresh = await inProcessInstance(t, 'fresh', options)
  const loss = await usersLoggedOut(world, [healthy!, deleted!, rotated!], [app], fresh, 5000)
  t.same(loss.loggedOut, [deleted!.id, rotated!.id], 'the two lost users, and only them')
  t.same(loss.guarded, { [deleted!.id]: '401 FST_MIRO_NOT_AUTHORIZED' }, 'a deleted state fails the guarded request')
  t.match(loss.stored, { [deleted!.id]: 'state gone', [rotated!.id]: /^refresh from the stored state: 401/ }, 'a dead refresh token fails the refresh from the store')
})

t.test('the late-answer proxy holds an answer Miro has already given', async (t) => {
  const world = await startWorld(t)
  const proxy = await startLateAnswerProxy(world.sandbox.url)
  t.teardown(() => proxy.close())
  const app = await inProcessInstance(t, 'app', { miro: sandboxEndpoint(world.sandbox), redisUrl: world.redis.url })
  const [user] = await loginUsers(world, app, 1, 'late')
  await expireStored(world, [user!])
  const refreshToken = await storedRefreshToken(world, tokenKeyOf(user!))
  proxy.holdTokenAnswers({ ms: 500, times: 1 })
  const started = Date.now()
  const held = refreshAtMiro(world, proxy.url, refreshToken)
  await sleep(200)
  t.equal(proxy.answers.length, 0, 'the answer is still held')
  t.equal(await refreshAtMiro(world, world.sandbox.url, refreshToken), 400, 'yet Miro has already rotated the refresh token')
  t.equal(await held, 200, 'the held answer arrives')
  t.ok(Date.now() - started >= 500, 'late')
  t.equal(proxy.answers[0]?.miroUserId, user!.miroUserId, 'and is recorded with its user')
})

t.test('the black hole answers nothing', async (t) => {
  const hole = await startBlackHole()
  t.teardown(() => hole.close())
  const call = fetch(`${hole.url}/v1/oauth/token`, { method: 'POST', body: 'x=1', signal: AbortSignal.timeout(300) })
  await t.rejects(call, { name: 'TimeoutError' })
  t.equal(hole.tokenCalls, 1, 'one token call taken')
})
